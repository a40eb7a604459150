# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The IAM source-IP restriction policy: building it, and deciding what it does to a request.

The policy has the shape AWS documents for "deny access based on the source IP": Deny every action on every
resource when aws:SourceIp is outside the allow-list, plus `Bool aws:ViaAWSService false` so that AWS
services calling on the user's behalf (CloudFormation creating resources, for instance) are not blocked.

moto does not evaluate IAM conditions, so `source_ip_decision` applies AWS's rules here (explicit deny wins;
IpAddress / NotIpAddress on IPv4 and IPv6 CIDRs; Bool; the ...IfExists forms; a negated operator on a
missing key matches). The lockout guard and the tests use it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json

POLICY_VERSION = "2012-10-17"
RESTRICTION_SID = "CloudburstDenyOutsideSourceIpAllowList"
# IAM's limit for the inline policies of one user, in characters without white space.
USER_INLINE_POLICY_LIMIT = 2048


class SourceIpPolicyError(ValueError):
    """Input that cannot make a safe policy, or a policy the evaluator cannot decide on."""


def normalize_cidrs(cidrs):
    """Validate an allow-list and return (networks as strings, warnings).

    Host bits are cleared with a warning ("203.0.113.7/24" becomes "203.0.113.0/24"); a bare address is a
    single-host network. Networks that allow every address (0.0.0.0/0, ::/0) are refused: they would make
    the restriction meaningless. Duplicates are dropped, order kept.
    """
    if isinstance(cidrs, str) or not isinstance(cidrs, (list, tuple)):
        raise SourceIpPolicyError("the source IP allow-list must be a list of CIDR strings")
    if not cidrs:
        raise SourceIpPolicyError("the source IP allow-list is empty; it must name at least one network")
    networks, warnings = [], []
    for entry in cidrs:
        if not isinstance(entry, str):
            raise SourceIpPolicyError(f"{entry!r} in the source IP allow-list is not a CIDR string")
        text = entry.strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise SourceIpPolicyError(f"{entry!r} in the source IP allow-list is not a valid IPv4 or IPv6 CIDR")
        if network.prefixlen == 0:
            raise SourceIpPolicyError(
                f"{entry!r} allows every address; the source IP allow-list must name your own networks"
            )
        if "/" in text and ipaddress.ip_interface(text).ip != network.network_address:
            warnings.append(f"{entry} has host bits set; using {network}")
        if str(network) not in networks:
            networks.append(str(network))
    return networks, warnings


def build_source_ip_policy(cidrs, size_limit=USER_INLINE_POLICY_LIMIT):
    """Return (policy document as a dict, warnings) for the allow-list cidrs."""
    networks, warnings = normalize_cidrs(cidrs)
    document = {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": RESTRICTION_SID,
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "NotIpAddress": {"aws:SourceIp": networks},
                    "Bool": {"aws:ViaAWSService": "false"},
                },
            }
        ],
    }
    size = policy_size(document)
    if size > size_limit:
        raise SourceIpPolicyError(
            f"the source IP restriction policy for {len(networks)} networks is {size} characters, over IAM's "
            f"limit of {size_limit} characters for a user's inline policies; use fewer, larger networks"
        )
    return document, warnings


def policy_size(document):
    """The size IAM counts: the JSON text without white space."""
    return len(json.dumps(document, separators=(",", ":")))


def allowed_cidrs(document):
    """The allow-list of a restriction policy built by build_source_ip_policy, or None if it is not one."""
    for statement in _statements(document):
        if statement.get("Sid") == RESTRICTION_SID and statement.get("Effect") == "Deny":
            values = statement.get("Condition", {}).get("NotIpAddress", {}).get("aws:SourceIp")
            return _as_list(values)
    return None


# --- evaluation ---------------------------------------------------------------------------------------

def source_ip_decision(documents, source_ip, via_aws_service=False, action="*", resource="*"):
    """Decide "Allow" or "Deny" for a request from source_ip under one policy document or a list of them.

    source_ip None stands for a request through a VPC endpoint, where aws:SourceIp is absent.
    action "*" means the statement's Action is not looked at (every statement applies), which is what a
    lockout check wants. An explicit Deny that matches wins; otherwise a matching Allow allows; otherwise
    the request is implicitly denied ("Deny").
    """
    if isinstance(documents, (str, dict)):
        documents = [documents]
    context = {"aws:viaawsservice": "true" if via_aws_service else "false"}
    if source_ip is not None:
        try:
            context["aws:sourceip"] = ipaddress.ip_address(source_ip)
        except ValueError:
            raise SourceIpPolicyError(f"{source_ip!r} is not an IP address")
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if not _applies(statement, action, resource) or not _conditions_hold(statement, context):
                continue
            effect = statement.get("Effect")
            if effect == "Deny":
                return "Deny"
            if effect == "Allow":
                allowed = True
    return "Allow" if allowed else "Deny"


def _statements(document):
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise SourceIpPolicyError(f"the policy is not valid JSON: {exc}")
    if not isinstance(document, dict) or "Statement" not in document:
        raise SourceIpPolicyError("a policy document must be a JSON object with a Statement")
    statements = document["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, (str, bool)) else list(value)


def _matches_any(patterns, value):
    return any(fnmatch.fnmatchcase(value.lower(), str(pattern).lower()) for pattern in patterns)


def _applies(statement, action, resource):
    if action != "*":
        if "Action" in statement and not _matches_any(_as_list(statement["Action"]), action):
            return False
        if "NotAction" in statement and _matches_any(_as_list(statement["NotAction"]), action):
            return False
    if resource != "*":
        if "Resource" in statement and not _matches_any(_as_list(statement["Resource"]), resource):
            return False
        if "NotResource" in statement and _matches_any(_as_list(statement["NotResource"]), resource):
            return False
    return True


def _conditions_hold(statement, context):
    for operator, tests in statement.get("Condition", {}).items():
        base, if_exists = (operator[:-8], True) if operator.endswith("IfExists") else (operator, False)
        for key, expected in tests.items():
            actual = context.get(key.lower(), _MISSING)
            if not _condition_holds(base, key, _as_list(expected), actual, if_exists):
                return False
    return True


_MISSING = object()


def _condition_holds(operator, key, expected, actual, if_exists):
    if operator not in ("IpAddress", "NotIpAddress", "Bool"):
        raise SourceIpPolicyError(f"cannot evaluate the condition operator {operator} (on {key})")
    if actual is _MISSING:
        # A missing key makes a negated operator match, and any operator match when ...IfExists.
        return operator == "NotIpAddress" or if_exists
    if operator == "Bool":
        return any(str(value).lower() == actual for value in expected)
    if not isinstance(actual, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        raise SourceIpPolicyError(f"cannot compare {key} with an IP address operator")
    inside = any(actual in ipaddress.ip_network(value, strict=False) for value in expected)
    return inside if operator == "IpAddress" else not inside
