# -*- coding: utf-8 -*-
"""The iam_restricted_user role through playbooks/iam_restricted_user.yml, as a user would run it."""

from __future__ import annotations

import json
import os
import re
import stat

from conftest import ansible_env, run

import rig

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import source_ip_decision


def recap_changed(output):
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def test_role_converges_then_changes_nothing(tmp_path, moto_server, checkip, boto3_session):
    checkip.set_answers([(200, "11.22.33.44\n", 0)])  # public_ip_info refuses non-global answers
    home = tmp_path / "home"
    env = ansible_env(aws=moto_server.env, extra={
        "CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url,
        "CLOUDBURST_CHECKIP_URL": checkip.url,
        "CLOUDBURST_CREDENTIALS_HOME": str(home),
    })
    playbook = ["ansible-playbook", "playbooks/iam_restricted_user.yml", "-e", "@playbooks/vars/demo.yml",
                "-e", "iam_restricted_user_name=role-user"]

    checked = run(playbook + ["--check"], env=env)
    assert checked.rc == 0, checked.output[-3000:]
    assert not home.exists()

    first = run(playbook, env=env)
    assert first.rc == 0, first.output[-3000:]
    assert recap_changed(first.stdout) == 3
    assert "Usable only from: 11.22.33.44/32" in first.stdout
    second = run(playbook, env=env)
    assert second.rc == 0 and recap_changed(second.stdout) == 0, second.output[-3000:]

    iam = boto3_session.client("iam", endpoint_url=moto_server.url)
    attached = iam.list_attached_user_policies(UserName="role-user")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["cloudburst-launch"]
    launch = iam.get_policy_version(PolicyArn=attached[0]["PolicyArn"], VersionId="v1")["PolicyVersion"]["Document"]
    actions = [a for s in launch["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert "*" not in actions and "iam:*" not in actions and "iam:CreateRole" not in actions
    restriction = iam.get_user_policy(UserName="role-user", PolicyName="cloudburst-source-ip-allow-list")[
        "PolicyDocument"]
    admin = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert source_ip_decision([admin, restriction], "11.22.33.44") == "Allow"
    assert source_ip_decision([admin, restriction], "11.22.33.45") == "Deny"

    private = home / ".condor" / "privateKeyFile"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert (home / ".condor" / "publicKeyFile").read_text().strip() in (home / ".aws" / "credentials").read_text()
    assert private.read_text().strip() not in first.output + second.output + checked.output


def test_role_rejects_a_key_written_nowhere(moto_server, checkip):
    env = ansible_env(aws=moto_server.env, extra={"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url,
                                                  "CLOUDBURST_CHECKIP_URL": checkip.url})
    result = run(["ansible-playbook", "playbooks/iam_restricted_user.yml", "-e",
                  json.dumps({"iam_restricted_user_write_condor_files": False,
                              "iam_restricted_user_write_aws_profile": False})], env=env)
    assert result.rc != 0 and "a key that is written nowhere cannot be used" in result.stdout


def test_role_with_an_allowlist_asks_no_checkip(tmp_path, moto_server, checkip, boto3_session):
    """docs/iam.md: with an allow-list the role learns no address; the checkip answerer is never asked."""
    home = tmp_path / "home"
    env = ansible_env(aws=moto_server.env, extra={"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url,
                                                  "CLOUDBURST_CHECKIP_URL": checkip.url,
                                                  "CLOUDBURST_CREDENTIALS_HOME": str(home)})
    result = run(["ansible-playbook", "playbooks/iam_restricted_user.yml", "-e", "@playbooks/vars/demo.yml", "-e",
                  json.dumps({"iam_restricted_user_name": "listed-user",
                              "iam_restricted_user_policy_name": "listed-launch",
                              "iam_restricted_user_allowlist": ["198.51.100.0/24"],
                              "iam_restricted_user_controller_ip": "198.51.100.7",
                              "iam_restricted_user_resource_prefixes": ["team.a-"],
                              "iam_restricted_user_ec2_tag_keys": ["cloudburst:managed-by"]})], env=env)
    assert result.rc == 0, result.output[-3000:]
    assert checkip.requests == 0
    assert "Usable only from: 198.51.100.0/24" in result.stdout
    iam = boto3_session.client("iam", endpoint_url=moto_server.url)
    attached = iam.list_attached_user_policies(UserName="listed-user")["AttachedPolicies"]
    launch = iam.get_policy_version(PolicyArn=attached[0]["PolicyArn"], VersionId="v1")["PolicyVersion"]["Document"]
    by_sid = {s["Sid"]: s for s in launch["Statement"]}
    assert by_sid["IamPassInstanceRolesToEc2Only"]["Resource"] == ["arn:aws:iam::*:role/AnnexSetup-instance-*"]
    assert by_sid["S3AnnexConfigObjects"]["Resource"] == ["arn:aws:s3:::team.a-*/config-*"]
    assert by_sid["Ec2ChangeTaggedInstances"]["Condition"] == {
        "StringLike": {"ec2:ResourceTag/cloudburst:managed-by": "*"}}
    assert "Ec2LaunchTagged2" not in by_sid and "Ec2TerminateTagged2" not in by_sid


def role_run(moto_server, checkip, home, variables, checkip_url=None):
    env = ansible_env(aws=moto_server.env, extra={"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url,
                                                  "CLOUDBURST_CHECKIP_URL": checkip_url or checkip.url,
                                                  "CLOUDBURST_CREDENTIALS_HOME": str(home)})
    return run(["ansible-playbook", "playbooks/iam_restricted_user.yml", "-e", "@playbooks/vars/demo.yml", "-e",
                json.dumps(variables)], env=env)


def user_names(boto3_session, moto_server):
    return [u["UserName"] for u in boto3_session.client("iam", endpoint_url=moto_server.url).list_users()["Users"]]


def test_role_passes_allow_private_to_public_ip_info(tmp_path, moto_server, checkip, boto3_session):
    """A controller that reaches AWS over a private network: checkip's private answer is refused by default,
    before any write, and accepted with iam_restricted_user_allow_private."""
    checkip.set_answers([(200, "10.1.2.3\n", 0)])
    names = {"iam_restricted_user_name": "private-user", "iam_restricted_user_policy_name": "private-launch"}
    refused = role_run(moto_server, checkip, tmp_path / "refused", names)
    assert refused.rc != 0 and "answered 10.1.2.3, which is not a globally routable address" in refused.stdout
    assert "private-user" not in user_names(boto3_session, moto_server)

    allowed = role_run(moto_server, checkip, tmp_path / "home", dict(names, iam_restricted_user_allow_private=True))
    assert allowed.rc == 0, allowed.output[-3000:]
    assert "Usable only from: 10.1.2.3/32" in allowed.stdout
    assert checkip.requests == 2


def test_role_passes_allow_wide_prefixes_to_the_allowlist_checks(tmp_path, moto_server, checkip, boto3_session):
    """An allow-list wider than /8 is refused by default, before any write, and applied with
    iam_restricted_user_allow_wide_prefixes (the role's own check and iam_user's, in preflight and for real)."""
    names = {"iam_restricted_user_name": "wide-user", "iam_restricted_user_policy_name": "wide-launch",
             "iam_restricted_user_allowlist": ["10.0.0.0/7"], "iam_restricted_user_controller_ip": "10.0.0.5"}
    refused = role_run(moto_server, checkip, tmp_path / "refused", names)
    assert refused.rc != 0 and "'10.0.0.0/7' is wider than /8" in refused.stdout, refused.output[-3000:]
    assert "wide-user" not in user_names(boto3_session, moto_server)

    allowed = role_run(moto_server, checkip, tmp_path / "home", dict(names, iam_restricted_user_allow_wide_prefixes=True))
    assert allowed.rc == 0, allowed.output[-3000:]
    iam = boto3_session.client("iam", endpoint_url=moto_server.url)
    restriction = iam.get_user_policy(UserName="wide-user", PolicyName="cloudburst-source-ip-allow-list")[
        "PolicyDocument"]
    assert restriction["Statement"][0]["Condition"]["NotIpAddress"]["aws:SourceIp"] == ["10.0.0.0/7"]
    assert checkip.requests == 0


def test_role_passes_allow_insecure_url_to_public_ip_info(tmp_path, moto_server, checkip, boto3_session):
    """A plain-http checkip URL that is not a loopback address (here the rig's, by the name localhost) is
    refused before any request and any write, and asked with iam_restricted_user_checkip_allow_insecure_url."""
    by_name = checkip.url.replace("127.0.0.1", "localhost")
    names = {"iam_restricted_user_name": "insecure-user", "iam_restricted_user_policy_name": "insecure-launch"}
    refused = role_run(moto_server, checkip, tmp_path / "refused", names, checkip_url=by_name)
    assert refused.rc != 0 and f"url '{by_name}' is plain http://" in refused.stdout, refused.output[-3000:]
    assert checkip.requests == 0 and "insecure-user" not in user_names(boto3_session, moto_server)

    allowed = role_run(moto_server, checkip, tmp_path / "home",
                       dict(names, iam_restricted_user_checkip_allow_insecure_url=True), checkip_url=by_name)
    assert allowed.rc == 0, allowed.output[-3000:]
    assert f"Usable only from: {rig.DEFAULT_CHECKIP_ANSWER}/32" in allowed.stdout and checkip.requests == 1
