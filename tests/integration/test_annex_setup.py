# -*- coding: utf-8 -*-
"""The annex setup (condor_annex -setup done safely) and htcondor_annex_check against moto.

One module-scoped setup in its own region: later tests read it, and the tests that break an item repair it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import uuid

import pytest
from conftest import REPO_ROOT, run, run_aws_tasks, write_calls
from ec2_plays import ec2_env, role_refusals, run_play, run_roles
from rig.tlsfront import serve_aws_names

REGION = "ca-central-1"  # no other test module uses it: the lifecycle test makes its own HTCondorAnnex-* stacks in eu-north-1 in the same moto
PREFIX = "ca_central_1"
CM_CIDR = "10.140.0.5/32"
SSH_CIDR = "11.22.33.44/32"
STACKS = ["HTCondorAnnex-ConfigurationBucket", "HTCondorAnnex-LambdaFunctions", "HTCondorAnnex-InstanceProfile",
          "HTCondorAnnex-SecurityGroup"]


def condor_home(root, moto):
    """A user's ~/.condor as cloudburst.aws.iam_restricted_user leaves it: the two key files, 0600."""
    condor = root / ".condor"
    condor.mkdir(mode=0o700, exist_ok=True)
    for name, value in (("publicKeyFile", moto.credentials["aws_access_key_id"]),
                        ("privateKeyFile", moto.credentials["aws_secret_access_key"])):
        path = condor / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    return condor


def setup_vars(condor, **extra):
    return dict({
        "htcondor_annex_setup_region": REGION,
        "htcondor_annex_setup_collector_host": "10.140.0.5",
        "htcondor_annex_setup_central_manager_cidrs": [CM_CIDR],
        "htcondor_annex_setup_ssh_allowlist": [SSH_CIDR],
        "htcondor_annex_setup_condor_dir": str(condor),
    }, **extra)


def run_setup(tmp_path, moto, condor, extra_args=(), region=REGION, **extra):
    extra.setdefault("htcondor_annex_setup_region", region)
    return run_roles(tmp_path, moto, [("htcondor_annex_setup", setup_vars(condor, **extra))], extra_args, region=region)


def run_check(tmp_path, moto, condor, region=REGION, **options):
    task = {"cloudburst.aws.htcondor_annex_check": dict(
        {"config_file": str(condor / "user_config"), "central_manager_cidrs": [CM_CIDR], "ssh_allowlist": [SSH_CIDR]},
        **options), "register": "checked"}
    result = run_play(tmp_path, moto, [task], region=region, name="check.yml")
    return result, result.parsed["plays"][0]["tasks"][0]["hosts"]["localhost"]


def by_name(check):
    return {item["name"]: item for item in check["items"]}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, moto_server):
    """The setup, run once; the first run's result is kept for the tests that look at it."""
    root = tmp_path_factory.mktemp("annex-home")
    condor = condor_home(root, moto_server)
    moto_server.reset_recording()
    first = run_setup(root, moto_server, condor)
    assert first.rc == 0, first.failure_messages() or first.output[-4000:]
    first.actions = moto_server.recorded_actions()
    return root, condor, first


@pytest.fixture
def clients(boto3_session, moto_server):
    return lambda service: boto3_session.client(service, endpoint_url=moto_server.url, region_name=REGION)


def test_setup_makes_the_four_stacks_and_a_second_run_changes_nothing(deployed, moto_server, clients):
    root, condor, first = deployed
    assert first.changed > 0
    assert "ec2:ImportKeyPair" in first.actions
    stacks = {s["StackName"]: s for s in clients("cloudformation").describe_stacks()["Stacks"]}
    assert all(stacks[name]["StackStatus"] == "CREATE_COMPLETE" for name in STACKS)

    moto_server.reset_recording()
    second = run_setup(root, moto_server, condor)
    assert second.rc == 0 and second.changed == 0, second.changed_tasks()
    assert write_calls(moto_server.recorded_actions()) == []

    moto_server.reset_recording()
    checked = run_setup(root, moto_server, condor, ["--check", "--diff"])
    assert checked.rc == 0 and checked.changed == 0, checked.changed_tasks()
    assert write_calls(moto_server.recorded_actions()) == []


def test_the_playbook_checks_the_setup_and_changes_nothing_more(deployed, moto_server):
    root, condor = deployed[:2]
    env = ec2_env(moto_server, {"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url, "AWS_REGION": REGION,
                                "CLOUDBURST_CREDENTIALS_HOME": str(root)})
    extra = {"htcondor_annex_setup_collector_host": "10.140.0.5", "htcondor_annex_setup_central_manager_cidrs": [CM_CIDR],
             "htcondor_annex_setup_ssh_allowlist": [SSH_CIDR]}
    moto_server.reset_recording()
    result = run(["ansible-playbook", os.path.join(REPO_ROOT, "playbooks", "annex_setup.yml"), "-e", json.dumps(extra)],
                 env=env)
    assert result.rc == 0, result.output[-4000:]
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0 ", result.stdout), result.stdout[-2000:]
    assert "Your setup looks OK." in result.stdout
    assert write_calls(moto_server.recorded_actions()) == []


def test_config_is_written_the_way_condor_annex_does(deployed, clients):
    condor = deployed[1]
    config = (condor / "user_config").read_text()
    settings = dict(line.split(" = ", 1) for line in config.splitlines() if " = " in line)
    outputs = {}
    for stack in clients("cloudformation").describe_stacks()["Stacks"]:
        outputs.update({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])})
    assert settings["ANNEX_DEFAULT_AWS_REGION"] == REGION
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_S3_BUCKET"] == outputs["BucketName"]
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS"] == outputs["SecurityGroupId"]
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN"] == outputs["OdiLeaseFunctionArn"]
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_SFR_LEASE_FUNCTION_ARN"] == outputs["SfrLeaseFunctionArn"]
    # condor_annex -count invokes it before it launches (without it, the stock launch stops at once).
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_CONNECTIVITY_FUNCTION_ARN"] == outputs["ConnectivityFunctionArn"]
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_ODI_INSTANCE_PROFILE_ARN"] == outputs["InstanceProfileArn"]
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_ODI_KEY_NAME"] == "HTCondorAnnex-KeyPair"
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_ACCESS_KEY_FILE"] == str(condor / "publicKeyFile")
    assert settings[f"{PREFIX}.ANNEX_DEFAULT_SECRET_KEY_FILE"] == str(condor / "privateKeyFile")
    assert settings["COLLECTOR_HOST"] == "10.140.0.5"
    assert settings["SEC_PASSWORD_FILE"] == str(condor / "pool_password")
    assert not any(line.startswith(REGION) for line in config.splitlines()), "hyphenated prefix"
    assert stat.S_IMODE(os.stat(condor / "pool_password").st_mode) == 0o600


def test_resources_behind_the_stacks(deployed, clients):
    condor = deployed[1]
    outputs = {}
    for stack in clients("cloudformation").describe_stacks()["Stacks"]:
        outputs.update({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])})
    s3 = clients("s3")
    block = s3.get_public_access_block(Bucket=outputs["BucketName"])["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert s3.get_bucket_versioning(Bucket=outputs["BucketName"])["Status"] == "Enabled"
    lam = clients("lambda")
    for arn in (outputs["OdiLeaseFunctionArn"], outputs["SfrLeaseFunctionArn"]):
        config = lam.get_function(FunctionName=arn)["Configuration"]
        assert config["Runtime"] == "python3.13" and config["Handler"] == "annex_lease.handler"
        assert config["Environment"]["Variables"]["ANNEX_BUCKET"] == outputs["BucketName"]
    group = clients("ec2").describe_security_groups(GroupIds=[outputs["SecurityGroupId"]])["SecurityGroups"][0]
    rules = sorted((r["FromPort"], c["CidrIp"]) for r in group["IpPermissions"] for c in r["IpRanges"])
    assert rules == [(22, SSH_CIDR), (9618, CM_CIDR)]
    connectivity = lam.get_function(FunctionName=outputs["ConnectivityFunctionArn"])["Configuration"]
    assert connectivity["Handler"] == "annex_connectivity.handler"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=outputs["BucketName"]).get("Contents", []))
    assert [k.rsplit("-", 1)[0] for k in keys] == ["annex-connectivity", "annex-lease"] and all(
        k.endswith(".zip") for k in keys)


def test_check_reports_every_item_ok(deployed, moto_server):
    root, condor = deployed[:2]
    moto_server.reset_recording()
    result, check = run_check(root, moto_server, condor)
    assert result.rc == 0 and check["ok"] is True, [i for i in check["items"] if i["status"] != "ok"]
    assert check["summary"] == "Your setup looks OK."
    # The stock condor_annex launches on the setup, but its nodes do not join: the check says what they lack.
    assert check["stock_annex_nodes"]["joins_pool"] is False
    assert "IDTOKENS" in check["stock_annex_nodes"]["summary"] and "condor-annex-ec2" in check["stock_annex_nodes"][
        "summary"]
    names = by_name(check)
    for name in STACKS:
        assert names[f"stack {name}"]["status"] == "ok"
    for name in ("bucket", "bucket public access block", "bucket encryption", "ODI lease function",
                 "SFR lease function", "connectivity function", "instance profile", "security group", "key pair",
                 "secret key file",
                 f"{PREFIX}.ANNEX_DEFAULT_S3_BUCKET", "COLLECTOR_HOST", "SEC_PASSWORD_FILE"):
        assert names[name]["status"] == "ok", names.get(name)
    assert write_calls(moto_server.recorded_actions()) == []


def test_check_names_a_missing_config_key_and_a_contradicting_one(deployed, moto_server):
    root, condor = deployed[:2]
    config = condor / "user_config"
    original = config.read_text()
    try:
        lines = [line for line in original.splitlines() if ".ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN" not in line]
        lines = [line.replace("ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS = sg-", "ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS = sg-0")
                 for line in lines]
        config.write_text("\n".join(lines + [f"{REGION}.ANNEX_DEFAULT_S3_BUCKET = typo"]) + "\n")
        result, check = run_check(root, moto_server, condor, fail_on_problem=True)
        assert result.rc != 0 and check["ok"] is False
        names = by_name(check)
        assert names[f"{PREFIX}.ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN"]["status"] == "missing"
        assert names["security group"]["status"] == "mismatch"
        assert names["config syntax"]["status"] == "problem"
        assert f"{PREFIX}.ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN (missing)" in check["msg"]
    finally:
        config.write_text(original)


def test_check_names_a_private_key_file_others_can_read(deployed, moto_server):
    root, condor = deployed[:2]
    (condor / "privateKeyFile").chmod(0o644)
    try:
        check = run_check(root, moto_server, condor)[1]
        assert by_name(check)["secret key file"]["status"] == "problem"
    finally:
        (condor / "privateKeyFile").chmod(0o600)


def test_check_names_a_deleted_stack_and_setup_repairs_it(deployed, moto_server, clients):
    root, condor = deployed[:2]
    clients("cloudformation").delete_stack(StackName="HTCondorAnnex-SecurityGroup")
    check = run_check(root, moto_server, condor)[1]
    names = by_name(check)
    assert check["ok"] is False
    assert names["stack HTCondorAnnex-SecurityGroup"]["status"] == "missing"
    assert names["security group"]["status"] == "missing"
    assert [i["name"] for i in check["items"] if i["status"] != "ok"] == [
        "stack HTCondorAnnex-SecurityGroup", "security group"]

    repaired = run_setup(root, moto_server, condor)
    assert repaired.rc == 0, repaired.failure_messages()
    check = run_check(root, moto_server, condor)[1]
    assert check["ok"] is True, [i for i in check["items"] if i["status"] != "ok"]


def test_check_names_a_group_opened_to_the_world(deployed, moto_server, clients):
    root, condor = deployed[:2]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in clients("cloudformation").describe_stacks(
        StackName="HTCondorAnnex-SecurityGroup")["Stacks"][0]["Outputs"]}
    ec2 = clients("ec2")
    world = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.authorize_security_group_ingress(GroupId=outputs["SecurityGroupId"], IpPermissions=world)
    try:
        check = run_check(root, moto_server, condor)[1]
        item = by_name(check)["security group"]
        assert item["status"] == "problem" and "whole internet" in item["detail"]
    finally:
        ec2.revoke_security_group_ingress(GroupId=outputs["SecurityGroupId"], IpPermissions=world)


def test_check_mode_on_a_fresh_account_writes_nothing(tmp_path, moto_server):
    condor = condor_home(tmp_path, moto_server)
    moto_server.reset_recording()
    result = run_setup(tmp_path, moto_server, condor, ["--check", "--diff"], region="eu-south-1")
    assert result.rc == 0, result.failure_messages()
    assert result.changed > 0
    assert write_calls(moto_server.recorded_actions()) == []
    assert sorted(p.name for p in condor.iterdir()) == ["privateKeyFile", "publicKeyFile"]


def test_check_names_a_lease_role_that_may_terminate_any_instance(deployed, moto_server, clients):
    root, condor = deployed[:2]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in clients("cloudformation").describe_stacks(
        StackName="HTCondorAnnex-LambdaFunctions")["Stacks"][0]["Outputs"]}
    iam, role = clients("iam"), outputs["LeaseRoleArn"].rsplit("/", 1)[-1]
    wide = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*"}]}
    iam.put_role_policy(RoleName=role, PolicyName="too-wide", PolicyDocument=json.dumps(wide))
    try:
        check = run_check(root, moto_server, condor)[1]
        item = by_name(check)["ODI lease function"]
        assert item["status"] == "problem" and "end instances of any kind" in item["detail"]
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="too-wide")


BAD_INPUT = [
    ({"htcondor_annex_setup_ssh_allowlist": ["0.0.0.0/0"]}, "Refusing 0.0.0.0/0"),
    ({"htcondor_annex_setup_central_manager_cidrs": ["::/0"]}, "Refusing ::/0"),
    ({"htcondor_annex_setup_ssh_allowlist": ["0.0.0.0/1", "128.0.0.0/1"]}, "allowlist_cidrs"),
    ({"htcondor_annex_setup_region": "us-moon-1"}, "Unknown AWS region 'us-moon-1'"),
    ({"htcondor_annex_setup_region": "us_east_1"}, "needs an AWS region like us-east-1"),
    ({"htcondor_annex_setup_central_manager_cidrs": []}, "htcondor_annex_setup_central_manager_cidrs is empty"),
    ({"htcondor_annex_setup_lambda_runtime": "python3.9"}, "python3.9"),
    # condor reads these raw: a line break starts a line such as `include : cmd |`, '$' a macro.
    ({"htcondor_annex_setup_collector_host": "10.140.0.5\ninclude : /usr/bin/id |"},
     "htcondor_annex_setup_collector_host \"10.140.0.5\\ninclude : /usr/bin/id |\" holds a line break"),
    ({"htcondor_annex_setup_password_file": "/tmp/$(ENV_HOME)/pool_password"},
     "htcondor_annex_setup_password_file \"/tmp/$(ENV_HOME)/pool_password\" holds '$'"),
]


def test_bad_input_is_refused_clearly_with_zero_write_calls(tmp_path, moto_server):
    """Every case a host of one run (ec2_plays.role_refusals) with a condor dir of its own: each is refused with its
    message, none writes to AWS, and no condor dir gets a user_config."""
    homes = [tmp_path / f"case{n}" for n in range(len(BAD_INPUT))]
    cases = []
    for home, (override, _message) in zip(homes, BAD_INPUT):
        home.mkdir()
        condor = condor_home(home, moto_server)
        cases.append(setup_vars(condor, **dict({"htcondor_annex_setup_region": REGION}, **override)))
    moto_server.reset_recording()
    refusals = role_refusals(tmp_path, moto_server, "htcondor_annex_setup", cases, region=REGION)
    for (override, message), refusal in zip(BAD_INPUT, refusals):
        assert message in refusal, (override, refusal)
    assert write_calls(moto_server.recorded_actions()) == []
    for home in homes:
        assert not (home / ".condor" / "user_config").exists()


RENAME_REGION = "ap-south-1"  # its own region: the test puts the stacks back to the names they had before


def old_names(template_text):
    """The setup's template as it was before the setup named its roles and functions AnnexSetup-*: no RoleName
    (CloudFormation names each role after its stack, HTCondorAnnex-...), functions named after the stack, and no
    connectivity check (its parameter, resources and output came later)."""
    text = re.sub(r"(?m)^  Connectivity\w+:\n(?:    .*\n)+", "", template_text)
    text = re.sub(r"\n      # [^\n]*(\n      # [^\n]*)*\n      RoleName: [^\n]*", "", text)
    text = re.sub(r"\n      # [^\n]*\n      FunctionName: AnnexSetup-(\w+)-lease",
                  r'\n      FunctionName: {"Fn::Sub": "${AWS::StackName}-\1-lease"}', text)
    text = text.replace("FunctionName: AnnexSetup-sfr-lease",
                        'FunctionName: {"Fn::Sub": "${AWS::StackName}-sfr-lease"}')
    text = text.replace("/aws/lambda/AnnexSetup-", "/aws/lambda/HTCondorAnnex-LambdaFunctions-")
    assert "AnnexSetup-" not in text, text
    return text


def test_a_rerun_moves_an_earlier_setup_to_names_outside_the_launch_prefixes(tmp_path, moto_server, boto3_session):
    """An account set up before the rename has HTCondorAnnex-LambdaFunctions-odi-lease and roles named after the
    stacks, all inside the launch policy's default prefix HTCondorAnnex-: a re-run of the setup moves them to the
    AnnexSetup-* names, points an earlier annex's lease rule at the new function and rewrites condor_annex's
    settings."""
    def client(service):
        return boto3_session.client(service, endpoint_url=moto_server.url, region_name=RENAME_REGION)

    condor = condor_home(tmp_path, moto_server)
    first = run_setup(tmp_path, moto_server, condor, region=RENAME_REGION)
    assert first.rc == 0, first.failure_messages() or first.output[-4000:]
    cfn, lam, iam, events = client("cloudformation"), client("lambda"), client("iam"), client("events")
    # The earlier setup's stacks: the same templates without the AnnexSetup-* names, made by the setup (tagged).
    files = os.path.join(REPO_ROOT, "roles", "htcondor_annex_setup", "files")
    for stack, filename in (("HTCondorAnnex-LambdaFunctions", "lambda-functions.yaml"),
                            ("HTCondorAnnex-InstanceProfile", "instance-profile.yaml")):
        current = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        cfn.delete_stack(StackName=stack)
        with open(os.path.join(files, filename)) as stream:
            old = old_names(stream.read())
            cfn.create_stack(StackName=stack, TemplateBody=old, Capabilities=["CAPABILITY_IAM"],
                             Parameters=[p for p in current.get("Parameters", []) if p["ParameterKey"] in old],
                             Tags=current["Tags"])
    outputs = {o["OutputKey"]: o["OutputValue"] for s in cfn.describe_stacks()["Stacks"] for o in s.get("Outputs", [])}
    earlier = outputs["OdiLeaseFunctionArn"]
    assert earlier.endswith(":function:HTCondorAnnex-LambdaFunctions-odi-lease")
    assert outputs["RoleArn"].split("/")[-1].startswith("HTCondorAnnex-InstanceProfile-")
    # An annex launched before: its lease rule targets the earlier function, with its own input.
    events.put_rule(Name="HTCondorAnnex-early-lease", ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule="HTCondorAnnex-early-lease", Targets=[
        {"Id": "annex-lease", "Arn": earlier, "Input": json.dumps({"annex_name": "early"})}])

    moved = run_setup(tmp_path, moto_server, condor, region=RENAME_REGION)
    assert moved.rc == 0 and moved.changed > 0, moved.failure_messages() or moved.output[-4000:]
    outputs = {o["OutputKey"]: o["OutputValue"] for s in cfn.describe_stacks()["Stacks"] for o in s.get("Outputs", [])}
    assert outputs["OdiLeaseFunctionArn"].endswith(":function:AnnexSetup-odi-lease")
    assert outputs["SfrLeaseFunctionArn"].endswith(":function:AnnexSetup-sfr-lease")
    assert outputs["LeaseRoleArn"].endswith(f":role/AnnexSetup-lease-{RENAME_REGION}")
    assert outputs["RoleArn"].endswith(f":role/AnnexSetup-instance-{RENAME_REGION}")
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert {"AnnexSetup-odi-lease", "AnnexSetup-sfr-lease"} <= names
    assert not {n for n in names if n.startswith("HTCondorAnnex-")}, names
    assert "function:AnnexSetup-odi-lease" in (condor / "user_config").read_text()
    (target,) = events.list_targets_by_rule(Rule="HTCondorAnnex-early-lease")["Targets"]
    assert (target["Id"], target["Arn"], json.loads(target["Input"])) == (
        "annex-lease", outputs["OdiLeaseFunctionArn"], {"annex_name": "early"})
    profile = outputs["InstanceProfileArn"].rsplit("/", 1)[-1]
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]] \
        == [f"AnnexSetup-instance-{RENAME_REGION}"]

    moto_server.reset_recording()
    again = run_setup(tmp_path, moto_server, condor, region=RENAME_REGION)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    assert write_calls(moto_server.recorded_actions()) == []


def test_s3_lambda_package_trusts_an_object_at_its_key_only_with_its_content(tmp_path, moto_server, boto3_session):
    from ansible_collections.cloudburst.aws.plugins.module_utils.lambda_package import deterministic_zip, package_key

    s3 = boto3_session.client("s3", endpoint_url=moto_server.url)
    bucket = f"cb-lambda-package-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    src = tmp_path / "lease_code.py"
    src.write_text("def handler(event, context):\n    return event\n")
    data = deterministic_zip(src.read_text(), src.name)
    key = package_key("", src.name, data)
    task = {"cloudburst.aws.s3_lambda_package": {"src": str(src), "bucket": bucket}, "ignore_errors": True}

    # Someone who may write to the bucket plants code under the package's content-named key first: same size
    # (read and hashed) or not (refused on its size alone). The function would have been deployed from it.
    for planted in (bytes(len(data)), b"import os; os.system('...')"):
        s3.put_object(Bucket=bucket, Key=key, Body=planted)
        moto_server.reset_recording()
        refused, checked = run_aws_tasks(tmp_path, moto_server, [task, dict(task, check_mode=True)])
        for result in (refused, checked):
            assert result["failed"] and "someone else wrote it" in result["msg"] and key in result["msg"], result
        assert write_calls(moto_server.recorded_actions()) == []
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == planted

    s3.delete_object(Bucket=bucket, Key=key)
    stored, again = run_aws_tasks(tmp_path, moto_server, [task, task])
    assert stored["changed"] and not again["changed"] and not again.get("failed"), (stored, again)
    assert again["version_id"] == stored["version_id"] and stored["key"] == key
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


# ------------------------------------------------------------------------------------------------------------
# Stacks of the same names that stock condor_annex -setup made, in a region of their own: refused before any write,
# or replaced on request.

FOREIGN_REGION = "ap-northeast-2"  # no other test uses it


def stock_stand_ins(cfn, ec2):
    """What stock condor_annex -setup leaves: untagged HTCondorAnnex-* stacks, here a security group open to the whole
    internet on 22 and 9618 and a lease function on a runtime AWS retired."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    world = [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIp": "0.0.0.0/0"} for port in (22, 9618)]
    group = {"Resources": {"SecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "HTCondor annex (stock)", "VpcId": vpc, "SecurityGroupIngress": world}}},
        "Outputs": {"SecurityGroupID": {"Value": {"Fn::GetAtt": ["SecurityGroup", "GroupId"]}}}}
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "lambda.amazonaws.com"}}]}
    functions = {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": assume}},
        "odiLeaseFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python2.7", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(event, context):\n    return None\n"}}}}}
    cfn.create_stack(StackName="HTCondorAnnex-SecurityGroup", TemplateBody=json.dumps(group))
    cfn.create_stack(StackName="HTCondorAnnex-LambdaFunctions", TemplateBody=json.dumps(functions),
                     Capabilities=["CAPABILITY_IAM"])
    return {s["StackName"]: s for s in cfn.describe_stacks()["Stacks"]}


def test_stacks_stock_condor_annex_made_are_refused_then_replaced_on_request(tmp_path, moto_server, boto3_session):
    def client(service):
        return boto3_session.client(service, endpoint_url=moto_server.url, region_name=FOREIGN_REGION)

    cfn, ec2 = client("cloudformation"), client("ec2")
    stock = stock_stand_ins(cfn, ec2)
    stock_group = next(o["OutputValue"] for o in stock["HTCondorAnnex-SecurityGroup"]["Outputs"])
    condor = condor_home(tmp_path, moto_server)

    moto_server.reset_recording()
    refused = run_setup(tmp_path, moto_server, condor, region=FOREIGN_REGION)
    assert refused.rc != 0
    message = " ".join(" ".join(refused.failure_messages()).split())
    assert "HTCondorAnnex-LambdaFunctions (CREATE_COMPLETE, no tags); HTCondorAnnex-SecurityGroup (CREATE_COMPLETE, " \
           "no tags)" in message, message
    assert "were not made by cloudburst.aws.htcondor_annex_setup" in message
    assert "Set htcondor_annex_setup_replace_foreign_stacks to true" in message and "Nothing was changed." in message
    assert write_calls(moto_server.recorded_actions()) == []
    assert {s["StackName"]: s["StackId"] for s in cfn.describe_stacks()["Stacks"]} == {
        name: stack["StackId"] for name, stack in stock.items()}
    assert not (condor / "user_config").exists()

    replaced = run_setup(tmp_path, moto_server, condor, region=FOREIGN_REGION,
                         htcondor_annex_setup_replace_foreign_stacks=True)
    assert replaced.rc == 0, replaced.failure_messages() or replaced.output[-4000:]
    said = [task for p in replaced.parsed["plays"] for task in p["tasks"]
            if task["task"]["name"].endswith("Say which stacks will be replaced")]
    assert said[0]["hosts"]["localhost"]["msg"] == ("Replacing HTCondorAnnex-LambdaFunctions, HTCondorAnnex-SecurityGroup,"
                                                    " which this role did not make.")
    stacks = {s["StackName"]: s for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"}
    assert sorted(stacks) == sorted(STACKS) and all(s["StackStatus"] == "CREATE_COMPLETE" for s in stacks.values())
    for name in ("HTCondorAnnex-SecurityGroup", "HTCondorAnnex-LambdaFunctions"):
        assert stacks[name]["StackId"] != stock[name]["StackId"]
        assert {t["Key"]: t["Value"] for t in stacks[name]["Tags"]}["cloudburst:made-by"] == \
            "cloudburst.aws.htcondor_annex_setup"
    ours = next(o["OutputValue"] for o in stacks["HTCondorAnnex-SecurityGroup"]["Outputs"] if o["OutputKey"] == "SecurityGroupId")
    assert ours != stock_group
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [stock_group]}])["SecurityGroups"]
    # The role ends with the check (failing on any problem): it found every item OK, the replaced stacks too.
    (check,) = [task["hosts"]["localhost"] for p in replaced.parsed["plays"] for task in p["tasks"]
                if task["task"]["name"].endswith("Check the setup as condor_annex -check-setup would, and the resources "
                                                 "behind it")]
    assert check["ok"] is True and check["foreign_stacks"] == [], [i for i in check["items"] if i["status"] != "ok"]
    assert check["summary"] == "Your setup looks OK."

    moto_server.reset_recording()
    again = run_setup(tmp_path, moto_server, condor, region=FOREIGN_REGION)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    assert write_calls(moto_server.recorded_actions()) == []


# ------------------------------------------------------------------------------------------------------------
# The stock condor_annex -check-setup (Debian trixie's condor 23.9.6) against this setup on moto. condor_annex
# ignores endpoint settings once a region is set and calls https://cloudformation.<region>.amazonaws.com with
# SigV4, so the container maps those names (its /etc/hosts) to a TLS front on this machine's side of the test
# network, which forwards to moto; the front's CA is made here and trusted only inside the container.

STOCK_NETWORK_CIDR = "10.141.0.0/24"
STOCK_GATEWAY = "10.141.0.1"
STOCK_CONTAINER = "cloudburst-annex-check-stock"
STOCK_NAMES = [f"cloudformation.{REGION}.amazonaws.com", f"ec2.{REGION}.amazonaws.com"]


def _podman(*argv, check=True, timeout=900):
    import subprocess

    return subprocess.run(["podman", *argv], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def stock_condor():
    """A trixie container with Debian's condor (23.9.6) on the test network; removed afterwards."""
    import shutil

    if not shutil.which("podman") or _podman("image", "exists", "localhost/cloudburst-trixie", check=False).returncode:
        pytest.skip("podman and the localhost/cloudburst-trixie image are needed")
    network = "cloudburst-" + STOCK_NETWORK_CIDR.replace("/", "-")
    if _podman("network", "exists", network, check=False).returncode:
        _podman("network", "create", "--subnet", STOCK_NETWORK_CIDR, "--gateway", STOCK_GATEWAY, network)
    _podman("rm", "-f", STOCK_CONTAINER, check=False)
    _podman("run", "-d", "--name", STOCK_CONTAINER, "--network", network, "localhost/cloudburst-trixie",
            "sleep", "infinity")
    try:
        _podman("exec", STOCK_CONTAINER, "sh", "-c",
                "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                "condor ca-certificates && useradd -m alice", timeout=1200)
        yield STOCK_CONTAINER
    finally:
        _podman("rm", "-f", STOCK_CONTAINER, check=False)


# The issue's own bar: the stock tool accepts the account. It installs Debian's condor into a plain container
# (a couple of minutes, mostly the package download) and serves moto over TLS on that network's gateway.
def test_stock_condor_annex_check_setup_says_ok(deployed, moto_server, stock_condor, tmp_path):
    condor = deployed[1]
    front = serve_aws_names(stock_condor, STOCK_NAMES, STOCK_GATEWAY, moto_server.port, str(tmp_path))
    try:
        home = "/home/alice/.condor"
        config = (condor / "user_config").read_text().replace(str(condor), home)
        config = config.replace("COLLECTOR_HOST = 10.140.0.5", "COLLECTOR_HOST = 127.0.0.1")
        files = {"user_config": config, "publicKeyFile": (condor / "publicKeyFile").read_text(),
                 "privateKeyFile": (condor / "privateKeyFile").read_text(), "pool_password": ""}
        for name, text in files.items():
            (tmp_path / name).write_text(text)
        _podman("exec", stock_condor, "mkdir", "-p", home)
        for name in files:
            _podman("cp", str(tmp_path / name), f"{stock_condor}:{home}/{name}")
        _podman("exec", stock_condor, "sh", "-c", f"chown -R alice: {home} && chmod 700 {home} && chmod 600 {home}/*")
        answer = _podman("exec", "--user", "alice", "--workdir", "/home/alice", stock_condor,
                         "condor_annex", "-check-setup", check=False, timeout=300)
        output = answer.stdout + answer.stderr
        assert "Your setup looks OK." in output, output[-3000:]
    finally:
        front.stop()


def test_the_setup_region_is_the_region_of_every_call_the_key_pair_too(tmp_path, moto_server, boto3_session):
    """htcondor_annex_setup_region decides where everything lands, whatever region the play's module_defaults give:
    the key pair used to follow module_defaults (the EC2 layer's role) while the stacks followed the role's region."""
    play_region, setup_region = "eu-west-3", "ap-southeast-3"  # regions no other test uses
    condor = condor_home(tmp_path, moto_server)
    result = run_setup(tmp_path, moto_server, condor, region=play_region, htcondor_annex_setup_region=setup_region)
    assert result.rc == 0, result.failure_messages() or result.output[-4000:]

    def client(service, region):
        return boto3_session.client(service, endpoint_url=moto_server.url, region_name=region)

    keys = {region: [k["KeyName"] for k in client("ec2", region).describe_key_pairs()["KeyPairs"]]
            for region in (play_region, setup_region)}
    assert "HTCondorAnnex-KeyPair" in keys[setup_region] and "HTCondorAnnex-KeyPair" not in keys[play_region]
    stacks = {region: [s["StackName"] for s in client("cloudformation", region).describe_stacks()["Stacks"]]
              for region in (play_region, setup_region)}
    assert len(stacks[setup_region]) == 4 and stacks[play_region] == []
    assert f"{setup_region.replace('-', '_')}.ANNEX_DEFAULT_S3_BUCKET" in (condor / "user_config").read_text()
