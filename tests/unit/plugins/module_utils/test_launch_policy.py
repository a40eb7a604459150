# -*- coding: utf-8 -*-
from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.filter.launch_policy import FilterModule
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import LaunchPolicyError
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import MANAGED_POLICY_LIMIT
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import build_launch_policy


def statements(document):
    return {s["Sid"]: s for s in document["Statement"]}


@pytest.mark.parametrize("prefixes", [["*"], [""], ['x", "arn:aws:iam::*:role/*'], ["a*"], ["bad prefix"],
                                      ["ünï-"], ["cloudburst-\n"], [], "cloudburst-", [None], ["x" * 65]])
def test_prefixes_that_would_widen_the_policy_are_refused(prefixes):
    with pytest.raises(LaunchPolicyError, match="prefix"):
        build_launch_policy(prefixes)


@pytest.mark.parametrize("keys", [[], ["aws:cloudformation:stack-name"], ["a\"b"], ["k" * 129], "cloudburst:cluster"])
def test_bad_tag_keys_are_refused(keys):
    with pytest.raises(LaunchPolicyError, match="tag key"):
        build_launch_policy(["cloudburst-"], keys)


def test_pass_role_is_bounded_by_prefix_and_service():
    document = build_launch_policy(["team.a-"])
    passing = statements(document)["IamPassPrefixedRolesToComputeOnly"]
    assert passing["Action"] == ["iam:PassRole"]
    assert passing["Resource"] == ["arn:aws:iam::*:role/team.a-*"]
    assert set(passing["Condition"]["StringEquals"]["iam:PassedToService"]) == {
        "ec2.amazonaws.com", "lambda.amazonaws.com", "spotfleet.amazonaws.com"}
    reading = statements(document)["IamReadPrefixedRolesAndProfiles"]
    assert "Condition" not in reading
    every = [a for s in document["Statement"] for a in s["Action"]]
    allowed_iam = ("iam:PassRole", "iam:GetRole", "iam:GetInstanceProfile")
    assert not [a for a in every if a.startswith("iam:") and a not in allowed_iam]


def test_mutating_ec2_actions_never_get_every_resource():
    document = build_launch_policy()
    for statement in document["Statement"]:
        if statement["Resource"] == "*":
            assert all(a.startswith("ec2:Describe") for a in statement["Action"]), statement["Sid"]
    tagged = statements(document)["Ec2ChangeTagged1"]
    assert "ec2:TerminateInstances" in tagged["Action"]
    assert tagged["Condition"] == {"StringLike": {"ec2:ResourceTag/cloudburst:cluster": "*"}}
    assert statements(document)["Ec2CreateTagged2"]["Condition"] == {
        "StringLike": {"aws:RequestTag/htcondor:AnnexName": "*"}}
    assert "ec2:CreateAction" in statements(document)["Ec2TagOnlyWhileCreating"]["Condition"]["StringEquals"]


def test_the_policy_fits_iam_limits_or_is_refused():
    assert len(json.dumps(build_launch_policy(), separators=(",", ":"))) <= MANAGED_POLICY_LIMIT
    with pytest.raises(LaunchPolicyError, match="over IAM's limit"):
        build_launch_policy([f"prefix{n}-" for n in range(12)])


def test_filter_returns_a_dict_and_reports_bad_input():
    launch = FilterModule().filters()["launch_policy"]
    assert launch(["cloudburst-"], ec2_tag_keys=["cloudburst:managed-by"])["Version"] == "2012-10-17"
    with pytest.raises(AnsibleFilterError, match="launch_policy: resource prefix '\\*'"):
        launch(["*"])


def test_the_network_ec2_network_makes_is_created_and_changed_only_with_tags():
    document = statements(build_launch_policy())
    create = document["Ec2CreateTaggedNetwork"]
    assert set(create["Action"]) == {"ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateInternetGateway",
                                     "ec2:CreateRouteTable"}
    assert create["Condition"] == {"ForAnyValue:StringEquals": {"aws:TagKeys": ["cloudburst:cluster",
                                                                                "htcondor:AnnexName"]}}
    change = document["Ec2ChangeTaggedNetwork"]
    assert {"ec2:DeleteVpc", "ec2:AttachInternetGateway", "ec2:CreateRoute", "ec2:AssociateRouteTable",
            "ec2:ModifySubnetAttribute", "ec2:DisassociateRouteTable", "ec2:DeleteRouteTable"} <= set(change["Action"])
    assert change["Condition"] == {"StringLike": {"ec2:ResourceTag/cloudburst:cluster": "*"}}
    tagging = document["Ec2TagOnlyWhileCreating"]
    assert {"CreateVpc", "CreateSubnet", "CreateInternetGateway", "CreateRouteTable"} <= set(
        tagging["Condition"]["StringEquals"]["ec2:CreateAction"])
    # No launch templates: spot goes on RunInstances.
    assert not [a for s in document.values() for a in s["Action"] if "LaunchTemplate" in a]
