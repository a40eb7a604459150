# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_managed_policy (more in test_iam_user.py) and IAM's default region, against moto."""

from __future__ import annotations

import json

import pytest
from conftest import ansible_env, run_playbook, task_results

READ_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


@pytest.fixture
def iam(boto3_session, moto_server):
    return boto3_session.client("iam", endpoint_url=moto_server.url)


def test_iam_modules_need_no_region_with_a_custom_endpoint(tmp_path, moto_server, iam):
    """IAM is global: endpoint_url and credentials alone are enough, with no region anywhere."""
    iam.create_user(UserName="regionless")
    env = ansible_env(extra={"AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                             "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials")})
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    connection = {"endpoint_url": moto_server.url,
                  "access_key": moto_server.credentials["aws_access_key_id"],
                  "secret_key": moto_server.credentials["aws_secret_access_key"]}
    tasks = [
        {"cloudburst.aws.iam_managed_policy": {"name": "regionless-policy", "policy": READ_S3}},
        {"cloudburst.aws.iam_access_key": {"user_name": "regionless", "dest": str(tmp_path / "creds")}},
        {"cloudburst.aws.iam_access_key_info": {"user_name": "regionless"}},
        {"cloudburst.aws.iam_user_info": {"name": "regionless"}},
        {"cloudburst.aws.iam_managed_policy": {"name": "regionless-policy", "state": "absent"}},
        {"cloudburst.aws.iam_user": {"name": "regionless-2"}},
        {"cloudburst.aws.iam_user": {"name": "regionless-2", "state": "absent"}},
    ]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks,
             "module_defaults": {"group/cloudburst.aws.aws": connection}}]
    completed, parsed = run_playbook(tmp_path, play, env)
    assert parsed is not None, completed.output[-4000:]
    results = task_results(parsed)
    assert [r.get("failed", False) for r in results] == [False] * 7, [r.get("msg") for r in results]
    assert results[0]["policy"]["arn"] == "arn:aws:iam::123456789012:policy/regionless-policy"
    assert len(results[2]["access_keys"]) == 1 and results[3]["users"][0]["user_name"] == "regionless"
    assert results[4]["changed"] is True and results[5]["changed"] is True and results[6]["changed"] is True


def test_absent_detaches_from_every_user_group_and_role(tmp_path, moto_server, iam):
    """More attachments than one page of ListEntitiesForPolicy holds on AWS (100)."""
    from conftest import run_aws_tasks

    (created,) = run_aws_tasks(tmp_path, moto_server, [
        {"cloudburst.aws.iam_managed_policy": {"name": "widely-attached", "policy": READ_S3}, "register": "out"}])
    arn = created["policy"]["arn"]
    users = [f"holder-{n:03d}" for n in range(105)]
    for name in users:
        iam.create_user(UserName=name, Path="/holders/")
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    iam.create_group(GroupName="holder-group")
    iam.attach_group_policy(GroupName="holder-group", PolicyArn=arn)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="holder-role", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="holder-role", PolicyArn=arn)

    (absent,) = run_aws_tasks(tmp_path, moto_server, [
        {"cloudburst.aws.iam_managed_policy": {"name": "widely-attached", "state": "absent"}, "register": "out"}])
    detached = [c for c in absent["changes"] if c.startswith("detach from ")]
    assert len(detached) == 107 and "detach from role holder-role" in detached
    assert all(iam.list_attached_user_policies(UserName=name)["AttachedPolicies"] == [] for name in users)
    for name in users:
        iam.delete_user(UserName=name)


def test_absent_survives_answers_lost_after_aws_acted(tmp_path, moto_server, iam):
    """A detach or delete retried after its answer was lost finds its object gone: that is done, not a failure."""
    from conftest import run_aws_tasks
    from rig.faultproxy import FaultProxy, Rule

    (created,) = run_aws_tasks(tmp_path, moto_server, [
        {"cloudburst.aws.iam_managed_policy": {"name": "lossy", "policy": READ_S3}, "register": "out"}])
    iam.create_user(UserName="lossy-holder")
    iam.attach_user_policy(UserName="lossy-holder", PolicyArn=created["policy"]["arn"])
    with FaultProxy(moto_server.url) as proxy:
        proxy.set_rules(Rule("lose", action="DetachUserPolicy"), Rule("lose", action="DeletePolicy"))
        (absent,) = run_aws_tasks(tmp_path, proxy_endpoint(proxy, moto_server), [
            {"cloudburst.aws.iam_managed_policy": {"name": "lossy", "state": "absent"}, "register": "out"}])
        assert len(proxy.injected("lose")) == 2
    assert absent.get("failed") is not True and absent["changed"] is True, absent.get("msg")
    assert iam.list_attached_user_policies(UserName="lossy-holder")["AttachedPolicies"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_policy(PolicyArn=created["policy"]["arn"])


def proxy_endpoint(proxy, moto_server):
    class Endpoint:
        url = proxy.url
        env = moto_server.env

    return Endpoint
