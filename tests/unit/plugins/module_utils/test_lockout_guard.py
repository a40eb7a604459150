# -*- coding: utf-8 -*-
"""The lockout guard (lockout_guard.lockout_reasons): can the controller still make the requests the
collection needs, through every policy that applies?"""

from __future__ import annotations

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import build_launch_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.lockout_guard import GuardError
from ansible_collections.cloudburst.aws.plugins.module_utils.lockout_guard import lockout_reasons
from ansible_collections.cloudburst.aws.plugins.module_utils.lockout_guard import needed_requests
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import PolicyEvaluationError
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/cloudburst/annex-user"
CONTROLLER = "203.0.113.9"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
RESTRICTION = build_source_ip_policy(["203.0.113.0/24"])[0]
LAUNCH = build_launch_policy()


def guard(*policies, boundary=None, address=CONTROLLER, user=USER):
    labelled = [("the source IP restriction", RESTRICTION)] + [(f"p{i}", p) for i, p in enumerate(policies)]
    return lockout_reasons(labelled, address, user, boundary)


def statement(effect="Allow", action="*", resource="*", **extra):
    return dict({"Effect": effect, "Action": action, "Resource": resource}, **extra)


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def from_network(cidr, **extra):
    return statement(Condition={"IpAddress": {"aws:SourceIp": cidr}}, **extra)


def test_the_launch_user_and_an_administrator_keep_working_from_inside():
    assert guard(LAUNCH) == []
    assert guard(ADMIN) == []
    assert guard(LAUNCH, boundary=("boundary b", LAUNCH)) == []
    # A user the policies never meant to launch or to manage itself is not locked out by its address.
    assert guard() == []
    assert guard(policy(statement(action="sqs:SendMessage"))) == []


# --- the four shapes that passed the old guard and still locked the controller out ----------------------

def test_shape_a_a_broad_allow_for_another_network_beside_a_narrow_unconditional_allow():
    shape = policy(from_network("192.0.2.0/24"), statement(action="s3:GetObject"))
    (reason,) = guard(shape)
    assert reason.startswith(f"no Allow statement of the policies holds for requests from {CONTROLLER} (needed for "
                             "IAM calls on the user itself, ec2:DescribeInstances, ec2:RunInstances")
    # From the network the broad Allow names, the same policies work.
    assert guard(shape, address="192.0.2.7") != []  # outside the restriction's allow-list
    assert lockout_reasons([("p", shape)], "192.0.2.7", USER) == []


def test_shape_b_the_same_shape_in_the_permissions_boundary():
    shape = policy(from_network("192.0.2.0/24"), statement(action="s3:GetObject"))
    (reason,) = guard(LAUNCH, boundary=("permissions boundary b", shape))
    assert reason.startswith(f"no Allow statement of the permissions boundary holds for requests from {CONTROLLER} "
                             "(needed for ec2:DescribeInstances, ec2:RunInstances")
    assert lockout_reasons([("launch", LAUNCH)], "192.0.2.7", USER, ("permissions boundary b", shape)) == []


@pytest.mark.parametrize("operator, key, value", [
    ("StringNotEquals", "aws:SourceVpce", "vpce-0123456789abcdef0"),
    ("NotIpAddress", "aws:VpcSourceIp", "10.0.0.0/16"),
])
def test_shapes_c_and_d_a_deny_on_a_key_the_guard_does_not_know(operator, key, value):
    shape = policy(statement("Deny", ["ec2:RunInstances", "ec2:TerminateInstances"],
                             Sid="OnlyThroughTheEndpoint", Condition={operator: {key: value}}))
    (reason,) = guard(LAUNCH, shape)
    assert reason == (f"statement 'OnlyThroughTheEndpoint' of p1 cannot be evaluated here ({operator} on {key}) and "
                      f"may deny requests from {CONTROLLER} (needed for ec2:RunInstances, ec2:TerminateInstances)")


def test_an_allow_that_depends_on_a_key_the_guard_does_not_know_does_not_allow():
    endpoint_only = policy(statement(Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}))
    (reason,) = guard(endpoint_only)
    assert reason.startswith(f"no Allow statement of the policies is known to hold for requests from {CONTROLLER}; "
                             "cannot evaluate StringEquals on aws:SourceVpce (needed for")
    # One Allow that surely holds is enough.
    assert guard(endpoint_only, ADMIN) == []


# --- what the guard keeps from before ---------------------------------------------------------------------

def test_a_deny_in_another_policy_that_turns_on_the_address():
    office = policy(statement("Deny", Sid="OfficeOnly", Condition={"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))
    (reason,) = guard(ADMIN, office)
    assert reason.startswith(f"statement 'OfficeOnly' of p1 denies requests from {CONTROLLER} (needed for IAM calls")
    assert lockout_reasons([("admin", ADMIN), ("p1", office)], "192.0.2.9", USER) == []


def test_a_narrow_deny_of_what_the_collection_needs():
    no_s3 = policy(statement("Deny", "s3:*", Sid="NoS3", Condition={"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))
    assert guard(ADMIN, no_s3) == [
        f"statement 'NoS3' of p1 denies requests from {CONTROLLER} (needed for s3:PutObject, s3:ListBucket)"]
    # Whatever its reason: an unconditional Deny of requests the user is meant to make stops the collection.
    no_pass = policy(statement("Deny", "iam:PassRole"))
    assert guard(LAUNCH, no_pass) == [
        f"statement 1 of p1 denies requests from {CONTROLLER} (needed for iam:PassRole)"]
    # A Deny of what the user is not meant to do anyway is not the guard's business.
    assert guard(LAUNCH, policy(statement("Deny", "iam:*"))) != []  # PassRole is an IAM call
    assert guard(LAUNCH, policy(statement("Deny", "iam:Create*"))) == []
    assert guard(LAUNCH, policy(statement("Deny", "sqs:*"))) == []


@pytest.mark.parametrize("resource", ["*", "arn:*", "arn:aws:*", "arn:aws:*:*:*:*", ["arn:aws:s3:::x", "arn:*"]])
def test_every_spelling_of_a_deny_of_everything(resource):
    document = policy(statement("Deny", ["s3:GetObject", "*:*"], resource))
    (reason,) = guard(ADMIN, document)
    assert reason.startswith(f"statement 1 of p1 denies requests from {CONTROLLER} (needed for IAM calls on the user "
                             "itself, ec2:")


def test_a_policy_variable_the_guard_cannot_fill_counts_against_the_controller():
    document = policy(statement("Deny", resource="arn:aws:s3:::${aws:PrincipalTag/team}-*"))
    (reason,) = guard(ADMIN, document)
    assert reason.startswith("statement 1 of p1 cannot be evaluated here (its Resource (unreadable, or a policy "
                             "variable it cannot fill)) and may deny requests from 203.0.113.9 (needed for s3:")
    # One it can fill is matched: aws:username is the user's name.
    mine = policy(statement("Deny", resource="arn:aws:s3:::${aws:username}-*"))
    assert guard(ADMIN, mine) == []


@pytest.mark.parametrize("document", [
    policy(statement("Deny", resource="arn:aws:*:us-east-1:*")),  # the other region stays open
    policy(statement("Deny", resource="arn:aws:*:*:999999999999:*")),  # another account's resources
    policy(statement("Deny", resource="arn:aws-cn:*")),  # another partition's
    policy(statement("Deny", "[a-z]*")),  # IAM has no character classes: no action starts with "["
    policy(statement("Deny", resource="arn:AWS:*")),  # resources match case-sensitively
], ids=["one-region", "other-account", "other-partition", "brackets", "upper-case"])
def test_a_deny_that_the_collections_requests_escape(document):
    assert guard(ADMIN, document) == []


def test_a_deny_of_a_whole_region_elsewhere_and_a_partition_of_its_own():
    cn_user = f"arn:aws-cn:iam::{ACCOUNT}:user/annex-user"
    cn = policy(statement("Deny", resource="arn:aws-cn:*"))
    assert lockout_reasons([("admin", ADMIN), ("p", cn)], CONTROLLER, cn_user) != []
    # Only the IAM calls on the user (no regional request) in a partition without known regions.
    iso_user = f"arn:aws-iso:iam::{ACCOUNT}:user/annex-user"
    reasons = lockout_reasons([("admin", ADMIN), ("p", policy(statement("Deny", resource="arn:aws-iso:*")))],
                              CONTROLLER, iso_user)
    assert reasons == [f"statement 1 of p denies requests from {CONTROLLER} (needed for IAM calls on the user itself)"]


def test_denies_split_over_policies_each_stop_what_they_cover():
    one = policy(statement("Deny", resource="arn:aws:s3:::*", Sid="NoS3"))
    two = policy(statement("Deny", resource=f"arn:aws:*:*:{ACCOUNT}:*", Sid="NotHere"))
    reasons = guard(ADMIN, one, two)
    assert f"statement 'NoS3' of p1 denies requests from {CONTROLLER} (needed for s3:PutObject, s3:ListBucket)" \
        in reasons
    assert reasons[0].startswith(f"statement 'NotHere' of p2 denies requests from {CONTROLLER} (needed for IAM calls")
    assert len(reasons) == 2


def test_mfa_is_a_condition_the_guard_cannot_evaluate():
    mfa = policy(statement("Deny", NotAction="iam:*", Sid="NeedMfa", action=None,
                           Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}))
    del mfa["Statement"][0]["Action"]
    (reason,) = guard(ADMIN, mfa)
    assert reason.startswith("statement 'NeedMfa' of p1 cannot be evaluated here (BoolIfExists on "
                             "aws:MultiFactorAuthPresent) and may deny requests from 203.0.113.9 (needed for ec2:")


def test_a_boundary_that_allows_nothing_from_the_controller():
    office_only = policy(from_network("192.0.2.0/24"))
    assert guard(ADMIN, boundary=("boundary b", office_only))[0].startswith(
        f"no Allow statement of the permissions boundary holds for requests from {CONTROLLER}")
    assert guard(ADMIN, boundary=("boundary b", ADMIN)) == []
    deny_only = policy(statement("Deny", Condition={"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))
    assert [r.split(" (needed")[0] for r in guard(ADMIN, boundary=("boundary b", deny_only))] == [
        f"statement 1 of boundary b denies requests from {CONTROLLER}",
        f"no Allow statement of the permissions boundary holds for requests from {CONTROLLER}"]


def test_the_requests_carry_what_the_collection_sends():
    by_action = {}
    for what, variants in needed_requests(USER, CONTROLLER):
        by_action.setdefault(what, []).extend(variants)
    (run, *_rest) = [r for r in by_action["ec2:RunInstances"] if r.resource.endswith("instance/*")]
    assert run.context.lookup("aws:RequestTag/cloudburst:cluster")[0] == "present"
    assert run.context.lookup("aws:RequestTag/team") == ("absent", [])
    assert run.context.lookup("aws:SourceVpce") == ("unknown", [])
    assert {r.resource.split(":")[3] for r in by_action["ec2:RunInstances"]} == {"us-east-1", "eu-west-1"}
    (pass_role, _other) = by_action["iam:PassRole"]
    assert pass_role.resource == f"arn:aws:iam::{ACCOUNT}:role/AnnexSetup-instance-us-east-1"


@pytest.mark.parametrize("address, user, message", [
    ("203.0.113.0/24", USER, "is not an IP address"),
    (CONTROLLER, "annex-user", "is not a user ARN"),
])
def test_bad_input_is_refused(address, user, message):
    with pytest.raises(GuardError, match=message):
        lockout_reasons([("admin", ADMIN)], address, user)


def test_a_statement_that_is_neither_allow_nor_deny_is_refused():
    with pytest.raises(PolicyEvaluationError, match="has Effect 'deny', neither Allow nor Deny"):
        guard(ADMIN, policy({"Effect": "deny", "Action": "*", "Resource": "*"}))
