# -*- coding: utf-8 -*-
"""playbooks/annex_launch.yml refuses bad input with a clear message, before any AWS write call: an annex name
of 28 characters, count 0, lease 0, idle -1, spot price "low", a setup missing in the region, an unknown
region. Against the moto server; no host is needed, since the launch stops on the controller.

Annex names and clusters: annexes whose names differ only in '.' against '_' keep apart, and annexes launched
when both shared one cluster are found and never launched or terminated into each other (the htcondor_annex role
against moto, with a stand-in setup: nothing there needs a host either)."""

from __future__ import annotations

import json
import uuid

import pytest
from ec2_plays import ec2_client, ec2_env, ec2_writes, run_roles

from conftest import run

# No setup (HTCondorAnnex-* stacks) is ever made in this region by any test (test_annex_setup.py renames stacks in
# ap-south-1, so a serial run that reached this file after it found a setup there).
EMPTY_REGION = "ap-northeast-3"


def launch(moto, region, **extra):
    env = ec2_env(moto, {"CLOUDBURST_AWS_ENDPOINT_URL": moto.url})
    variables = dict({"cloudburst_aws_region": region, "htcondor_annex_name": "h4-input", "htcondor_annex_count": 1},
                     **extra)
    return run(["ansible-playbook", "playbooks/annex_launch.yml", "-e", json.dumps(variables)], env=env)


@pytest.mark.parametrize("extra,message", [
    ({"htcondor_annex_name": "a" * 28}, "must be 1 to 27 characters (condor_annex's limit; this one has 28)"),
    ({"htcondor_annex_name": "h4-input\n"}, "line break"),
    ({"htcondor_annex_cluster_prefix": "annex x-"}, "htcondor_annex_cluster (htcondor_annex_cluster_prefix"),
    ({"htcondor_annex_count": 0}, "htcondor_annex_count must be a whole number of at least 1 (got 0)"),
    ({"htcondor_annex_lease_seconds": 0}, "htcondor_annex_lease_seconds must be a positive whole number of seconds (got 0)"),
    ({"htcondor_annex_idle_seconds": -1}, "htcondor_annex_idle_seconds must be a positive whole number of seconds (got -1)"),
    ({"htcondor_annex_market": "spot", "htcondor_annex_spot_max_price": "low"},
     'htcondor_annex_spot_max_price "low" is not a price in USD per hour'),
    ({}, "The annex setup is missing in ap-northeast-3: stack HTCondorAnnex-ConfigurationBucket does not exist"),
    ({"cloudburst_aws_region": "xx-nowhere-9"}, "htcondor_annex_region xx-nowhere-9 is not a region this account can use"),
    # The role's former Jinja copy of the region rule ended in "$", which matches before a final line break.
    ({"cloudburst_aws_region": "us-east-1\n"}, 'htcondor_annex_region "us-east-1\\n" is not an AWS region name'),
])
def test_bad_input_is_refused_and_nothing_changes(moto_server, extra, message):
    moto_server.reset_recording()
    result = launch(moto_server, extra.pop("cloudburst_aws_region", EMPTY_REGION), **extra)
    assert result.rc != 0, result.output[-3000:]
    flat = " ".join(result.output.split())
    assert message in flat, result.output[-3000:]
    assert "nothing was changed" in flat
    assert "Traceback" not in result.output
    assert ec2_writes(moto_server.recorded_actions()) == []


# No other test makes an annex setup or instances in this region.
NAMING_REGION = "sa-east-1"
LEASE_END = "2099-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def naming_setup(moto_server):
    """What the htcondor_annex role reads from the annex setup, made directly: the four stacks' outputs naming a
    bucket, a lease function, an instance profile and a security group (the setup role itself is tested in
    test_annex_setup.py), the setup's key pair and an image."""
    import boto3

    def client(service):
        return boto3.client(service, endpoint_url=moto_server.url, region_name=NAMING_REGION,
                            aws_access_key_id=moto_server.credentials["aws_access_key_id"],
                            aws_secret_access_key=moto_server.credentials["aws_secret_access_key"])

    ec2, suffix = ec2_client(moto_server, NAMING_REGION), uuid.uuid4().hex[:8]
    bucket = f"cloudburst-annex-naming-{suffix}"
    client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": NAMING_REGION})
    profile = client("iam").create_instance_profile(InstanceProfileName=f"annex-naming-{suffix}")["InstanceProfile"]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName=f"annex-naming-{suffix}", Description="annex naming", VpcId=vpc)
    ec2.create_key_pair(KeyName="HTCondorAnnex-KeyPair")
    image = ec2.register_image(Name="debian-13-amd64-annex-naming", RootDeviceName="/dev/xvda",
                               Architecture="x86_64")["ImageId"]
    outputs = {"HTCondorAnnex-ConfigurationBucket": {"BucketName": bucket},
               "HTCondorAnnex-LambdaFunctions": {
                   "OdiLeaseFunctionArn": f"arn:aws:lambda:{NAMING_REGION}:123456789012:function:annex-lease"},
               "HTCondorAnnex-InstanceProfile": {"InstanceProfileArn": profile["Arn"]},
               "HTCondorAnnex-SecurityGroup": {"SecurityGroupId": group["GroupId"]}}
    for stack, values in outputs.items():
        template = {"Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                    "Outputs": {key: {"Value": value} for key, value in values.items()}}
        client("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(template))
    return {"ec2": ec2, "image": image}


def annex(tmp_path, moto, setup, name, state="present", **extra):
    """One run of the htcondor_annex role, as annex_launch.yml and annex_terminate.yml run it, without the nodes."""
    role_vars = dict({"htcondor_annex_name": name, "htcondor_annex_state": state,
                      "htcondor_annex_region": NAMING_REGION, "htcondor_annex_ami": setup["image"],
                      "htcondor_annex_wait_for_ssh": False,
                      "htcondor_annex_key_path": str(tmp_path / "annex_ed25519")}, **extra)
    return run_roles(tmp_path, moto, [("htcondor_annex", role_vars)], region=NAMING_REGION)


def live(ec2, **tags):
    flt = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
    flt.append({"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]})
    return sorted(i["InstanceId"] for r in ec2.describe_instances(Filters=flt)["Reservations"] for i in r["Instances"])


def plant(ec2, image, name, cluster, count=1):
    """Instances of an annex as cloudburst.aws launched them before 1.0.0 (the cluster: name with '.' as '_')."""
    tags = {"htcondor:AnnexName": name, "cloudburst:cluster": cluster, "cloudburst:role": "annex",
            "managed-by": "cloudburst.aws", "cloudburst:lease-end": LEASE_END}
    answer = ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro",
                               TagSpecifications=[{"ResourceType": "instance",
                                                   "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return sorted(i["InstanceId"] for i in answer["Instances"])


def test_annexes_whose_names_differ_in_dot_and_underscore_keep_their_own_instances(tmp_path, moto_server,
                                                                                   naming_setup):
    ec2 = naming_setup["ec2"]
    dotted = annex(tmp_path, moto_server, naming_setup, "h4.pair", htcondor_annex_count=2)
    assert dotted.rc == 0, dotted.failure_messages() or dotted.output[-3000:]
    underscored = annex(tmp_path, moto_server, naming_setup, "h4_pair", htcondor_annex_count=1)
    assert underscored.rc == 0, underscored.failure_messages() or underscored.output[-3000:]
    pair = live(ec2, **{"htcondor:AnnexName": "h4.pair"})
    assert len(pair) == 2 and len(live(ec2, **{"htcondor:AnnexName": "h4_pair"})) == 1
    assert live(ec2, **{"cloudburst:cluster": "annex-_h4_dpair"}) == pair
    # A name without '.' keeps the cluster it always had.
    assert live(ec2, **{"cloudburst:cluster": "annex-h4_pair"}) == live(ec2, **{"htcondor:AnnexName": "h4_pair"})
    # A re-run finds the annex's instances by their name tag and keeps their lease end.
    again = annex(tmp_path, moto_server, naming_setup, "h4_pair", htcondor_annex_lease_seconds=7200)
    assert again.rc == 0 and again.fact("htcondor_annex_lease_end") == underscored.fact("htcondor_annex_lease_end")

    ended = annex(tmp_path, moto_server, naming_setup, "h4_pair", "absent")
    assert ended.rc == 0, ended.failure_messages()
    assert live(ec2, **{"htcondor:AnnexName": "h4_pair"}) == []
    assert live(ec2, **{"htcondor:AnnexName": "h4.pair"}) == pair, "terminating h4_pair reached h4.pair"
    assert annex(tmp_path, moto_server, naming_setup, "h4.pair", "absent").rc == 0
    assert live(ec2, **{"htcondor:AnnexName": "h4.pair"}) == []


def test_an_annex_in_its_cluster_of_before_is_never_launched_or_terminated_into(tmp_path, moto_server, naming_setup):
    ec2, image = naming_setup["ec2"], naming_setup["image"]
    old = plant(ec2, image, "h4.old", "annex-h4_old", count=2)

    for name, message in (("h4_old", 'also holds live instances of "h4.old"'),
                          ("h4.old", "has live instances in cluster annex-h4_old, its cluster before")):
        moto_server.reset_recording()
        refused = annex(tmp_path, moto_server, naming_setup, name)
        assert refused.rc != 0
        flat = " ".join(" ".join(refused.failure_messages()).split())
        assert message in flat and "nothing was changed" in flat, flat
        assert ec2_writes(moto_server.recorded_actions()) == []
    assert live(ec2, **{"htcondor:AnnexName": "h4.old"}) == old

    # Terminating it reaches its instances in the old cluster, and only those, once they are adopted by id: like
    # every cluster launched before launch records, the old one fails closed first and names them.
    unadopted = annex(tmp_path, moto_server, naming_setup, "h4.old", "absent")
    assert unadopted.rc != 0
    flat = " ".join(" ".join(unadopted.failure_messages()).split())
    assert all(instance in flat for instance in old) and "adopt_instance_ids" in flat, flat
    assert live(ec2, **{"htcondor:AnnexName": "h4.old"}) == old
    ended = annex(tmp_path, moto_server, naming_setup, "h4.old", "absent", htcondor_annex_adopt_instance_ids=old)
    assert ended.rc == 0, ended.failure_messages()
    assert live(ec2, **{"htcondor:AnnexName": "h4.old"}) == []


def test_an_old_cluster_two_annexes_share_is_never_terminated_whole(tmp_path, moto_server, naming_setup):
    ec2, image = naming_setup["ec2"], naming_setup["image"]
    dotted = plant(ec2, image, "h4.mix", "annex-h4_mix")
    underscored = plant(ec2, image, "h4_mix", "annex-h4_mix")
    for name, message in (("h4.mix", f"which also holds instances of other annexes ({underscored[0]})"),
                          ("h4_mix", f'also holds live instances of "h4.mix" ({dotted[0]})')):
        moto_server.reset_recording()
        refused = annex(tmp_path, moto_server, naming_setup, name, "absent")
        assert refused.rc != 0
        flat = " ".join(" ".join(refused.failure_messages()).split())
        assert message in flat and "nothing was changed" in flat, flat
        assert ec2_writes(moto_server.recorded_actions()) == []
    assert live(ec2, **{"cloudburst:cluster": "annex-h4_mix"}) == sorted(dotted + underscored)
    ec2.terminate_instances(InstanceIds=dotted + underscored)
