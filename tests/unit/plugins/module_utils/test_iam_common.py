# -*- coding: utf-8 -*-
"""IAM's default region and the paginated ListEntitiesForPolicy.

moto answers ListEntitiesForPolicy in one page whatever the count, so the second page is given here by
botocore's Stubber: the one place where moto cannot show the behaviour.
"""
from __future__ import annotations

import boto3
from botocore.stub import Stubber

from ansible_collections.cloudburst.aws.plugins.module_utils import iam_common
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_managed_policy import list_entities_for_policy


class FakeModule:
    def __init__(self, region):
        self.region = region
        self.calls = []

    def client(self, service, retry_decorator=None, **extra):
        self.calls.append((service, extra, retry_decorator is not None))
        return service


def test_region_defaults_to_us_east_1_only_when_none_is_given():
    regionless, regional = FakeModule(None), FakeModule("eu-west-1")
    iam_common.iam_client(regionless)
    iam_common.sts_client(regional)
    assert regionless.calls == [("iam", {"region": "us-east-1"}, True)]
    assert regional.calls == [("sts", {}, True)]


def test_the_create_client_has_no_retries_at_all():
    module = FakeModule(None)
    iam_common.iam_client_without_retries(module)
    ((service, extra, wrapped),) = module.calls
    assert service == "iam" and wrapped is False and extra["region"] == "us-east-1"
    assert extra["config"].retries == {"mode": "standard", "total_max_attempts": 1}


def test_list_entities_for_policy_reads_every_page():
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="unit", aws_secret_access_key="unit")
    arn = "arn:aws:iam::123456789012:policy/p"
    with Stubber(client) as stub:
        stub.add_response("list_entities_for_policy", {
            "PolicyUsers": [{"UserName": "u1", "UserId": "AIDAUSERONE00000001"}],
            "PolicyGroups": [], "PolicyRoles": [], "IsTruncated": True, "Marker": "page-2"}, {"PolicyArn": arn})
        stub.add_response("list_entities_for_policy", {
            "PolicyUsers": [{"UserName": "u2", "UserId": "AIDAUSERTWO00000002"}],
            "PolicyGroups": [{"GroupName": "g", "GroupId": "AGPAGROUP0000000001"}],
            "PolicyRoles": [{"RoleName": "r", "RoleId": "AROAROLE00000000001"}], "IsTruncated": False},
            {"PolicyArn": arn, "Marker": "page-2"})
        entities = list_entities_for_policy(client, arn)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["u1", "u2"]
    assert entities["PolicyGroups"][0]["GroupName"] == "g" and entities["PolicyRoles"][0]["RoleName"] == "r"
