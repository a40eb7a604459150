# -*- coding: utf-8 -*-
"""`module_defaults: group/cloudburst.aws.aws` reaches every AWS module of this collection, and amazon.aws's.

Nothing in the environment points at the endpoint or holds credentials: every AWS_* variable is removed,
so a module the group does not reach goes to real AWS without credentials, and fails.
"""

from __future__ import annotations

import ast
import glob
import os

import yaml

from conftest import REPO_ROOT, ansible_env, run_playbook, task_results


def aws_group_modules():
    with open(os.path.join(REPO_ROOT, "meta", "runtime.yml")) as stream:
        group = yaml.safe_load(stream)["action_groups"]["aws"]
    return sorted(entry for entry in group if isinstance(entry, str))


def modules_that_call_aws():
    """Modules built on AnsibleAWSModule (directly or as CloudburstAWSModule): each of them belongs in the group."""
    found = []
    for path in glob.glob(os.path.join(REPO_ROOT, "plugins", "modules", "*.py")):
        with open(path) as stream:
            tree = ast.parse(stream.read())
        if any(isinstance(node, ast.Name) and node.id in ("AnsibleAWSModule", "CloudburstAWSModule")
               for node in ast.walk(tree)):
            found.append(os.path.basename(path)[:-3])
    return sorted(found)


def environment_without_aws():
    env = ansible_env()
    for name in list(env):
        if name.startswith("AWS_") or name.startswith("CLOUDBURST_AWS"):
            del env[name]
    return env


def group_defaults(moto_server, region):
    return {
        "endpoint_url": moto_server.url,
        "region": region,
        "access_key": "{{ lookup('env', 'RIG_KEY_ID') }}",
        "secret_key": "{{ lookup('env', 'RIG_SECRET') }}",
    }


def run_with_group_defaults(tmp_path, moto_server, tasks, region="eu-west-1"):
    env = environment_without_aws()
    env.update(RIG_KEY_ID=moto_server.credentials["aws_access_key_id"],
               RIG_SECRET=moto_server.credentials["aws_secret_access_key"])
    plays = [{
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/cloudburst.aws.aws": group_defaults(moto_server, region)},
        "tasks": tasks,
    }]
    result, parsed = run_playbook(tmp_path, plays, env)
    assert parsed is not None, result.output[-4000:]
    return result, task_results(parsed)


def test_every_aws_module_is_in_the_group():
    assert modules_that_call_aws(), "no AWS module found"
    assert modules_that_call_aws() == aws_group_modules()


def test_group_defaults_reach_every_module_of_the_collection(tmp_path, moto_server, boto3_session):
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(event, context):\n    return event\n")
    calls = {
        "iam_user": {"name": "cb-group-user"},
        "iam_user_info": {"name": "cb-group-user"},
        "iam_managed_policy": {"name": "cb-group-policy", "policy": policy},
        "iam_access_key": {"user_name": "cb-group-user", "dest": str(tmp_path / "credentials")},
        "iam_access_key_info": {"user_name": "cb-group-user"},
        "iam_mfa_device": {"user_name": "cb-group-user", "seed_file": str(tmp_path / "mfa-seed")},
        "sts_session": {"session_profile": "cb-group-mfa", "credentials_file": str(tmp_path / "session"),
                        "serial_number": "arn:aws:iam::123456789012:mfa/cb-group-user", "mfa_code": "246802"},
        "iam_audit": {"max_key_age_days": 30},
        "htcondor_annex_reaper": {"annex_name": "cb-group-annex"},
        "htcondor_annex_status": {"annex_name": "cb-group-annex"},
        "cloudformation_stack": {"name": "cb-group-stack", "capabilities": [], "template_body":
                                 "Resources: {Bucket: {Type: AWS::S3::Bucket, Properties: {BucketName: cb-group-package}}}"},
        "s3_lambda_package": {"src": str(handler), "bucket": "cb-group-package"},
        "htcondor_annex_check": {"config_file": str(tmp_path / "user_config")},
        "ec2_instance_group": {"cluster": "cb-group", "role": "worker", "count": 0,
                               "launch_records": str(tmp_path / "launched" / "cb-group.json")},
        "ec2_instance_group_info": {"cluster": "cb-group", "launch_records": str(tmp_path / "launched" / "cb-group.json")},
        "events_retarget": {"moves": [{"from": "arn:aws:lambda:eu-west-1:123456789012:function:cb-group-old",
                                       "to": "arn:aws:lambda:eu-west-1:123456789012:function:cb-group-new"}]},
        "access_check": {},
    }
    assert sorted(calls) == aws_group_modules(), "add a call for every module in the group"
    order = ["iam_user", "iam_user_info", "iam_managed_policy", "iam_access_key", "iam_access_key_info",
             "iam_mfa_device", "sts_session", "iam_audit", "htcondor_annex_reaper", "htcondor_annex_status",
             "cloudformation_stack", "s3_lambda_package", "htcondor_annex_check",
             "ec2_instance_group", "ec2_instance_group_info", "events_retarget", "access_check"]
    tasks = [{"name": name, f"cloudburst.aws.{name}": calls[name]} for name in order]
    result, results = run_with_group_defaults(tmp_path, moto_server, tasks)
    assert result.rc == 0, result.output[-4000:]
    by_name = dict(zip(order, results))
    assert by_name["iam_user"]["changed"] is True
    assert [u["user_name"] for u in by_name["iam_user_info"]["users"]] == ["cb-group-user"]
    assert by_name["iam_managed_policy"]["changed"] is True
    assert len(by_name["iam_access_key_info"]["access_keys"]) == 1
    assert by_name["htcondor_annex_reaper"]["terminated"] == [] and by_name["htcondor_annex_status"]["annexes"] == []
    assert by_name["cloudformation_stack"]["stack"]["status"] == "CREATE_COMPLETE"
    assert by_name["s3_lambda_package"]["changed"] is True
    assert by_name["htcondor_annex_check"]["ok"] is False and by_name["htcondor_annex_check"]["region"] == "eu-west-1"
    assert by_name["ec2_instance_group"]["changed"] is False and by_name["ec2_instance_group"]["instance_ids"] == []
    assert by_name["ec2_instance_group_info"]["instance_ids"] == []
    assert by_name["events_retarget"]["changed"] is False and by_name["events_retarget"]["retargeted"] == []
    assert by_name["access_check"]["arn"].endswith(":user/cloudburst-rig-admin") and "eu-west-1" in by_name[
        "access_check"]["regions"]

    iam = boto3_session.client("iam", endpoint_url=moto_server.url)
    keys = iam.list_access_keys(UserName="cb-group-user")["AccessKeyMetadata"]
    assert keys[0]["AccessKeyId"] in (tmp_path / "credentials").read_text()
    assert moto_server.credentials["aws_secret_access_key"] not in result.output


def test_iam_modules_need_no_region_against_a_custom_endpoint(tmp_path, moto_server):
    # IAM is global; the collection's IAM modules default the region (documented) instead of failing.
    env = environment_without_aws()
    env.update(RIG_KEY_ID=moto_server.credentials["aws_access_key_id"],
               RIG_SECRET=moto_server.credentials["aws_secret_access_key"])
    defaults = group_defaults(moto_server, None)
    del defaults["region"]
    plays = [{"hosts": "localhost", "gather_facts": False,
              "module_defaults": {"group/cloudburst.aws.aws": defaults},
              "tasks": [{"cloudburst.aws.iam_user_info": {"name": "cb-no-region"}}]}]
    result, parsed = run_playbook(tmp_path, plays, env)
    assert result.rc == 0, result.output[-4000:]
    assert task_results(parsed)[0]["users"] == []


def test_group_defaults_point_amazon_aws_modules_at_the_local_endpoint(tmp_path, moto_server, boto3_session):
    tasks = [
        {"amazon.aws.aws_caller_info": {}, "register": "caller"},
        {"amazon.aws.s3_bucket": {"name": "cloudburst-group-defaults"}, "register": "bucket"},
    ]
    result, (caller, bucket) = run_with_group_defaults(tmp_path, moto_server, tasks)
    assert result.rc == 0, result.output
    assert caller["arn"].endswith(":user/cloudburst-rig-admin")
    assert bucket["changed"] is True

    s3 = boto3_session.client("s3", endpoint_url=moto_server.url, region_name="eu-west-1")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "cloudburst-group-defaults" in names
    location = s3.get_bucket_location(Bucket="cloudburst-group-defaults")["LocationConstraint"]
    assert location == "eu-west-1"
    assert moto_server.credentials["aws_secret_access_key"] not in result.output
