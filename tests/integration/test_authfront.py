# -*- coding: utf-8 -*-
"""The authorizing front (tests/rig/authfront.py): the rig says no where IAM would.

- Each service answers a denial in its own format, naming the principal, the action, the resource and why; the key
  that AWS does not know or that is inactive is refused as AWS refuses it; sts:GetCallerIdentity needs no permission.
- RunInstances is authorized resource by resource: a policy that leaves out the subnet is refused on the subnet's
  ARN; tag-on-create adds ec2:CreateTags with ec2:CreateAction; the instance profile's role is passed to EC2 only.
- Policies are read again after an IAM write; sessions from GetSessionToken carry MFA (aws:MultiFactorAuthPresent).
- An operation the map does not know is refused for a restricted key, and passes for the administrator.
- A launch from outside the restricted user's allow-list (issue item 4): every call is refused, nothing is made,
  and the collection says the request came from outside the restriction, and from which address.
- The front's decisions agree with principalmapper's local policy simulation on random policies, made through real
  requests, and with the outcomes AWS documents for its evaluation examples.
"""

from __future__ import annotations

import collections
import collections.abc
import json
import random
import time

from rig import authfront
import boto3
import pytest
from rig.authfront_map import Authorization
from botocore.exceptions import ClientError
from ec2_plays import ec2_env, role_tasks, run_play, tagged

import rig
from conftest import ansible_env, run, write_calls

from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import build_launch_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.mfa_policy import build_require_mfa_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy

REGION = rig.DEFAULT_REGION
INSIDE = rig.DEFAULT_CHECKIP_ANSWER
OUTSIDE = "11.22.33.99"
ACCOUNT = "123456789012"


def admin_client(moto_server, service, region=REGION):
    return boto3.client(service, endpoint_url=moto_server.url, region_name=region, **moto_server.credentials)


def key_client(moto_server, key, service, region=REGION, token=None):
    return boto3.client(service, endpoint_url=moto_server.url, region_name=region, aws_session_token=token,
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


def make_user(moto_server, name, policies=(), inline=None, boundary=None):
    """A user with managed policies (documents), inline policies {name: document} and a boundary; its key."""
    iam = admin_client(moto_server, "iam")
    iam.create_user(UserName=name, Path="/front/")
    for index, document in enumerate(policies):
        arn = iam.create_policy(PolicyName=f"{name}-{index}", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    for policy, document in (inline or {}).items():
        iam.put_user_policy(UserName=name, PolicyName=policy, PolicyDocument=json.dumps(document))
    if boundary:
        arn = iam.create_policy(PolicyName=f"{name}-boundary", PolicyDocument=json.dumps(boundary))["Policy"]["Arn"]
        iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=arn)
    return iam.create_access_key(UserName=name)["AccessKey"]


def restriction(cidr=f"{INSIDE}/32"):
    return build_source_ip_policy([cidr])[0]


def allow(actions, resources="*", condition=None):
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def refused(call, *args, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response


@pytest.fixture(scope="module")
def launcher(moto_server):
    """A user with the collection's launch policy and source-IP restriction, as iam_restricted_user makes it."""
    return make_user(moto_server, "front-launcher", [build_launch_policy()], {"allow-list": restriction()})


def test_each_service_answers_a_denial_in_its_own_format(moto_server, launcher):
    arn = f"arn:aws:iam::{ACCOUNT}:user/front/front-launcher"
    admin_client(moto_server, "s3").create_bucket(Bucket="cloudburst-front-formats")
    ec2 = key_client(moto_server, launcher, "ec2")
    answer = refused(ec2.run_instances, ImageId="ami-03cf127a", MinCount=1, MaxCount=1)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert answer["Error"]["Code"] == "UnauthorizedOperation"
    assert answer["Error"]["Message"] == (
        f"You are not authorized to perform this operation. User: {arn} is not authorized to perform: "
        f"ec2:RunInstances on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:instance/* because no identity-based policy "
        "allows the ec2:RunInstances action")
    cases = [
        (key_client(moto_server, launcher, "iam").list_users, {}, 403, "AccessDenied", "iam:ListUsers on resource: *"),
        (key_client(moto_server, launcher, "cloudformation").describe_stacks, {"StackName": "someone-elses"}, 403,
         "AccessDenied", f"cloudformation:DescribeStacks on resource: arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/"),
        (key_client(moto_server, launcher, "s3").put_object, {"Bucket": "cloudburst-front-formats", "Key": "code.zip",
                                                              "Body": b"x"}, 403, "AccessDenied",
         "s3:PutObject on resource: arn:aws:s3:::cloudburst-front-formats/code.zip"),
        (key_client(moto_server, launcher, "events").put_rule, {"Name": "other", "ScheduleExpression": "rate(5 minutes)"},
         400, "AccessDeniedException", f"events:PutRule on resource: arn:aws:events:{REGION}:{ACCOUNT}:rule/other"),
        (key_client(moto_server, launcher, "lambda").get_function, {"FunctionName": "other"}, 403,
         "AccessDeniedException", f"lambda:GetFunction on resource: arn:aws:lambda:{REGION}:{ACCOUNT}:function:other"),
    ]
    for call, kwargs, status, code, names in cases:
        answer = refused(call, **kwargs)
        assert (answer["ResponseMetadata"]["HTTPStatusCode"], answer["Error"]["Code"]) == (status, code), answer
        assert f"User: {arn} is not authorized to perform: {names}" in answer["Error"]["Message"], answer
        assert "because no identity-based policy allows the" in answer["Error"]["Message"]
    # A HEAD has no body: S3 answers 403 alone.
    head = refused(key_client(moto_server, launcher, "s3").head_object, Bucket="cloudburst-front-formats", Key="code.zip")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 403
    # No permission is needed to ask who one is; from outside the allow-list the restriction's Deny says so.
    sts = key_client(moto_server, launcher, "sts")
    assert sts.get_caller_identity()["Arn"] == arn
    moto_server.front.source_ip = OUTSIDE
    outside = refused(ec2.describe_regions)
    assert outside["Error"]["Message"].endswith("ec2:DescribeRegions on resource: * with an explicit deny in an "
                                                "identity-based policy")
    assert sts.get_caller_identity()["Arn"] == arn


def test_keys_aws_would_not_accept_are_refused(moto_server):
    key = make_user(moto_server, "front-retired", [allow("ec2:Describe*")])
    admin_client(moto_server, "iam").update_access_key(
        UserName="front-retired", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    for service, call, code in (("ec2", "describe_regions", "AuthFailure"), ("sts", "get_caller_identity",
                                                                             "InvalidClientTokenId")):
        answer = refused(getattr(key_client(moto_server, key, service), call))
        assert answer["Error"]["Code"] == code, answer
    unknown = dict(key, AccessKeyId="AKIA" + "Q" * 16)
    assert refused(key_client(moto_server, unknown, "s3").list_buckets)["Error"]["Code"] == "InvalidAccessKeyId"


def test_run_instances_is_authorized_resource_by_resource(moto_server):
    ec2 = admin_client(moto_server, "ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    iam = admin_client(moto_server, "iam")
    for role in ("AnnexSetup-instance-us-east-1", "front-lease-role"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(allow("sts:AssumeRole")))
        iam.create_instance_profile(InstanceProfileName=role)
        iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    policy = build_launch_policy()
    launch = [s for s in policy["Statement"] if s["Sid"] == "Ec2LaunchWithImagesSubnetsAndGroups"][0]
    no_subnet = json.loads(json.dumps(policy))
    for statement in no_subnet["Statement"]:
        if statement["Sid"] == launch["Sid"]:
            statement["Resource"] = [r for r in statement["Resource"] if ":subnet/" not in r]
    key = make_user(moto_server, "front-runner", [no_subnet])
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "cloudburst:cluster", "Value": "front"}]}]
    user_ec2 = key_client(moto_server, key, "ec2")
    answer = refused(user_ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                     TagSpecifications=tags)
    assert (f"ec2:RunInstances on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{subnet['SubnetId']} because no "
            "identity-based policy allows") in answer["Error"]["Message"]

    full = make_user(moto_server, "front-runner-full", [policy])
    user_ec2 = key_client(moto_server, full, "ec2")
    moto_server.front.decisions.clear()
    made = user_ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                                  TagSpecifications=tags, IamInstanceProfile={"Name": "AnnexSetup-instance-us-east-1"})
    seen = {(d["action"], d["resource_type"]): d for d in moto_server.front.decisions}
    assert {"image", "subnet", "security-group", "network-interface", "volume", "instance"} <= {
        kind for action, kind in seen if action == "ec2:RunInstances"}
    assert seen[("ec2:CreateTags", "instance")]["grants"] == [["Ec2TagOnlyWhileCreating", "ec2:CreateTags"]]
    assert seen[("iam:PassRole", "role")]["resource"].endswith(":role/AnnexSetup-instance-us-east-1")
    # A spot worker's request is authorized too (the launch policy grants it untagged; the instance carries the tag).
    spot = user_ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                                  TagSpecifications=tags, InstanceMarketOptions={"MarketType": "spot"})
    assert ("ec2:RunInstances", "spot-instances-request") in {(d["action"], d["resource_type"])
                                                              for d in moto_server.front.decisions}
    # The lease role is no instance role: passing it is refused, and nothing is launched.
    answer = refused(user_ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                     TagSpecifications=tags, IamInstanceProfile={"Name": "front-lease-role"})
    assert f"iam:PassRole on resource: arn:aws:iam::{ACCOUNT}:role/front-lease-role" in answer["Error"]["Message"]
    ec2.terminate_instances(InstanceIds=[made["Instances"][0]["InstanceId"], spot["Instances"][0]["InstanceId"]])


def test_the_launch_policy_allows_the_network_and_the_annex_record_the_flows_make(moto_server, launcher, tmp_path):
    """What a real account refused the restricted key before: CreateSubnet and CreateRouteTable are authorized on the
    VPC too (without the request's tags), and amazon.aws.s3_object reads the bucket's ownership controls and the
    object's tags around a put."""
    admin_client(moto_server, "s3", "eu-west-1").create_bucket(
        Bucket="cloudburst-front-record", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    env = dict(ec2_env(moto_server), AWS_ACCESS_KEY_ID=launcher["AccessKeyId"],
               AWS_SECRET_ACCESS_KEY=launcher["SecretAccessKey"])
    network = {"ec2_network_cluster": "front-net", "ec2_network_vpc_cidr": "10.125.0.0/16",
               "ec2_network_subnet_cidr": "10.125.1.0/24"}
    record = {"bucket": "cloudburst-front-record", "object": "config-front/annex.json", "content": "{}",
              "permission": []}
    made = run_play(tmp_path, moto_server, role_tasks(("ec2_network", network)) + [
        {"amazon.aws.s3_object": dict(record, mode="put", overwrite="different")},
        {"amazon.aws.s3_object": dict(record, mode="put", overwrite="different")},
        {"amazon.aws.s3_object": {"bucket": record["bucket"], "object": record["object"], "mode": "delobj"}},
    ] + role_tasks(("ec2_network", dict(network, ec2_network_state="absent"))), env=env)
    assert made.rc == 0, made.failure_messages()
    mine = [d for d in moto_server.front.decisions if d["principal"].endswith("/front-launcher")]
    assert {("ec2:CreateSubnet", "vpc"), ("ec2:CreateRouteTable", "vpc"), ("s3:GetObjectTagging", "object"),
            ("s3:GetBucketOwnershipControls", "bucket")} <= {(d["action"], d["resource_type"]) for d in mine}
    assert [d for d in mine if d["effect"] != "Allow"] == []


def test_policies_are_read_again_after_an_iam_write(moto_server):
    key = make_user(moto_server, "front-grown")
    ec2 = key_client(moto_server, key, "ec2")
    assert refused(ec2.describe_regions)["Error"]["Code"] == "UnauthorizedOperation"
    admin_client(moto_server, "iam").put_user_policy(UserName="front-grown", PolicyName="read",
                                                     PolicyDocument=json.dumps(allow("ec2:DescribeRegions")))
    assert ec2.describe_regions()["Regions"]


def test_sessions_from_get_session_token_carry_mfa(moto_server):
    serial = f"arn:aws:iam::{ACCOUNT}:mfa/front-person"
    key = make_user(moto_server, "front-person",
                    [allow(["ec2:DescribeRegions", "sts:GetSessionToken"]), build_require_mfa_policy()])
    assert refused(key_client(moto_server, key, "ec2").describe_regions)["Error"]["Code"] == "UnauthorizedOperation"
    sts = key_client(moto_server, key, "sts")
    for code, works in ((None, False), ("123456", True)):
        asked = {"SerialNumber": serial, "TokenCode": code} if code else {}
        session = sts.get_session_token(**asked)["Credentials"]
        ec2 = key_client(moto_server, session, "ec2", token=session["SessionToken"])
        if works:
            assert ec2.describe_regions()["Regions"]
        else:
            assert "explicit deny" in refused(ec2.describe_regions)["Error"]["Message"]
    # Each session has a key of its own (moto hands every session the same one).
    assert session["AccessKeyId"].startswith("ASIA") and session["AccessKeyId"] != "AKIAIOSFODNN7EXAMPLE"


def test_an_unmapped_operation_is_refused_for_a_restricted_key_only(moto_server):
    front = moto_server.front
    key = make_user(moto_server, "front-wide", [allow("*")])
    with front.expecting_refusals():  # otherwise the per-test check fails this test, as it should any other
        answer = refused(key_client(moto_server, key, "ec2").create_volume, AvailabilityZone="us-east-1a", Size=1)
    assert answer["Error"]["Code"] == "AuthFrontUnmapped"
    assert "cannot map ec2:CreateVolume" in answer["Error"]["Message"]
    assert [d["operation"] for d in front.decisions if d["effect"] == "Unmapped"][-1:] == ["ec2:CreateVolume"]
    volume = admin_client(moto_server, "ec2").create_volume(AvailabilityZone="us-east-1a", Size=1)
    admin_client(moto_server, "ec2").delete_volume(VolumeId=volume["VolumeId"])


def test_a_launch_from_outside_the_allow_list_is_refused_at_once_and_makes_nothing(moto_server, tmp_path):
    """Issue item 4: spark_ec2.yml run with the restricted key from an address outside its allow-list."""
    checkip = rig.CheckipServer([(200, OUTSIDE + "\n", 0)]).start()
    try:
        home = tmp_path / "home"
        env = ansible_env(aws=moto_server.env, extra={"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url,
                                                      "CLOUDBURST_CHECKIP_URL": checkip.url,
                                                      "CLOUDBURST_CREDENTIALS_HOME": str(home)})
        made = run(["ansible-playbook", "playbooks/iam_restricted_user.yml", "-e", "@playbooks/vars/demo.yml",
                    "-e", "iam_restricted_user_name=front-outsider", "-e", "iam_restricted_user_policy_name=front-outside",
                    "-e", json.dumps({"iam_restricted_user_allowlist": [f"{INSIDE}/32"]})], env=env)
        assert made.rc == 0, made.output[-3000:]
        key_id = (home / ".condor" / "publicKeyFile").read_text().strip()
        env.update(AWS_ACCESS_KEY_ID=key_id,
                   AWS_SECRET_ACCESS_KEY=(home / ".condor" / "privateKeyFile").read_text().strip())
        moto_server.front.source_ip = OUTSIDE
        moto_server.reset_recording()
        seen = len(moto_server.front.decisions)
        settings = {"spark_ec2_action": "launch", "spark_ec2_cluster": "front-outside", "spark_ec2_workers": 1,
                    "spark_ec2_checkip_url": checkip.url, "spark_ec2_key_path": str(home / "cluster_ed25519"),
                    "spark_ec2_vpc_cidr": "10.123.0.0/16", "spark_ec2_subnet_cidr": "10.123.1.0/24",
                    # A digest given: the release check fetches nothing (nothing here reaches the internet).
                    "spark_archive_checksum": "sha512:" + "0" * 128}
        launch = run(["ansible-playbook", "playbooks/spark_ec2.yml", "-e", json.dumps(settings)], env=env)
    finally:
        checkip.stop()
    assert launch.rc != 0
    message = " ".join(launch.output.split())
    assert ("with an explicit deny in identity-based policy, and so refuses every request of this key from here. "
            "That is how the source-IP restriction of a cloudburst.aws user (statement "
            "CloudburstDenyOutsideSourceIpAllowList) answers a request from outside its allow-list: the request came "
            f"from {OUTSIDE}, this controller's public address") in message, message[-3000:]
    assert "outside the restriction" in message
    decisions = moto_server.front.decisions[seen:]
    assert decisions and {d["effect"] for d in decisions} == {"ExplicitDeny"}, decisions
    assert write_calls(moto_server.recorded_actions()) == []
    assert tagged(admin_client(moto_server, "ec2"), "cloudburst:cluster", "front-outside") == []
    assert not (home / "cluster_ed25519").exists()


class NoLookups:
    """A map look-up that is never needed by the calls below."""

    def __getattr__(self, name):
        raise AssertionError(f"unexpected look-up {name}")


@pytest.mark.parametrize("service, method, path, query, headers, body, expected", [
    ("s3", "GET", "/cloudburst-b/config-x/annex.json", "", {"host": "127.0.0.1:5000"}, b"",
     [("s3:GetObject", "arn:aws:s3:::cloudburst-b/config-x/annex.json", "object")]),
    ("s3", "HEAD", "/config-x/annex.json", "", {"host": "cloudburst-b.s3.us-east-1.amazonaws.com"}, b"",
     [("s3:GetObject", "arn:aws:s3:::cloudburst-b/config-x/annex.json", "object")]),
    ("s3", "GET", "/cloudburst-b", "list-type=2&prefix=config-x%2F", {"host": "127.0.0.1:5000"}, b"",
     [("s3:ListBucket", "arn:aws:s3:::cloudburst-b", "bucket")]),
    ("s3", "POST", "/cloudburst-b", "delete", {"host": "127.0.0.1:5000"},
     b"<Delete><Object><Key>config-a</Key></Object><Object><Key>config-b</Key></Object></Delete>",
     [("s3:DeleteObject", "arn:aws:s3:::cloudburst-b/config-a", "object"),
      ("s3:DeleteObject", "arn:aws:s3:::cloudburst-b/config-b", "object")]),
    ("s3", "GET", "/cloudburst-b", "ownershipControls", {"host": "127.0.0.1:5000"}, b"",
     [("s3:GetBucketOwnershipControls", "arn:aws:s3:::cloudburst-b", "bucket")]),
    ("lambda", "GET", "/2015-03-31/functions/AnnexSetup-odi-lease", "", {}, b"",
     [("lambda:GetFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:AnnexSetup-odi-lease", "function")]),
    ("events", "POST", "/", "", {"x-amz-target": "AWSEvents.PutTargets"},
     json.dumps({"Rule": "HTCondorAnnex-a-lease", "Targets": [{"Id": "t", "Arn": "arn:aws:lambda:x"}]}).encode(),
     [("events:PutTargets", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/HTCondorAnnex-a-lease", "rule")]),
    ("sts", "POST", "/", "", {}, b"Action=GetSessionToken&Version=2011-06-15", [("sts:GetSessionToken", "*", "*")]),
    ("ec2", "POST", "/", "", {}, b"Action=DescribeInstances&Version=2016-11-15", [("ec2:DescribeInstances", "*", "*")]),
])
def test_the_map_reads_each_protocol(service, method, path, query, headers, body, expected):
    """Query, JSON 1.1, REST-JSON and REST-XML (path-style and virtual-host) requests, as the map reads them."""
    from rig import authfront_map

    call = authfront_map.parse(authfront_map.Call(service, REGION, method, path, query, headers, body))
    principal = authfront.Principal(f"arn:aws:iam::{ACCOUNT}:user/bob", "AIDABOB", [])
    found = authfront_map.authorizations(call, principal, NoLookups())
    assert [(a.action, a.resource, a.resource_type) for a in found] == expected
    if call.operation == "PutTargets":
        assert found[0].values["events:TargetArn"] == ["arn:aws:lambda:x"]
    if call.operation == "ListBucket":
        assert found[0].values["s3:prefix"] == "config-x/"


# --- the front's decisions against an independent evaluator -------------------------------------------------

def principalmapper():
    """principalmapper's local policy simulation (1.1.5 predates Python 3.10's removal of these aliases)."""
    for name in ("Mapping", "MutableMapping", "Iterable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    from principalmapper.querying import local_policy_simulation
    from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict

    return local_policy_simulation, CaseInsensitiveDict


RANDOM_CASES = 150
TAG_KEYS = ["cloudburst:cluster", "team", "Name"]
RULE_NAMES = ["cloudburst-a", "cloudburst-b", "other-rule"]


def random_statement(rng):
    statement = {"Effect": rng.choice(["Allow", "Allow", "Deny"])}
    statement["NotAction" if rng.random() < 0.15 else "Action"] = rng.choice(
        ["events:PutRule", "events:*", "events:Put*", "*", "ec2:*", ["events:PutRule", "s3:GetObject"]])
    statement["NotResource" if rng.random() < 0.15 else "Resource"] = rng.choice(
        ["*", "arn:aws:events:*:*:rule/cloudburst-*", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/other-rule",
         "arn:aws:events:*:*:rule/${aws:username}", "arn:aws:s3:::*"])
    condition = {}
    for _count in range(rng.randint(0, 2)):
        kind = rng.choice(["ip", "tag", "keys", "user", "null", "secure"])
        if kind == "ip":
            condition.setdefault(rng.choice(["IpAddress", "NotIpAddress"]), {})["aws:SourceIp"] = rng.choice(
                [f"{INSIDE}/32", "11.22.0.0/16", "203.0.113.0/24"])
        elif kind == "tag":
            operator = rng.choice(["StringEquals", "StringLike", "StringNotEquals", "StringEqualsIfExists"])
            condition.setdefault(operator, {})[f"aws:RequestTag/{rng.choice(TAG_KEYS)}"] = rng.choice(
                ["front", "f*", "x"])
        elif kind == "keys":
            operator = rng.choice(["ForAnyValue:StringEquals", "ForAllValues:StringEquals", "ForAnyValue:StringLike"])
            condition.setdefault(operator, {})["aws:TagKeys"] = rng.sample(TAG_KEYS + ["cloudburst:*"], 2)
        elif kind == "user":
            condition.setdefault(rng.choice(["StringEquals", "StringNotEquals"]), {})["aws:username"] = rng.choice(
                ["front-random", "someone"])
        elif kind == "null":
            condition.setdefault("Null", {})[rng.choice(["aws:RequestTag/team", "aws:TagKeys"])] = rng.choice(
                ["true", "false"])
        else:
            condition.setdefault("Bool", {})["aws:SecureTransport"] = rng.choice(["true", "false"])
    if condition:
        statement["Condition"] = condition
    return statement


def test_the_fronts_decisions_agree_with_principalmapper_on_random_policies_through_real_requests(moto_server):
    simulation, CaseInsensitiveDict = principalmapper()
    rng = random.Random(2026)
    key = make_user(moto_server, "front-random")
    iam, events = admin_client(moto_server, "iam"), key_client(moto_server, key, "events")
    arn = f"arn:aws:iam::{ACCOUNT}:user/front/front-random"
    disagreements, outcomes = [], collections.Counter()
    for case in range(RANDOM_CASES):
        documents = [{"Version": "2012-10-17", "Statement": [random_statement(rng) for _s in range(rng.randint(1, 3))]}
                     for _d in range(rng.randint(1, 2))]
        for name in iam.list_user_policies(UserName="front-random")["PolicyNames"]:
            iam.delete_user_policy(UserName="front-random", PolicyName=name)
        for index, document in enumerate(documents):
            iam.put_user_policy(UserName="front-random", PolicyName=f"p{index}", PolicyDocument=json.dumps(document))
        rule = rng.choice(RULE_NAMES)
        tags = {k: rng.choice(["front", "x"]) for k in rng.sample(TAG_KEYS, rng.randint(0, 2))}
        moto_server.front.source_ip = rng.choice([INSIDE, OUTSIDE, "203.0.113.9"])
        try:
            events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)",
                            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            ours = "Allow"
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDeniedException", exc.response
            ours = "Deny"
        context = {"aws:SourceIp": moto_server.front.source_ip, "aws:SecureTransport": "false",
                   "aws:username": "front-random", "aws:PrincipalArn": arn, "aws:userid": "x",
                   "aws:ViaAWSService": "false"}
        context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
        if tags:
            context["aws:TagKeys"] = list(tags)
        resource, context = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}", CaseInsensitiveDict(context)
        denied = any(simulation.policy_has_matching_statement(d, "Deny", "events:PutRule", resource, context)
                     for d in documents)
        allowed = any(simulation.policy_has_matching_statement(d, "Allow", "events:PutRule", resource, context)
                      for d in documents)
        theirs = "Allow" if allowed and not denied else "Deny"
        outcomes[ours] += 1
        if ours != theirs:
            disagreements.append((case, documents, dict(context), rule, ours, theirs))
    print(f"\n{RANDOM_CASES} random requests through the front against principalmapper: {dict(outcomes)}, "
          f"{len(disagreements)} disagreements")
    assert not disagreements, disagreements[:2]
    assert min(outcomes.values()) > RANDOM_CASES // 10, outcomes


# AWS's documented evaluation examples (IAM User Guide), each as (policies, boundary, authorization, principal
# values, expected effect). The user is bob, long-term key, from INSIDE over http unless the case says otherwise.
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"


def statement(effect, action, resource="*", condition=None, key="Action", resource_key="Resource"):
    found = {"Effect": effect, key: action, resource_key: resource}
    if condition:
        found["Condition"] = condition
    return found


def document(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


DOCUMENTED_EXAMPLES = [
    # reference_policies_evaluation-logic: an explicit deny in any policy overrides an allow.
    ("explicit deny wins", [document(statement("Allow", "s3:*")), document(statement("Deny", "s3:DeleteObject"))],
     None, Authorization("s3:DeleteObject", "arn:aws:s3:::b/k", "object"), {}, "ExplicitDeny"),
    # ... and a request nothing allows is implicitly denied.
    ("implicit deny", [document(statement("Allow", "s3:GetObject"))], None,
     Authorization("s3:PutObject", "arn:aws:s3:::b/k", "object"), {}, "ImplicitDeny"),
    # access_policies_boundaries: the effective permissions are the intersection of identity policy and boundary
    # (the boundary allows S3, CloudWatch and EC2; the identity policy allows iam:CreateUser, which is denied).
    ("boundary limits an identity allow", [document(statement("Allow", "iam:CreateUser"))],
     document(statement("Allow", ["s3:*", "cloudwatch:*", "ec2:*"])),
     Authorization("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x", "user"), {}, "ImplicitDeny"),
    ("allowed by both", [document(statement("Allow", "ec2:DescribeInstances"))],
     document(statement("Allow", ["s3:*", "cloudwatch:*", "ec2:*"])),
     Authorization("ec2:DescribeInstances", "*", "*"), {}, "Allow"),
    # reference_policies_elements_notaction: Allow NotAction iam:* allows everything but IAM.
    ("NotAction allow excludes IAM", [document(statement("Allow", "iam:*", key="NotAction"))], None,
     Authorization("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x", "user"), {}, "ImplicitDeny"),
    ("NotAction allow allows the rest", [document(statement("Allow", "iam:*", key="NotAction"))], None,
     Authorization("s3:ListBucket", "arn:aws:s3:::b", "bucket"), {}, "Allow"),
    # reference_policies_examples_aws_my-sec-creds-self-manage-mfa-only: with a long-term key there is no MFA
    # context, so BoolIfExists aws:MultiFactorAuthPresent false holds and the Deny applies ...
    ("no MFA context with a long-term key", [document(statement("Allow", "ec2:*")), build_require_mfa_policy()],
     None, Authorization("ec2:DescribeInstances", "*", "*"), {}, "ExplicitDeny"),
    # ... but not to the listed actions a user needs to set MFA up.
    ("MFA set-up is allowed without MFA", [document(statement("Allow", "iam:ListMFADevices", "arn:aws:iam::*:user/"
                                                              "${aws:username}")), build_require_mfa_policy()],
     None, Authorization("iam:ListMFADevices", BOB, "user"), {}, "Allow"),
    # reference_policies_examples_aws_deny-ip: deny from outside the ranges unless an AWS service acts.
    ("source IP outside", [document(statement("Allow", "*")), restriction("192.0.2.0/24")], None,
     Authorization("ec2:DescribeInstances", "*", "*"), {}, "ExplicitDeny"),
    ("source IP inside", [document(statement("Allow", "*")), restriction(f"{INSIDE}/32")], None,
     Authorization("ec2:DescribeInstances", "*", "*"), {}, "Allow"),
    # reference_policies_multi-value-conditions: ForAllValues holds for a request without tags (an empty set) ...
    ("ForAllValues on no tags", [document(statement("Allow", "ec2:CreateTags", condition={
        "ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}))], None,
     Authorization("ec2:CreateTags", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1", "instance"), {}, "Allow"),
    # ... and ForAnyValue does not.
    ("ForAnyValue on no tags", [document(statement("Allow", "ec2:CreateTags", condition={
        "ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}}))], None,
     Authorization("ec2:CreateTags", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1", "instance"), {}, "ImplicitDeny"),
    # reference_policies_condition-logic: a negated operator matches a missing key.
    ("StringNotEquals on a missing key", [document(statement("Allow", "ec2:RunInstances", condition={
        "StringNotEquals": {"aws:RequestTag/env": "prod"}}))], None,
     Authorization("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*", "instance"), {}, "Allow"),
    # reference_policies_variables: ${aws:username} in a resource.
    ("policy variable matches the user's folder", [document(statement(
        "Allow", "s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))], None,
     Authorization("s3:GetObject", "arn:aws:s3:::home/bob/notes", "object"), {}, "Allow"),
    ("policy variable refuses another folder", [document(statement(
        "Allow", "s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))], None,
     Authorization("s3:GetObject", "arn:aws:s3:::home/alice/notes", "object"), {}, "ImplicitDeny"),
    # ec2 User Guide, tag-on-create: RunInstances of an instance only with the required tag.
    ("tag on create required", [document(statement("Allow", "ec2:RunInstances", "arn:aws:ec2:*:*:instance/*",
                                                   {"StringEquals": {"aws:RequestTag/env": "dev"}}))], None,
     Authorization("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*", "instance",
                   {"aws:RequestTag/env": "prod", "aws:TagKeys": ["env"]}), {}, "ImplicitDeny"),
    # A condition key the front does not model: it refuses to decide rather than guess.
    ("unknown key", [document(statement("Allow", "*", condition={"StringEquals": {"ec2:Tenancy": "default"}}))],
     None, Authorization("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*", "instance"), {},
     "Undecided"),
]


@pytest.mark.parametrize("name, policies, boundary, authorization, values, expected", DOCUMENTED_EXAMPLES,
                         ids=[case[0] for case in DOCUMENTED_EXAMPLES])
def test_the_front_decides_awss_documented_examples_as_aws_does(
        name, policies, boundary, authorization, values, expected):
    front = authfront.AuthFront.__new__(authfront.AuthFront)
    front.source_ip = INSIDE
    principal = authfront.Principal(BOB, "AIDABOB", [(f"policy {i}", d) for i, d in enumerate(policies)],
                                    (("boundary", boundary) if boundary else None))
    call = authfront.Call("ec2", REGION, "POST", "/", "", {}, b"")
    authorization.values.update(values)
    effect, _grants, reason = front.decide(principal, call, authorization)
    assert effect == expected, reason


def test_the_fronts_overhead_per_request_is_small(moto_server, launcher):
    """What the front adds to a request (reported in docs/testing.md): the median round trip of DescribeRegions
    straight to moto, through the front as the administrator and as a restricted key, measured in interleaved rounds
    so that the machine's load falls on all three alike, and the front's own median time before it forwards."""
    direct = boto3.client("ec2", endpoint_url=moto_server.moto_url, region_name=REGION, **moto_server.credentials)
    clients = {"direct": direct, "administrator": admin_client(moto_server, "ec2"),
               "restricted": key_client(moto_server, launcher, "ec2")}
    timings = {label: [] for label in clients}
    for client in clients.values():
        client.describe_regions()
    moto_server.front.timings.clear()
    for _round in range(100):
        for label, client in clients.items():
            started = time.perf_counter()
            client.describe_regions()
            timings[label].append(time.perf_counter() - started)
    median = {label: sorted(found)[len(found) // 2] * 1000 for label, found in timings.items()}
    added = {label: round(median[label] - median["direct"], 2) for label in ("administrator", "restricted")}
    inside = {label: round(seconds * 1000, 2) for label, seconds in moto_server.front.overhead().items()
              if label != "requests"}
    print(f"\nauthorizing front: DescribeRegions takes {median['direct']:.2f} ms straight to moto (median of 100); "
          f"through the front {added['administrator']} ms more as the administrator, {added['restricted']} ms more "
          f"with a restricted key; the front itself spends {inside['administrator']} ms and {inside['restricted']} ms "
          "before forwarding")
    assert added["restricted"] < 20 and added["administrator"] < 10, added
