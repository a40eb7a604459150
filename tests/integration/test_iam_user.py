# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_user and iam_managed_policy by ansible-playbook against the moto server."""

from __future__ import annotations

import json

import pytest
from conftest import ansible_env, run_aws_refusals, run_aws_tasks, write_calls

READ_S3 = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}


def user_task(**options):
    return {"cloudburst.aws.iam_user": options, "register": "out"}


@pytest.fixture
def iam(boto3_session, moto_server):
    return boto3_session.client("iam", endpoint_url=moto_server.url)


def test_lifecycle_create_rerun_update_delete(tmp_path, moto_server, iam):
    options = dict(name="life", path="/team/", tags={"team": "genomics"},
                   managed_policies=["ReadOnlyAccess"], inline_policies={"read-s3": READ_S3},
                   source_ip_allowlist=["203.0.113.0/24", "2001:db8:7::/48"], controller_ip="203.0.113.9")
    moto_server.reset_recording()
    (created,) = run_aws_tasks(tmp_path, moto_server, [user_task(**options)])
    assert created["changed"] is True, created
    # IAM is eventually consistent: the module waits until GetUser finds the new user before the next call.
    actions = moto_server.recorded_actions()
    created_at = actions.index("iam:CreateUser")
    assert actions[created_at + 1] == "iam:GetUser", actions
    user = created["user"]
    assert user["arn"] == "arn:aws:iam::123456789012:user/team/life"
    assert user["managed_policies"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert user["inline_policy_names"] == ["cloudburst-source-ip-allow-list", "read-s3"]
    assert user["source_ip_allowlist"] == ["203.0.113.0/24", "2001:db8:7::/48"]
    document = iam.get_user_policy(UserName="life", PolicyName="cloudburst-source-ip-allow-list")["PolicyDocument"]
    assert document["Statement"][0]["Condition"]["Bool"] == {"aws:ViaAWSService": "false"}

    # The same document written differently (JSON string, lists of one) is no change.
    same = dict(options)
    same["inline_policies"] = {"read-s3": json.dumps(
        {"Statement": [{"Resource": ["*"], "Action": ["s3:GetObject"], "Effect": "Allow"}], "Version": "2012-10-17"})}
    moto_server.reset_recording()
    (rerun,) = run_aws_tasks(tmp_path, moto_server, [user_task(**same)])
    assert rerun["changed"] is False and rerun["changes"] == []
    assert write_calls(moto_server.recorded_actions()) == []

    updated = dict(options)
    updated.update(tags={"team": "physics"}, source_ip_allowlist=["203.0.113.0/24"],
                   managed_policies=["ReadOnlyAccess", "AmazonS3ReadOnlyAccess"])
    (update,) = run_aws_tasks(tmp_path, moto_server, [user_task(**updated)])
    assert update["changed"] is True
    assert update["user"]["tags"] == {"team": "physics"}
    assert update["user"]["source_ip_allowlist"] == ["203.0.113.0/24"]
    assert sorted(p["PolicyName"] for p in iam.list_attached_user_policies(UserName="life")["AttachedPolicies"]) == [
        "AmazonS3ReadOnlyAccess", "ReadOnlyAccess"]

    (deleted, again) = run_aws_tasks(tmp_path, moto_server, [user_task(name="life", state="absent"),
                                                             user_task(name="life", state="absent")])
    assert deleted["changed"] is True and "delete user life" in deleted["changes"]
    assert again["changed"] is False
    assert "life" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_check_mode_reports_changes_and_writes_nothing(tmp_path, moto_server, iam):
    moto_server.reset_recording()
    (checked,) = run_aws_tasks(tmp_path, moto_server, [user_task(
        name="checked", managed_policies=["ReadOnlyAccess"], source_ip_allowlist=["198.51.100.0/24"],
        tags={"a": "b"})], extra_args=["--check", "--diff"])
    assert checked["changed"] is True
    assert "create user checked" in checked["changes"]
    assert checked["diff"]["before"] == {} and checked["diff"]["after"]["source_ip_allowlist"] == ["198.51.100.0/24"]
    actions = moto_server.recorded_actions()
    assert actions and write_calls(actions) == [], actions
    assert "checked" not in [u["UserName"] for u in iam.list_users()["Users"]]

    run_aws_tasks(tmp_path, moto_server, [user_task(name="checked", tags={"a": "b"})])
    moto_server.reset_recording()
    (update, delete) = run_aws_tasks(tmp_path, moto_server, [
        user_task(name="checked", tags={"a": "c"}, source_ip_allowlist=["198.51.100.0/24"]),
        user_task(name="checked", state="absent")], extra_args=["--check", "--diff"])
    assert update["changed"] and update["diff"]["before"]["tags"] == {"a": "b"}
    assert update["diff"]["after"]["tags"] == {"a": "c"}
    assert delete["changed"] and "delete user checked" in delete["changes"]
    assert write_calls(moto_server.recorded_actions()) == []
    assert iam.get_user(UserName="checked")["User"]["UserName"] == "checked"


def test_absent_removes_every_dependent_first(tmp_path, moto_server, iam):
    iam.create_user(UserName="busy")
    iam.create_group(GroupName="busy-group")
    iam.add_user_to_group(UserName="busy", GroupName="busy-group")
    iam.create_access_key(UserName="busy")
    iam.create_login_profile(UserName="busy", Password="Not-a-real-password-1!")
    iam.put_user_policy(UserName="busy", PolicyName="inline", PolicyDocument=json.dumps(READ_S3))
    iam.attach_user_policy(UserName="busy", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="busy-mfa")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="busy", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    (deleted,) = run_aws_tasks(tmp_path, moto_server, [user_task(name="busy", state="absent")])
    assert not deleted.get("failed"), deleted
    for expected in ("delete access key", "deactivate MFA device", "delete the console password",
                     "delete inline policy inline", "detach managed policy", "remove user from group busy-group",
                     "delete user busy"):
        assert any(change.startswith(expected) for change in deleted["changes"]), (expected, deleted["changes"])
    assert "busy" not in [u["UserName"] for u in iam.list_users()["Users"]]
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == [] or all(
        d["SerialNumber"] != serial for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"])


BAD_INPUT = [
    ({"source_ip_allowlist": ["203.0.113.0/33"]}, "not a valid IPv4 or IPv6 CIDR"),
    ({"source_ip_allowlist": ["0.0.0.0/0"]}, "allows every address"),
    ({"source_ip_allowlist": ["::/0"]}, "allows every address"),
    ({"managed_policies": ["NoSuchPolicyAnywhere"]}, "unknown managed policy 'NoSuchPolicyAnywhere'"),
    ({"inline_policies": {"broken": "{\"Statement\": ["}}, "policy 'broken' is not valid JSON"),
    ({"inline_policies": {"huge": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"s3:GetObject{i:04d}", "Resource": "*"} for i in range(60)]}}},
     "over IAM's limit of 2048 characters"),
    ({"source_ip_allowlist": [f"10.{i}.0.0/16" for i in range(200)]}, "over IAM's limit of 2048 characters"),
    ({"name": "no spaces allowed"}, "is not a valid IAM user name"),
]


def test_bad_input_fails_clearly_and_changes_nothing(tmp_path, moto_server, iam):
    """Every case a task of one run (ignore_errors, so each case is tried): each fails with its message, and none
    writes."""
    moto_server.reset_recording()
    results = run_aws_refusals(tmp_path, moto_server, [
        user_task(**dict({"name": "bad-input"}, **options)) for options, _m in BAD_INPUT])
    for (options, message), failed in zip(BAD_INPUT, results):
        assert message in failed["msg"], (options, failed["msg"])
    assert write_calls(moto_server.recorded_actions()) == []
    assert "bad-input" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_lockout_guard(tmp_path, moto_server, iam):
    (outside,) = run_aws_tasks(tmp_path, moto_server, [user_task(
        name="guarded", source_ip_allowlist=["203.0.113.0/24"], controller_ip="198.51.100.20")])
    assert outside["failed"] is True
    assert "198.51.100.20 is outside the allow-list" in outside["msg"]
    assert "guarded" not in [u["UserName"] for u in iam.list_users()["Users"]]

    (allowed,) = run_aws_tasks(tmp_path, moto_server, [user_task(
        name="guarded", source_ip_allowlist=["203.0.113.0/24"], controller_ip="198.51.100.20", allow_lockout=True)])
    assert allowed["changed"] is True

    # The play running as the very user it restricts, with no controller address to prove it stays inside. The
    # controller is at 203.0.113.5 (the authorizing front's source address), so once restricted the user still works.
    moto_server.front.source_ip = "203.0.113.5"
    iam.create_user(UserName="self-restricting")
    iam.attach_user_policy(UserName="self-restricting", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName="self-restricting")["AccessKey"]
    env = ansible_env(aws=dict(moto_server.env, AWS_ACCESS_KEY_ID=key["AccessKeyId"],
                               AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"]))
    (self_lock, inside) = run_aws_tasks(tmp_path, moto_server, [
        dict(user_task(name="self-restricting", source_ip_allowlist=["203.0.113.0/24"]), ignore_errors=True),
        user_task(name="self-restricting", source_ip_allowlist=["203.0.113.0/24"], controller_ip="203.0.113.5"),
    ], env=env)
    assert self_lock["failed"] is True
    assert "this play runs as arn:aws:iam::123456789012:user/self-restricting" in self_lock["msg"]
    assert inside["changed"] is True


def policy_task(**options):
    return {"cloudburst.aws.iam_managed_policy": options, "register": "out"}


def test_managed_policy_semantic_compare_version_limit_and_absent(tmp_path, moto_server, iam):
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:DescribeInstances"],
                                                        "Resource": ["*"]}]}
    (created,) = run_aws_tasks(tmp_path, moto_server, [policy_task(name="launch-test", policy=document)])
    assert created["changed"] is True
    arn = created["policy"]["arn"]
    assert arn == "arn:aws:iam::123456789012:policy/launch-test"

    variants = [
        {"Statement": {"Resource": "*", "Action": "ec2:DescribeInstances", "Effect": "Allow"}, "Version": "2012-10-17"},
        json.dumps(document, indent=8),
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}',
    ]
    moto_server.reset_recording()
    results = run_aws_tasks(tmp_path, moto_server, [policy_task(name="launch-test", policy=v) for v in variants])
    assert [r["changed"] for r in results] == [False, False, False]
    assert write_calls(moto_server.recorded_actions()) == []

    changed = [dict(document, Statement=[dict(document["Statement"][0], Action=f"ec2:Describe{n}")]) for n in
               ("Vpcs", "Subnets", "Images", "Regions", "Volumes", "Tags")]
    results = run_aws_tasks(tmp_path, moto_server, [policy_task(name="launch-test", policy=v) for v in changed])
    assert all(r["changed"] for r in results)
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 5
    assert "v1" not in [v["VersionId"] for v in versions] and "v2" not in [v["VersionId"] for v in versions]
    assert any("delete the oldest policy version" in c for r in results for c in r["changes"])
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    assert iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]["Statement"][0][
        "Action"] == "ec2:DescribeTags"

    iam.create_user(UserName="policy-holder")
    iam.attach_user_policy(UserName="policy-holder", PolicyArn=arn)
    iam.create_group(GroupName="policy-group")
    iam.attach_group_policy(GroupName="policy-group", PolicyArn=arn)
    (check, absent) = run_aws_tasks(tmp_path, moto_server, [
        dict(policy_task(name="launch-test", state="absent"), check_mode=True),
        policy_task(name="launch-test", state="absent")])
    assert check["changed"] and check["changes"] == absent["changes"]
    assert "detach from user policy-holder" in absent["changes"] and "detach from group policy-group" in absent["changes"]
    assert iam.list_attached_user_policies(UserName="policy-holder")["AttachedPolicies"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=arn)


def test_managed_policy_bad_input(tmp_path, moto_server):
    results = run_aws_refusals(tmp_path, moto_server, [
        policy_task(name="p1", policy="{not json"),
        policy_task(name="p1"),
        policy_task(name="bad name!", policy=READ_S3),
        policy_task(name="p1", policy={"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": f"s3:Get{i:05d}", "Resource": "*"} for i in range(300)]}),
    ])
    messages = [r["msg"] for r in results]
    assert "not valid JSON" in messages[0] or "dictionary requested" in messages[0] or "JSON" in messages[0]
    assert "state is present but all of the following are missing: policy" in messages[1]
    assert "is not a valid policy name" in messages[2]
    assert "over IAM's limit of 6144 characters" in messages[3]


# --- issue 10: the source-IP restriction ----------------------------------------------------------------

def deny_outside(cidr, sid="OfficeOnly", **condition):
    return {"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*",
                                                    "Condition": dict({"NotIpAddress": {"aws:SourceIp": cidr}},
                                                                      **condition)}]}


def test_bad_restriction_input_is_refused_before_any_write(tmp_path, moto_server, iam):
    cases = [
        ({"source_ip_allowlist": ["0.0.0.0/1", "128.0.0.0/1"]}, "'0.0.0.0/1' is wider than /8"),
        ({"source_ip_allowlist": ["0.0.0.0/1", "128.0.0.0/1"], "allow_wide_prefixes": True},
         "together cover every IPv4 address"),
        ({"source_ip_allowlist": ["::/1", "8000::/1"], "allow_wide_prefixes": True}, "together cover every IPv6 address"),
        ({"source_ip_allowlist": ["10.0.0.0/7"]}, "'10.0.0.0/7' is wider than /8"),
        ({"source_ip_allowlist": ["2001:db8::/31"]}, "'2001:db8::/31' is wider than /32"),
        ({"source_ip_allowlist": ["203.0.113.0/24"], "controller_ip": "203.0.113.9/32"},
         "controller_ip '203.0.113.9/32' must be one IPv4 or IPv6 address, not a network"),
        ({"source_ip_allowlist": ["203.0.113.0/24"], "controller_ip": "203.0.113.0/24"}, "not a network"),
        ({"source_ip_allowlist": ["203.0.113.0/24"], "source_ip_policy_name": "bad name"},
         "source_ip_policy_name 'bad name' is not a valid IAM policy name"),
        ({"inline_policies": {"copy": build_restriction(["192.0.2.0/24"])}},
         "uses the statement id CloudburstDenyOutsideSourceIpAllowList"),
    ]
    moto_server.reset_recording()
    results = run_aws_refusals(tmp_path, moto_server, [
        user_task(name="bad-restriction", **options) for options, _message in cases])
    for (options, message), result in zip(cases, results):
        assert message in result["msg"], (options, result["msg"])
    assert write_calls(moto_server.recorded_actions()) == []
    assert "bad-restriction" not in [u["UserName"] for u in iam.list_users()["Users"]]

    (wide,) = run_aws_tasks(tmp_path, moto_server, [user_task(
        name="bad-restriction", source_ip_allowlist=["10.0.0.0/7"], allow_wide_prefixes=True)],
        extra_args=["--check"])
    assert wide["changed"] is True and wide["user"]["source_ip_allowlist"] == ["10.0.0.0/7"]


def build_restriction(cidrs):
    from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy

    return build_source_ip_policy(cidrs)[0]


def test_changing_the_policy_name_moves_the_one_restriction(tmp_path, moto_server, iam):
    name = "moving"
    options = dict(name=name, managed_policies=["ReadOnlyAccess"], source_ip_allowlist=["203.0.113.0/24"],
                   controller_ip="203.0.113.9")
    run_aws_tasks(tmp_path, moto_server, [user_task(**options)])
    # A policy of the user's own that also carries an (old) restriction statement of ours.
    mixed = {"Version": "2012-10-17",
             "Statement": build_restriction(["192.0.2.0/24"])["Statement"] + READ_S3_LIST["Statement"]}
    iam.put_user_policy(UserName=name, PolicyName="mixed", PolicyDocument=json.dumps(mixed))

    moved, again, info = run_aws_tasks(tmp_path, moto_server, [
        user_task(source_ip_policy_name="renamed", **options),
        user_task(source_ip_policy_name="renamed", **options),
        {"cloudburst.aws.iam_user_info": {"name": name}, "register": "out"},
    ], extra_args=["--diff"])
    assert moved["changed"] is True, moved
    assert moved["changes"] == ["add inline policy renamed", "update inline policy mixed",
                                "delete inline policy cloudburst-source-ip-allow-list"]
    assert moved["user"]["inline_policy_names"] == ["mixed", "renamed"]
    assert moved["user"]["source_ip_policy_names"] == ["renamed"]
    assert again["changed"] is False
    (user,) = info["users"]
    assert user["source_ip_policy_names"] == ["renamed"] and user["source_ip_allowlist"] == ["203.0.113.0/24"]
    left = iam.get_user_policy(UserName=name, PolicyName="mixed")["PolicyDocument"]
    assert left["Statement"] == READ_S3_LIST["Statement"]


READ_S3_LIST = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}


def test_the_guard_evaluates_every_policy_that_applies(tmp_path, moto_server, iam):
    """The allow-list keeps the controller inside, yet another policy would deny it: refused, nothing written."""
    iam.create_group(GroupName="guard-office")
    iam.put_group_policy(GroupName="guard-office", PolicyName="office", PolicyDocument=json.dumps(
        deny_outside("192.0.2.0/24")))
    only_office = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                                           "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}]}
    arn = iam.create_policy(PolicyName="guard-office-only", PolicyDocument=json.dumps(only_office))["Policy"]["Arn"]
    mfa = {"Version": "2012-10-17", "Statement": [{"Sid": "NeedMfa", "Effect": "Deny", "NotAction": "iam:*",
                                                   "Resource": "*", "Condition": {
                                                       "BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}
    base = dict(name="guard-all", source_ip_allowlist=["203.0.113.0/24"], controller_ip="203.0.113.9")
    cases = [
        ({"inline_policies": {"office": deny_outside("192.0.2.0/24")}, "managed_policies": ["ReadOnlyAccess"]},
         "statement 'OfficeOnly' of inline policy office denies requests from 203.0.113.9"),
        ({"groups": ["guard-office"], "managed_policies": ["ReadOnlyAccess"]},
         "statement 'OfficeOnly' of inline policy office of group guard-office denies requests from 203.0.113.9"),
        ({"managed_policies": [arn]}, "no Allow statement of the policies holds for requests from 203.0.113.9"),
        ({"inline_policies": {"mfa": mfa}, "managed_policies": ["ReadOnlyAccess"]},
         "statement 'NeedMfa' of inline policy mfa cannot be evaluated here "
         "(BoolIfExists on aws:MultiFactorAuthPresent)"),
        ({"managed_policies": ["ReadOnlyAccess"], "permissions_boundary": arn},
         "no Allow statement of the permissions boundary holds for requests from 203.0.113.9"),
    ]
    moto_server.reset_recording()
    results = run_aws_refusals(tmp_path, moto_server, [user_task(**base, **options) for options, _message in cases])
    for (options, message), result in zip(cases, results):
        assert "user guard-all could no longer be used from the controller's address 203.0.113.9" in result["msg"]
        assert message in result["msg"], (options, result["msg"])
    assert write_calls(moto_server.recorded_actions()) == []

    # An existing user: adding the Deny later is refused too, and allow_lockout lets it through.
    ok, refused, forced = run_aws_tasks(tmp_path, moto_server, [
        user_task(**base, managed_policies=["ReadOnlyAccess"]),
        dict(user_task(**base, inline_policies={"mfa": mfa}), ignore_errors=True),
        user_task(**base, inline_policies={"mfa": mfa}, allow_lockout=True),
    ])
    assert ok["changed"] is True and refused["failed"] is True and "NeedMfa" in refused["msg"]
    assert forced["changed"] is True and "add inline policy mfa" in forced["changes"]


def test_the_guard_sees_every_spelling_of_everything(tmp_path, moto_server, iam):
    """A Deny of the requests the collection needs, written as "*:*", "arn:*", "arn:aws:*:*:*:*" or split over
    policies, is refused like Deny "*" on "*"; a Deny that the collection's requests escape (one region) is not."""
    everything = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AllArns", "Effect": "Deny", "Action": ["s3:GetObject", "*:*"], "Resource": "arn:aws:*:*:*:*"}]}
    arn = iam.create_policy(PolicyName="guard-all-arns", PolicyDocument=json.dumps(everything))["Policy"]["Arn"]
    iam.create_group(GroupName="guard-no-s3")
    no_s3 = {"Version": "2012-10-17", "Statement": [{"Sid": "NoS3", "Effect": "Deny", "Action": "*",
                                                     "Resource": "arn:aws:s3:::*"}]}
    iam.put_group_policy(GroupName="guard-no-s3", PolicyName="no-s3", PolicyDocument=json.dumps(no_s3))
    not_s3 = {"Version": "2012-10-17", "Statement": [{"Sid": "NotS3", "Effect": "Deny", "Action": "*",
                                                      "NotResource": "arn:aws:s3:::*"}]}
    vpc_only = {"Version": "2012-10-17", "Statement": [
        {"Sid": "VpcOnly", "Effect": "Deny", "Action": "*:*", "Resource": "arn:*",
         "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-0123456789abcdef0"}}}]}
    one_region = {"Version": "2012-10-17", "Statement": [{"Sid": "NotVirginia", "Effect": "Deny", "Action": "*",
                                                          "Resource": "arn:aws:*:us-east-1:*"}]}
    own_account = {"Version": "2012-10-17", "Statement": [{"Sid": "NotHere", "Effect": "Deny", "Action": "*",
                                                           "Resource": "arn:aws:*:*:123456789012:*"}]}
    base = dict(name="guard-spelling", source_ip_allowlist=["203.0.113.0/24"], controller_ip="203.0.113.9")
    cases = [
        ({"managed_policies": ["ReadOnlyAccess", arn]},
         f"statement 'AllArns' of managed policy {arn} denies requests from 203.0.113.9"),
        ({"inline_policies": {"vpc-only": vpc_only}, "managed_policies": ["ReadOnlyAccess"]},
         "statement 'VpcOnly' of inline policy vpc-only cannot be evaluated here (StringNotEquals on aws:SourceVpc)"),
        ({"inline_policies": {"not-s3": not_s3}, "managed_policies": ["ReadOnlyAccess"]},
         "statement 'NotS3' of inline policy not-s3 denies requests from 203.0.113.9"),
        # Every resource of the account, and S3 (whose ARNs name no account) from the group: each stops what it covers.
        ({"inline_policies": {"own-account": own_account}, "groups": ["guard-no-s3"],
          "managed_policies": ["ReadOnlyAccess"]},
         "statement 'NotHere' of inline policy own-account denies requests from 203.0.113.9 (needed for IAM calls on "
         "the user itself"),
        ({"inline_policies": {"own-account": own_account}, "groups": ["guard-no-s3"],
          "managed_policies": ["ReadOnlyAccess"]},
         "statement 'NoS3' of inline policy no-s3 of group guard-no-s3 denies requests from 203.0.113.9 (needed for "
         "s3:ListBucket)"),
    ]
    moto_server.reset_recording()
    results = run_aws_tasks(tmp_path, moto_server, [
        dict(user_task(**base, **options), ignore_errors=True) for options, _message in cases] + [
        user_task(**base, inline_policies={"one-region": one_region}, managed_policies=["ReadOnlyAccess"])])
    for (options, message), result in zip(cases, results):
        assert result["failed"] is True, (options, result)
        assert message in result["msg"], (options, result["msg"])
    assert write_calls(moto_server.recorded_actions()[:moto_server.recorded_actions().index("iam:CreateUser")]) == []
    assert results[-1]["changed"] is True and "add inline policy one-region" in results[-1]["changes"]


def test_require_mfa_puts_and_removes_the_documented_policy(tmp_path, moto_server, iam):
    from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
    from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
    from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate

    (first, again) = run_aws_tasks(tmp_path, moto_server, [user_task(name="mfa-person", require_mfa=True)] * 2)
    assert first["changed"] is True and again["changed"] is False, (first, again)
    document = iam.get_user_policy(UserName="mfa-person", PolicyName="cloudburst-require-mfa")["PolicyDocument"]
    # IAM's answer to the user's requests: denied when signed without MFA, not by this policy when signed with it.
    for mfa, denied in (({}, True), ({"aws:MultiFactorAuthPresent": "true"}, False)):
        request = Request("ec2:RunInstances", "*", RequestContext(mfa, complete=True))
        assert evaluate(request, [("require-mfa", document)]).explicit_deny is denied

    # With the controller guarded, the guard does not evaluate aws:MultiFactorAuthPresent: for a user meant to make
    # the collection's requests (here the reads of ReadOnlyAccess), it fails closed.
    (refused,) = run_aws_tasks(tmp_path, moto_server, [user_task(
        name="mfa-guarded", require_mfa=True, managed_policies=["ReadOnlyAccess"],
        source_ip_allowlist=["203.0.113.0/24"], controller_ip="203.0.113.9")])
    assert refused.get("failed") and "lock" in refused["msg"], refused
    assert "mfa-guarded" not in [u["UserName"] for u in iam.list_users()["Users"]]

    moto_server.reset_recording()
    (removed,) = run_aws_tasks(tmp_path, moto_server, [user_task(name="mfa-person", require_mfa=False)])
    assert removed["changed"] is True
    assert "iam:DeleteUserPolicy" in moto_server.recorded_actions()
    assert iam.list_user_policies(UserName="mfa-person")["PolicyNames"] == []


def test_the_guard_refuses_the_four_shapes_that_passed_it_before(tmp_path, moto_server, iam):
    """Security issue item 5: each shape locks the controller out and was approved by the old guard."""
    elsewhere = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    arn = iam.create_policy(PolicyName="guard-shape-elsewhere", PolicyDocument=json.dumps(elsewhere))["Policy"]["Arn"]

    def deny_unless(operator, key, value):
        return {"Version": "2012-10-17", "Statement": [{"Sid": "EndpointOnly", "Effect": "Deny",
                                                        "Action": ["ec2:*", "iam:*"], "Resource": "*",
                                                        "Condition": {operator: {key: value}}}]}

    base = dict(name="guard-shapes", source_ip_allowlist=["203.0.113.0/24"], controller_ip="203.0.113.9")
    cases = [
        ({"managed_policies": [arn]}, "no Allow statement of the policies holds for requests from 203.0.113.9"),
        ({"managed_policies": ["AdministratorAccess"], "permissions_boundary": arn},
         "no Allow statement of the permissions boundary holds for requests from 203.0.113.9"),
        ({"managed_policies": ["AdministratorAccess"],
          "inline_policies": {"vpce": deny_unless("StringNotEquals", "aws:SourceVpce", "vpce-0123456789abcdef0")}},
         "statement 'EndpointOnly' of inline policy vpce cannot be evaluated here (StringNotEquals on aws:SourceVpce)"),
        ({"managed_policies": ["AdministratorAccess"],
          "inline_policies": {"vpc-ip": deny_unless("NotIpAddress", "aws:VpcSourceIp", "10.0.0.0/16")}},
         "statement 'EndpointOnly' of inline policy vpc-ip cannot be evaluated here (NotIpAddress on aws:VpcSourceIp)"),
    ]
    moto_server.reset_recording()
    results = run_aws_tasks(tmp_path, moto_server, [
        dict(user_task(**base, **options), ignore_errors=True) for options, _message in cases])
    for (options, message), result in zip(cases, results):
        assert result["failed"] is True, (options, result)
        assert message in result["msg"], (options, result["msg"])
    assert write_calls(moto_server.recorded_actions()) == []
    assert "guard-shapes" not in [u["UserName"] for u in iam.list_users()["Users"]]
