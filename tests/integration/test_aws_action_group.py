# -*- coding: utf-8 -*-
"""module_defaults for group/cloudburst.aws.aws reach amazon.aws's modules too (meta/runtime.yml)."""

from __future__ import annotations

from conftest import ansible_env, run_playbook, task_results


def test_group_defaults_point_amazon_aws_modules_at_the_local_endpoint(tmp_path, moto_server, boto3_session):
    # No AWS_ENDPOINT_URL in the environment: only module_defaults can send these calls to moto.
    env = ansible_env()
    plays = [{
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {
            "group/cloudburst.aws.aws": {
                "endpoint_url": moto_server.url,
                "region": "eu-west-1",
                "access_key": "{{ lookup('env', 'RIG_KEY_ID') }}",
                "secret_key": "{{ lookup('env', 'RIG_SECRET') }}",
            }
        },
        "tasks": [
            {"amazon.aws.aws_caller_info": {}, "register": "caller"},
            {"amazon.aws.s3_bucket": {"name": "cloudburst-group-defaults"}, "register": "bucket"},
        ],
    }]
    env.update(RIG_KEY_ID=moto_server.credentials["aws_access_key_id"],
               RIG_SECRET=moto_server.credentials["aws_secret_access_key"])
    result, parsed = run_playbook(tmp_path, plays, env)
    assert result.rc == 0, result.output
    caller, bucket = task_results(parsed)
    assert caller["arn"].endswith(":user/cloudburst-rig-admin")
    assert bucket["changed"] is True

    s3 = boto3_session.client("s3", endpoint_url=moto_server.url, region_name="eu-west-1")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "cloudburst-group-defaults" in names
    location = s3.get_bucket_location(Bucket="cloudburst-group-defaults")["LocationConstraint"]
    assert location == "eu-west-1"
    assert moto_server.credentials["aws_secret_access_key"] not in result.output
