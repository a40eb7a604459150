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


def test_pass_role_only_for_the_setups_instance_roles_and_only_to_ec2():
    document = build_launch_policy(["team.a-"])
    passing = statements(document)["IamPassInstanceRolesToEc2Only"]
    assert passing["Action"] == ["iam:PassRole"]
    assert passing["Resource"] == ["arn:aws:iam::*:role/AnnexSetup-instance-*"]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    every = [a for s in document["Statement"] for a in s["Action"]]
    assert [a for a in every if a.startswith("iam:")] == ["iam:PassRole"]
    # A Spark cluster's own role may be named, never with a wildcard and never the setup's lease role.
    spark = statements(build_launch_policy(["team.a-"], instance_roles=["cloudburst-spark-nodes"]))
    assert spark["IamPassInstanceRolesToEc2Only"]["Resource"] == [
        "arn:aws:iam::*:role/AnnexSetup-instance-*", "arn:aws:iam::*:role/cloudburst-spark-nodes"]
    for bad in (["spark-*"], ["AnnexSetup-lease-us-east-1"], "spark", [""]):
        with pytest.raises(LaunchPolicyError, match="instance role"):
            build_launch_policy(["team.a-"], instance_roles=bad)


def test_no_lambda_write_no_stack_write_and_lease_targets_only():
    """Item 3 of the security issue: nothing lets the launch user change code or configuration that runs as the
    setup's roles (tests/gates/test_setup_roles_out_of_reach.py asks the same of every role the setup makes)."""
    document = build_launch_policy()
    every = {a for s in document["Statement"] for a in s["Action"]}
    assert {a for a in every if a.startswith("lambda:")} == {"lambda:GetFunction", "lambda:InvokeFunction"}
    assert {a for a in every if a.startswith("cloudformation:")} == {"cloudformation:DescribeStacks"}
    assert not [a for a in every if a.split(":")[0] in ("scheduler", "states", "ssm", "iam") and a != "iam:PassRole"]
    by_sid = statements(document)
    assert by_sid["LambdaReadLeaseFunctions"]["Resource"] == [
        "arn:aws:lambda:*:*:function:AnnexSetup-odi-lease", "arn:aws:lambda:*:*:function:AnnexSetup-sfr-lease"]
    # The one function the user may invoke calls no AWS API (the connectivity check condor_annex -count asks).
    assert by_sid["LambdaInvokeConnectivityCheck"]["Resource"] == [
        "arn:aws:lambda:*:*:function:AnnexSetup-check-connectivity"]
    targets = by_sid["EventsTargetLeaseFunctionsOnly"]
    assert targets["Action"] == ["events:PutTargets"]
    assert targets["Condition"] == {"ForAllValues:ArnLike": {"events:TargetArn": by_sid["LambdaReadLeaseFunctions"][
        "Resource"]}}
    # Objects only under config-*: the lease function's code package beside them is out of reach.
    assert by_sid["S3AnnexConfigObjects"]["Resource"] == ["arn:aws:s3:::cloudburst-*/config-*",
                                                          "arn:aws:s3:::htcondorannex-*/config-*"]
    s3_writes = ("Create", "Delete", "PutB", "PutE")
    assert not [a for a in every if a.startswith("s3:") and a.split(":")[1].startswith(s3_writes)
                and a != "s3:DeleteObject"]


@pytest.mark.parametrize("prefix", ["AnnexSetup-", "annexsetup-lease-", "Annex", "a"])
def test_a_prefix_that_would_cover_the_setups_names_is_refused(prefix):
    with pytest.raises(LaunchPolicyError, match="would cover the annex setup's roles and lease functions"):
        build_launch_policy([prefix])


def test_mutating_ec2_actions_never_get_every_resource():
    document = build_launch_policy()
    for statement in document["Statement"]:
        if statement["Resource"] == "*":
            assert all(a.startswith("ec2:Describe") for a in statement["Action"]), statement["Sid"]
    tagged = statements(document)["Ec2ChangeTaggedInstances"]
    assert tagged["Action"] == ["ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"]
    assert tagged["Condition"] == {"StringLike": {"ec2:ResourceTag/cloudburst:cluster": "*"}}
    # An annex node (tagged htcondor:AnnexName) may be terminated, never stopped or started.
    assert statements(document)["Ec2TerminateTagged2"]["Action"] == ["ec2:TerminateInstances"]
    assert statements(document)["Ec2TerminateTagged2"]["Condition"] == {
        "StringLike": {"ec2:ResourceTag/htcondor:AnnexName": "*"}}
    assert statements(document)["Ec2LaunchTagged2"]["Condition"] == {
        "StringLike": {"aws:RequestTag/htcondor:AnnexName": "*"}}
    groups = statements(document)["Ec2ChangeTaggedSecurityGroups"]
    assert groups["Resource"] == ["arn:aws:ec2:*:*:security-group/*"] and not any("Egress" in a for a in groups["Action"])
    assert "ec2:CreateAction" in statements(document)["Ec2TagOnlyWhileCreating"]["Condition"]["StringEquals"]
    # Existing instances are retagged only to renew an annex's lease: that one key, on annex instances.
    assert statements(document)["Ec2RenewAnnexLeaseTag"]["Condition"] == {
        "StringLike": {"ec2:ResourceTag/htcondor:AnnexName": "*"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["cloudburst:lease-end"]}, "Null": {"aws:TagKeys": "false"}}


def test_the_policy_fits_iam_limits_or_is_refused():
    assert len(json.dumps(build_launch_policy(), separators=(",", ":"))) <= MANAGED_POLICY_LIMIT
    with pytest.raises(LaunchPolicyError, match="over IAM's limit"):
        build_launch_policy([f"prefix{n}-" for n in range(20)])


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
    # The VPC a subnet or route table is made in is authorized too, without the request's tags: by its own.
    in_vpc = document["Ec2CreateNetworkInTaggedVpcs"]
    assert (in_vpc["Action"], in_vpc["Resource"]) == (
        ["ec2:CreateSubnet", "ec2:CreateRouteTable"], ["arn:aws:ec2:*:*:vpc/*"])
    assert in_vpc["Condition"] == {"StringLike": {"ec2:ResourceTag/cloudburst:cluster": "*"}}
    assert create["Resource"] == [
        f"arn:aws:ec2:*:*:{kind}/*" for kind in ("vpc", "subnet", "internet-gateway", "route-table")]
    tagging = document["Ec2TagOnlyWhileCreating"]
    assert {"CreateVpc", "CreateSubnet", "CreateInternetGateway", "CreateRouteTable"} <= set(
        tagging["Condition"]["StringEquals"]["ec2:CreateAction"])
    # No launch templates and no Spot Fleet: spot goes on RunInstances.
    assert not [a for s in document.values() for a in s["Action"] if "LaunchTemplate" in a or "SpotFleet" in a]
