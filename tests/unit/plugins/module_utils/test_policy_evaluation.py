# -*- coding: utf-8 -*-
"""policy_evaluation and policy_conditions: AWS's evaluation logic, one rule at a time."""

from __future__ import annotations

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import condition_state
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import PolicyEvaluationError
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate

BUCKET = "arn:aws:s3:::cloudburst-annex/config-a/annex.json"
KNOWN = RequestContext({
    "aws:SourceIp": "203.0.113.9", "aws:username": "alice", "aws:TagKeys": ["team", "Name"],
    "aws:RequestTag/team": "Genomics", "aws:EpochTime": "1700000000", "aws:CurrentTime": "2023-11-14T22:13:20Z",
    "aws:SecureTransport": "true", "aws:PrincipalArn": "arn:aws:iam::123456789012:user/alice",
    "s3:max-keys": "10", "aws:ViaAWSService": "false",
}, absent=["aws:SourceVpce"], absent_prefixes=["aws:ResourceTag/"])
EMPTY_TAGS = RequestContext({"aws:TagKeys": []}, complete=True)


@pytest.mark.parametrize("operator, key, value, expected", [
    # String operators: case-sensitive, IgnoreCase, wildcards in ...Like only, policy variables.
    ("StringEquals", "aws:RequestTag/team", "Genomics", True),
    ("StringEquals", "aws:RequestTag/team", "genomics", False),
    ("StringEqualsIgnoreCase", "aws:RequestTag/team", "genomics", True),
    ("StringNotEquals", "aws:RequestTag/team", ["Physics", "Genomics"], False),
    ("StringNotEqualsIgnoreCase", "aws:RequestTag/team", "physics", True),
    ("StringLike", "aws:PrincipalArn", "arn:aws:iam::*:user/a?ice", True),
    ("StringEquals", "aws:PrincipalArn", "arn:aws:iam::*:user/alice", False),
    ("StringNotLike", "aws:PrincipalArn", "*:user/b*", True),
    ("StringEquals", "aws:PrincipalArn", "arn:aws:iam::123456789012:user/${aws:username}", True),
    ("StringLike", "aws:RequestTag/team", "${aws:SourceVpce, 'Genomics'}", True),  # absent: the default
    # Numeric and Date.
    ("NumericLessThan", "s3:max-keys", "11", True),
    ("NumericGreaterThanEquals", "s3:max-keys", "10.0", True),
    ("NumericNotEquals", "s3:max-keys", ["10", "12"], False),
    ("DateGreaterThan", "aws:CurrentTime", "2023-01-01T00:00:00Z", True),
    ("DateLessThan", "aws:EpochTime", "2023-11-14T22:13:19Z", False),
    # Bool, IP addresses, ARNs.
    ("Bool", "aws:SecureTransport", "True", True),
    ("Bool", "aws:SecureTransport", False, False),
    ("IpAddress", "aws:SourceIp", ["192.0.2.0/24", "203.0.113.0/24"], True),
    ("IpAddress", "aws:SourceIp", "2001:db8::/32", False),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.7/24", False),  # host bits are ignored
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:user/*", True),
    ("ArnEquals", "aws:PrincipalArn", "arn:aws:iam::123456789012:user/a*", True),
    ("ArnNotLike", "aws:PrincipalArn", "arn:aws:iam::*:role/*", True),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*", False),  # fewer than six parts never matches
    # An absent key: false, except for negated operators, ...IfExists and Null.
    ("StringEquals", "aws:SourceVpce", "vpce-1", False),
    ("StringNotEquals", "aws:SourceVpce", "vpce-1", True),
    ("StringEqualsIfExists", "aws:SourceVpce", "vpce-1", True),
    ("NotIpAddressIfExists", "aws:SourceVpce", "10.0.0.0/8", True),
    ("IpAddress", "aws:ResourceTag/x", "10.0.0.0/8", False),
    ("Null", "aws:SourceVpce", "true", True),
    ("Null", "aws:RequestTag/team", "true", False),
    ("Null", "aws:RequestTag/team", "false", True),
    # Multivalued keys.
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["Name", "Owner"], True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["Name", "Owner"], False),
    ("ForAllValues:StringLike", "aws:TagKeys", ["team", "N*"], True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", "team", True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", "Owner", True),
    ("ForAnyValue:StringEquals", "aws:SourceVpce", "x", False),  # absent
    ("ForAllValues:StringEquals", "aws:SourceVpce", "x", True),
    # What the context knows nothing of, and operators this evaluator does not implement: unknown.
    ("StringEquals", "aws:SourceVpc", "vpc-1", None),
    ("Null", "aws:MultiFactorAuthPresent", "true", None),
    ("StringEquals", "aws:PrincipalArn", "arn:aws:iam::123456789012:user/${aws:PrincipalTag/team}", None),
    ("StringMatchesRegex", "aws:username", "a.*", None),
    ("ForSomeValues:StringEquals", "aws:TagKeys", "x", None),
    ("IpAddress", "aws:SourceIp", "not-a-network", None),
])
def test_condition_operators(operator, key, value, expected):
    assert condition_state(operator, key, value, KNOWN) is expected


def test_an_empty_multivalued_key():
    assert condition_state("ForAnyValue:StringEquals", "aws:TagKeys", "x", EMPTY_TAGS) is False
    assert condition_state("ForAllValues:StringEquals", "aws:TagKeys", "x", EMPTY_TAGS) is True


def request(action="s3:PutObject", resource=BUCKET, context=KNOWN):
    return Request(action, resource, context)


def document(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(effect="Allow", **fields):
    statement = {"Effect": effect}
    statement.update({} if "NotAction" in fields else {"Action": "*"})
    statement.update({} if "NotResource" in fields else {"Resource": "*"})
    statement.update(fields)
    return statement


def deny(**fields):
    return allow("Deny", **fields)


def decide(*policies, boundary=None, action="s3:PutObject", resource=BUCKET, context=KNOWN):
    return evaluate(request(action, resource, context), [(f"p{i}", p) for i, p in enumerate(policies)],
                    ("boundary", boundary) if boundary else None)


@pytest.mark.parametrize("statement, applies", [
    (allow(Action="S3:put*"), True),  # actions ignore case
    (allow(Action=["ec2:*", "s3:Put?bject"]), True),
    (allow(Action="s3:[P]utObject"), False),  # no character classes
    (allow(NotAction="s3:Get*"), True),
    (allow(NotAction=["s3:*"]), False),
    (allow(Resource="arn:aws:s3:::cloudburst-*/config-*"), True),
    (allow(Resource="arn:aws:s3:::CLOUDBURST-*"), False),  # resources do not
    (allow(Resource="arn:aws:s3:::cloudburst-annex/config-?/*"), True),
    (allow(NotResource="arn:aws:s3:::cloudburst-annex/annex-lease-*"), True),
    (allow(NotResource="arn:aws:s3:::*"), False),
    (allow(Resource="arn:aws:s3:::cloudburst-annex/${aws:username}/*"), False),
    (allow(Resource="arn:aws:s3:::cloudburst-annex/config-${*}/*"), False),  # ${*} is a literal *
])
def test_action_and_resource_matching(statement, applies):
    assert decide(document(statement)).allowed is applies


def test_explicit_deny_wins_then_allow_then_implicit_deny():
    assert decide(document(allow())).effect == "Allow"
    assert decide(document(allow()), document(deny(Action="s3:*"))).effect == "ExplicitDeny"
    assert decide(document(allow(Action="ec2:*"))).effect == "ImplicitDeny"
    assert decide().effect == "ImplicitDeny"


def test_the_boundary_intersects_and_its_deny_counts():
    assert decide(document(allow()), boundary=document(allow(Action="s3:*"))).allowed
    assert not decide(document(allow()), boundary=document(allow(Action="ec2:*"))).allowed
    assert not decide(document(allow(Action="ec2:*")), boundary=document(allow())).allowed  # a boundary grants nothing
    assert decide(document(allow()), boundary=document(allow(), deny(Action="s3:Put*"))).effect == "ExplicitDeny"


def test_unknowns_count_against_the_request_and_possible_is_the_best_case():
    vpce = {"StringEquals": {"aws:SourceVpc": "vpc-1"}}
    maybe_allow = decide(document(allow(Condition=vpce)))
    assert (maybe_allow.allowed, maybe_allow.possible, maybe_allow.effect) == (False, True, "ImplicitDeny")
    assert maybe_allow.allows[0].unknown == "StringEquals on aws:SourceVpc"
    maybe_deny = decide(document(allow()), document(deny(Condition=vpce, Sid="Vpc")))
    assert (maybe_deny.allowed, maybe_deny.possible, maybe_deny.effect) == (False, True, "ExplicitDeny")
    assert maybe_deny.denies[0].name == "statement 'Vpc' of p1"
    # A condition that surely fails decides, whatever the unknown one would say (AND).
    both = {"StringEquals": {"aws:SourceVpc": "vpc-1"}, "IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}
    assert decide(document(allow()), document(deny(Condition=both))).allowed
    # With a complete context an unknown key is absent, as AWS sees the request.
    complete = RequestContext({"aws:SourceIp": "203.0.113.9"}, complete=True)
    assert decide(document(allow(Condition=vpce)), context=complete).effect == "ImplicitDeny"
    assert decide(document(allow()), document(deny(Condition={"StringNotEquals": {"aws:SourceVpc": "vpc-1"}})),
                  context=complete).effect == "ExplicitDeny"


@pytest.mark.parametrize("bad", [
    {"Effect": "Allow", "Resource": "*"},  # no Action
    {"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"},
    {"Effect": "Allow", "Action": [], "Resource": "*"},
    {"Effect": "Allow", "Action": "*", "Resource": [7]},
    {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": ["x"]},
])
def test_an_unreadable_statement_may_apply(bad):
    decision = decide(document(bad))
    assert not decision.allowed and decision.possible


def test_documents_that_are_not_policies_are_refused():
    with pytest.raises(PolicyEvaluationError, match="not valid JSON"):
        decide("{no")
    with pytest.raises(PolicyEvaluationError, match="with a Statement"):
        decide({"Version": "2012-10-17"})
    with pytest.raises(PolicyEvaluationError, match="statement 'X' of p0 has Effect 'allow'"):
        decide(document({"Sid": "X", "Effect": "allow", "Action": "*", "Resource": "*"}))
    assert decide('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}').allowed
