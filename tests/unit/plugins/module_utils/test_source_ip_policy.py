# -*- coding: utf-8 -*-
from __future__ import annotations

import json

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import (
    USER_INLINE_POLICY_LIMIT,
    SourceIpPolicyError,
    allowed_cidrs,
    build_source_ip_policy,
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
        # The request knows only the address and aws:ViaAWSService: a decision that turns on another key is refused.
        ([ADMIN, {"Statement": [{"Effect": "Deny", "Condition": {"StringEquals": {"aws:username": "x"}}}]}],
         "cannot evaluate StringEquals on aws:username, on which the decision depends"),
        ([ADMIN, {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                                 "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}]}],
         "cannot evaluate StringNotEquals on aws:SourceVpce"),
        ([ADMIN, {"Statement": [{"Effect": "deny", "Action": "*", "Resource": "*"}]}], "neither Allow nor Deny"),
    ],
)
def test_evaluator_refuses_what_it_cannot_decide(document, message):
    with pytest.raises(SourceIpPolicyError, match=message):
        source_ip_decision(document, "192.0.2.1")


def test_an_unknown_key_that_cannot_change_the_outcome_is_no_refusal():
    # Nothing allows the request, whatever aws:username is: an implicit deny.
    document = {"Statement": [{"Effect": "Deny", "Condition": {"StringEquals": {"aws:username": "x"}}}]}
    assert source_ip_decision(document, "192.0.2.1") == "Deny"


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


RESTRICTION = build_source_ip_policy(["203.0.113.0/24"])[0]


def test_restriction_is_found_by_its_statement_id_and_taken_out():
    mixed = {"Version": "2012-10-17", "Statement": RESTRICTION["Statement"] + ADMIN["Statement"]}
    documents = {"old-name": RESTRICTION, "mixed": mixed, "admin": ADMIN}
    assert restriction_policy_names(documents) == ["mixed", "old-name"]
    assert without_restriction(RESTRICTION) is None
    assert without_restriction(mixed) == {"Version": "2012-10-17", "Statement": ADMIN["Statement"]}
    assert without_restriction(json.dumps(mixed))["Statement"] == ADMIN["Statement"]
