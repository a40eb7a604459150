# -*- coding: utf-8 -*-
from __future__ import annotations

import json

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import (
    USER_INLINE_POLICY_LIMIT,
    SourceIpPolicyError,
    allowed_cidrs,
    build_source_ip_policy,
    lockout_reasons,
    policy_size,
    restriction_policy_names,
    source_ip_decision,
    without_restriction,
)

ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ALLOW_LIST = ["203.0.113.0/24", "198.51.100.7/32", "2001:db8:1::/48"]


def test_policy_has_aws_documented_shape():
    document, warnings = build_source_ip_policy(ALLOW_LIST)
    assert warnings == []
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*" and statement["Resource"] == "*"
    assert statement["Condition"] == {
        "NotIpAddress": {"aws:SourceIp": ALLOW_LIST},
        "Bool": {"aws:ViaAWSService": "false"},
    }
    assert allowed_cidrs(document) == ALLOW_LIST
    assert allowed_cidrs(json.dumps(document)) == ALLOW_LIST


def test_host_bits_are_cleared_with_a_warning_and_duplicates_dropped():
    document, warnings = build_source_ip_policy(["203.0.113.77/24", "203.0.113.0/24", "10.0.0.1", "2001:db8::5/64"])
    assert allowed_cidrs(document) == ["203.0.113.0/24", "10.0.0.1/32", "2001:db8::/64"]
    assert warnings == ["203.0.113.77/24 has host bits set; using 203.0.113.0/24",
                        "2001:db8::5/64 has host bits set; using 2001:db8::/64"]


@pytest.mark.parametrize(
    "cidrs, message",
    [
        (["0.0.0.0/0"], "allows every address"),
        (["::/0"], "allows every address"),
        (["203.0.113.0/24", "10.0.0.0/33"], "not a valid IPv4 or IPv6 CIDR"),
        (["not-an-ip"], "not a valid IPv4 or IPv6 CIDR"),
        (["2001:db8::g/64"], "not a valid IPv4 or IPv6 CIDR"),
        ([], "is empty"),
        ("203.0.113.0/24", "must be a list"),
        ([24], "is not a CIDR string"),
    ],
)
def test_bad_allow_lists_are_refused(cidrs, message):
    with pytest.raises(SourceIpPolicyError, match=message):
        build_source_ip_policy(cidrs)


def test_size_limit_is_enforced_with_a_clear_message():
    cidrs = [f"10.{i // 256}.{i % 256}.0/24" for i in range(200)]
    with pytest.raises(SourceIpPolicyError, match=f"over IAM's limit of {USER_INLINE_POLICY_LIMIT} characters"):
        build_source_ip_policy(cidrs)
    fitting = cidrs[:80]
    document = build_source_ip_policy(fitting)[0]
    assert policy_size(document) <= USER_INLINE_POLICY_LIMIT


RESTRICTED = [ADMIN, build_source_ip_policy(ALLOW_LIST)[0]]


@pytest.mark.parametrize(
    "source_ip, via_aws_service, expected",
    [
        ("203.0.113.1", False, "Allow"),
        ("203.0.113.255", False, "Allow"),
        ("198.51.100.7", False, "Allow"),
        ("198.51.100.8", False, "Deny"),
        ("192.0.2.10", False, "Deny"),
        ("2001:db8:1:ffff::1", False, "Allow"),
        ("2001:db8:2::1", False, "Deny"),
        ("::ffff:203.0.113.1", False, "Deny"),  # an IPv4-mapped IPv6 address is not the IPv4 address to IAM
        # AWS services acting for the user (aws:ViaAWSService true) are not blocked from any address.
        ("192.0.2.10", True, "Allow"),
        ("2001:db8:2::1", True, "Allow"),
        ("203.0.113.1", True, "Allow"),
        # Through a VPC endpoint aws:SourceIp is absent, and a negated operator on a missing key matches.
        (None, False, "Deny"),
        (None, True, "Allow"),
    ],
)
def test_source_ip_decision_table(source_ip, via_aws_service, expected):
    assert source_ip_decision(RESTRICTED, source_ip, via_aws_service) == expected


def test_explicit_deny_wins_and_nothing_allowed_is_denied():
    deny_only = build_source_ip_policy(ALLOW_LIST)[0]
    assert source_ip_decision(deny_only, "203.0.113.1") == "Deny"  # implicit: nothing allows it
    assert source_ip_decision([ADMIN, deny_only], "192.0.2.1") == "Deny"


def test_ip_address_and_if_exists_operators():
    allow_from = {"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                "Condition": {"IpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}}}}
    assert source_ip_decision(allow_from, "192.0.2.9") == "Allow"
    assert source_ip_decision(allow_from, "198.51.100.1") == "Deny"
    assert source_ip_decision(allow_from, None) == "Allow"
    assert source_ip_decision(allow_from, "192.0.2.9", action="ec2:RunInstances") == "Deny"
    assert source_ip_decision(allow_from, "192.0.2.9", action="s3:GetObject") == "Allow"


@pytest.mark.parametrize(
    "document, message",
    [
        ("{not json", "not valid JSON"),
        ({"Version": "2012-10-17"}, "with a Statement"),
        ({"Statement": [{"Effect": "Deny", "Condition": {"StringEquals": {"aws:username": "x"}}}]},
         "cannot evaluate the condition operator StringEquals"),
    ],
)
def test_evaluator_refuses_what_it_cannot_decide(document, message):
    with pytest.raises(SourceIpPolicyError, match=message):
        source_ip_decision(document, "192.0.2.1")


# --- wide networks (issue 10) ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "cidrs, message",
    [
        (["0.0.0.0/1", "128.0.0.0/1"], "wider than /8"),
        (["10.0.0.0/7"], "wider than /8"),
        (["2001:db8::/31"], "wider than /32"),
        (["::/1", "8000::/1"], "wider than /32"),
    ],
)
def test_wide_networks_are_refused_by_default(cidrs, message):
    with pytest.raises(SourceIpPolicyError, match=message):
        build_source_ip_policy(cidrs)


@pytest.mark.parametrize(
    "cidrs, family",
    [
        (["0.0.0.0/1", "128.0.0.0/1"], "IPv4"),
        (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1", "203.0.113.0/24"], "IPv4"),
        (["::/1", "8000::/1"], "IPv6"),
    ],
)
def test_a_list_that_covers_a_whole_family_is_refused_even_with_wide_prefixes(cidrs, family):
    with pytest.raises(SourceIpPolicyError, match=f"together cover every {family} address"):
        build_source_ip_policy(cidrs, allow_wide_prefixes=True)


def test_narrow_pieces_that_add_up_to_a_wide_network_are_refused():
    # 128 networks of /8 each pass the per-entry limit, and make 0.0.0.0/1 together.
    with pytest.raises(SourceIpPolicyError, match="together make 0.0.0.0/1, wider than /8"):
        build_source_ip_policy([f"{n}.0.0.0/8" for n in range(128)], size_limit=10**6)
    with pytest.raises(SourceIpPolicyError, match="together make 2001:db8::/31"):
        build_source_ip_policy(["2001:db8::/32", "2001:db9::/32"])
    assert allowed_cidrs(build_source_ip_policy(["2001:db8::/32", "2001:db9::/32"], allow_wide_prefixes=True)[0])


def test_wide_prefixes_pass_when_the_caller_opts_in_and_limits_are_inclusive():
    assert allowed_cidrs(build_source_ip_policy(["10.0.0.0/7", "0.0.0.0/1"], allow_wide_prefixes=True)[0]) == [
        "10.0.0.0/7", "0.0.0.0/1"]
    assert allowed_cidrs(build_source_ip_policy(["10.0.0.0/8", "2001:db8::/32"])[0]) == ["10.0.0.0/8", "2001:db8::/32"]


# --- the lockout guard's evaluator ----------------------------------------------------------------------

RESTRICTION = build_source_ip_policy(["203.0.113.0/24"])[0]


def deny_outside(cidr, **extra):
    return {"Statement": [dict({"Effect": "Deny", "Action": "*", "Resource": "*",
                                "Condition": {"NotIpAddress": {"aws:SourceIp": cidr}}}, **extra)]}


def test_guard_passes_when_every_policy_allows_the_address():
    policies = [("restriction", RESTRICTION), ("admin", ADMIN)]
    assert lockout_reasons(policies, "203.0.113.9") == []
    # A user with no Allow at all is not locked out by where it calls from.
    assert lockout_reasons([("restriction", RESTRICTION)], "203.0.113.9") == []


def test_guard_sees_a_deny_in_another_policy():
    policies = [("restriction", RESTRICTION), ("admin", ADMIN), ("inline policy office", deny_outside("192.0.2.0/24"))]
    (reason,) = lockout_reasons(policies, "203.0.113.9")
    assert reason == "statement 1 of inline policy office denies requests from 203.0.113.9"


def test_guard_sees_a_narrow_source_ip_deny_and_ignores_one_that_does_not_hold():
    narrow = {"Statement": [{"Sid": "NoS3", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
                             "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}]}
    assert lockout_reasons([("admin", ADMIN), ("p", narrow)], "203.0.113.9") == [
        "statement 'NoS3' of p denies requests from 203.0.113.9"]
    assert lockout_reasons([("admin", ADMIN), ("p", narrow)], "192.0.2.9") == []
    # An unconditional Deny of some actions is not about the address.
    some = {"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}
    assert lockout_reasons([("admin", ADMIN), ("p", some)], "203.0.113.9") == []


def test_guard_refuses_a_deny_of_everything_whatever_its_reason():
    everything = {"Statement": [{"Effect": "Deny", "NotAction": "iam:ChangePassword", "Resource": "*"}]}
    assert lockout_reasons([("admin", ADMIN), ("p", everything)], "203.0.113.9") == [
        "statement 1 of p denies requests from 203.0.113.9"]


def test_guard_fails_closed_on_a_condition_it_cannot_evaluate():
    mfa = {"Statement": [{"Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
                          "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}
    (reason,) = lockout_reasons([("admin", ADMIN), ("mfa", mfa)], "203.0.113.9")
    assert "cannot be evaluated here (BoolIfExists on aws:MultiFactorAuthPresent)" in reason
    # An operator it does not know on the source address, too.
    odd = {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                          "Condition": {"StringNotLike": {"aws:SourceIp": "203.*"}}}]}
    assert "cannot be evaluated here (StringNotLike on aws:SourceIp)" in lockout_reasons([("admin", ADMIN), ("o", odd)],
                                                                                         "203.0.113.9")[0]


def test_guard_checks_that_some_allow_holds_for_the_address():
    only_office = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                  "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}]}
    assert lockout_reasons([("p", only_office)], "203.0.113.9") == [
        "no Allow statement of the policies holds for requests from 203.0.113.9"]
    tagged = {"Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*",
                             "Condition": {"StringEquals": {"aws:ResourceTag/team": "x"}}}]}
    assert "cannot evaluate StringEquals on aws:ResourceTag/team" in lockout_reasons([("p", tagged)], "203.0.113.9")[0]
    # One Allow that surely holds is enough, whatever the others' conditions.
    assert lockout_reasons([("p", tagged), ("admin", ADMIN)], "203.0.113.9") == []


def test_guard_evaluates_the_permissions_boundary():
    office_only = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                  "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}]}
    assert lockout_reasons([("admin", ADMIN)], "203.0.113.9", boundary=("boundary b", office_only)) == [
        "no Allow statement of the permissions boundary holds for requests from 203.0.113.9"]
    assert lockout_reasons([("admin", ADMIN)], "203.0.113.9", boundary=("boundary b", ADMIN)) == []
    assert lockout_reasons([("admin", ADMIN)], "203.0.113.9", boundary=("boundary b", deny_outside("192.0.2.0/24"))) \
        == ["statement 1 of boundary b denies requests from 203.0.113.9",
            "the permissions boundary boundary b allows nothing"]


def test_guard_refuses_a_bad_address():
    with pytest.raises(SourceIpPolicyError, match="is not an IP address"):
        lockout_reasons([("admin", ADMIN)], "203.0.113.0/24")


def test_restriction_is_found_by_its_statement_id_and_taken_out():
    mixed = {"Version": "2012-10-17", "Statement": RESTRICTION["Statement"] + ADMIN["Statement"]}
    documents = {"old-name": RESTRICTION, "mixed": mixed, "admin": ADMIN}
    assert restriction_policy_names(documents) == ["mixed", "old-name"]
    assert without_restriction(RESTRICTION) is None
    assert without_restriction(mixed) == {"Version": "2012-10-17", "Statement": ADMIN["Statement"]}
    assert without_restriction(json.dumps(mixed))["Statement"] == ADMIN["Statement"]


# --- "every action on every resource", however it is written (review item 1) ----------------------------

ACCOUNT = "123456789012"


def deny(action=None, resource=None, **extra):
    statement = {"Effect": "Deny"}
    if action is not None:
        statement["Action"] = action
    if resource is not None:
        statement["Resource"] = resource
    statement.update(extra)
    return {"Statement": [statement]}


@pytest.mark.parametrize(
    "document",
    [
        deny("*:*", "*"),
        deny(["s3:GetObject", "*"], "*"),
        deny("*", ["*"]),
        deny("?*", "*"),
        deny("*:?*", "*"),
        deny("**", "*"),
        deny("*", "arn:*"),
        deny("*", "arn:aws:*"),
        deny("*", "arn:aws:*:*:*:*"),
        deny("*", "arn:*:*:*:*:*"),
        deny("*", ["arn:aws:s3:::only-this", "arn:*"]),
        deny("*", ["arn:aws:s3:::*", f"arn:aws:*:*:{ACCOUNT}:*"]),  # the user's own account, and S3 (no account)
        deny("*:*", "arn:${aws:partition}:*"),  # a policy variable may stand for anything
        deny(resource="arn:*", NotAction="iam:ChangePassword"),
        deny("*", NotResource="arn:aws:s3:::only-this"),
        deny(NotAction=[], NotResource=[]),
        deny(),  # neither Action nor Resource: the guard cannot read what it covers
        deny([], []),
    ],
    ids=lambda document: json.dumps(document["Statement"][0], sort_keys=True),
)
def test_guard_sees_every_spelling_of_a_deny_of_everything(document):
    assert lockout_reasons([("admin", ADMIN), ("p", document)], "203.0.113.9", account=ACCOUNT) == [
        "statement 1 of p denies requests from 203.0.113.9"]


@pytest.mark.parametrize(
    "document",
    [
        deny("iam:*", "*"),
        deny("*", "arn:aws:s3:::*"),
        deny("*", "arn:aws:*:us-east-1:*"),  # other regions stay open
        deny("*", "arn:aws:*:*:999999999999:*"),  # another account's resources
        deny("*", "arn:aws-cn:*"),  # another partition's resources
        deny("ec2:*", "arn:*"),
        deny("[a-z]*", "*"),  # IAM has no character classes: "[" is a literal, no action starts with it
        deny("*", f"arn:aws:*:*:{ACCOUNT}:*"),  # S3 objects name no account: they escape it
    ],
    ids=lambda document: json.dumps(document["Statement"][0], sort_keys=True),
)
def test_guard_lets_a_deny_that_a_real_request_escapes_through(document):
    assert lockout_reasons([("admin", ADMIN), ("p", document)], "203.0.113.9", account=ACCOUNT) == []


def test_guard_counts_everything_in_the_users_own_partition_only():
    for partition in ("aws-cn", "aws-us-gov"):
        document = deny("*", f"arn:{partition}:*")
        assert lockout_reasons([("admin", ADMIN), ("p", document)], "203.0.113.9", partition=partition,
                               account=ACCOUNT) == ["statement 1 of p denies requests from 203.0.113.9"]
        assert lockout_reasons([("admin", ADMIN), ("p", document)], "203.0.113.9", account=ACCOUNT) == []
    # A partition with no regions known here: only the probes without a region are tried (IAM, S3).
    assert lockout_reasons([("admin", ADMIN), ("p", deny("*", "arn:aws-iso:*"))], "203.0.113.9",
                           partition="aws-iso", account=ACCOUNT) == [
        "statement 1 of p denies requests from 203.0.113.9"]


def test_guard_without_the_account_tries_only_the_probes_that_name_none():
    # arn:aws:*:*:123456789012:* may be the user's own account; unknown, only the S3 probe decides, and an
    # S3 object escapes that Deny, whatever the account.
    assert lockout_reasons([("admin", ADMIN), ("p", deny("*", f"arn:aws:*:*:{ACCOUNT}:*"))], "203.0.113.9") == []
    assert lockout_reasons([("admin", ADMIN), ("p", deny("*", "arn:aws:*"))], "203.0.113.9") == [
        "statement 1 of p denies requests from 203.0.113.9"]


def test_guard_adds_up_denies_that_cover_everything_only_together():
    letters = {"Statement": [{"Sid": f"Deny{c.upper()}", "Effect": "Deny", "Action": f"{c}*", "Resource": "*"}
                             for c in "abcdefghijklmnopqrstuvwxyz"]}
    (reason,) = lockout_reasons([("admin", ADMIN), ("p", letters)], "203.0.113.9", account=ACCOUNT)
    assert reason.startswith("statement 'DenyC' of p, statement 'DenyD' of p, statement 'DenyE' of p")
    assert reason.endswith("together may deny every action on every resource for requests from 203.0.113.9")
    # Split over two policies and a resource half each: still everything.
    services = ["ec2", "iam", "cloudformation", "lambda", "events", "sqs", "dynamodb", "kms"]
    halves = [("one", deny("*", "arn:aws:s3:::*")), ("two", deny("*", [f"arn:aws:{s}:*" for s in services]))]
    assert lockout_reasons([("admin", ADMIN)] + halves, "203.0.113.9", account=ACCOUNT) == [
        "statement 1 of one, statement 1 of two together may deny every action on every resource for requests "
        "from 203.0.113.9"]
    # A Deny whose condition does not hold for the address is not part of the sum.
    office = deny("*", "arn:aws:s3:::*", Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})
    assert lockout_reasons([("admin", ADMIN), ("one", office), halves[1]], "203.0.113.9", account=ACCOUNT) == []


def test_guard_fails_closed_on_a_wildcard_deny_with_a_condition_it_cannot_evaluate():
    vpc_only = deny(["ec2:*", "*:*"], "arn:*", Condition={"StringNotEquals": {"aws:SourceVpc": "vpc-1"}})
    (reason,) = lockout_reasons([("admin", ADMIN), ("p", vpc_only)], "203.0.113.9", account=ACCOUNT)
    assert reason == ("statement 1 of p cannot be evaluated here (StringNotEquals on aws:SourceVpc) and may deny "
                      "requests from 203.0.113.9")


def test_guard_refuses_a_statement_that_is_neither_allow_nor_deny():
    with pytest.raises(SourceIpPolicyError, match="has Effect 'deny', neither Allow nor Deny"):
        lockout_reasons([("admin", ADMIN), ("p", {"Statement": [{"Effect": "deny", "Action": "*"}]})], "203.0.113.9")
