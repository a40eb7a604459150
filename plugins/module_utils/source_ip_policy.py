# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The IAM source-IP restriction policy: building it, and deciding what it does to a request.

The policy has the shape AWS documents for "deny access based on the source IP": Deny every action on every
resource when aws:SourceIp is outside the allow-list, plus `Bool aws:ViaAWSService false` so that AWS
services calling on the user's behalf (CloudFormation creating resources, for instance) are not blocked.

moto does not evaluate IAM conditions, so `source_ip_decision` applies AWS's rules here (explicit deny wins;
IpAddress / NotIpAddress on IPv4 and IPv6 CIDRs; Bool; the ...IfExists forms; a negated operator on a
missing key matches). The tests use it. `lockout_reasons` is the lockout guard's question asked of every
policy that applies to a user: would a request from one address be denied because of where it comes from?
A statement it cannot evaluate counts against the address (fail closed).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re

POLICY_VERSION = "2012-10-17"
RESTRICTION_SID = "CloudburstDenyOutsideSourceIpAllowList"
# IAM's limit for the inline policies of one user, in characters without white space.
USER_INLINE_POLICY_LIMIT = 2048
# The widest network an allow-list may name unless the caller opts in (allow_wide_prefixes).
MIN_PREFIX = {4: 8, 6: 32}


class SourceIpPolicyError(ValueError):
    """Input that cannot make a safe policy, or a policy the evaluator cannot decide on."""


def normalize_cidrs(cidrs, allow_wide_prefixes=False):
    """Validate an allow-list and return (networks as strings, warnings).

    Host bits are cleared with a warning ("203.0.113.7/24" becomes "203.0.113.0/24"); a bare address is a
    single-host network. Networks that allow every address (0.0.0.0/0, ::/0) are refused: they would make
    the restriction meaningless, and so is a list whose networks together cover a whole address family
    (0.0.0.0/1 plus 128.0.0.0/1). A network wider than MIN_PREFIX (/8 for IPv4, /32 for IPv6) is refused
    unless allow_wide_prefixes. Duplicates are dropped, order kept.
    """
    if isinstance(cidrs, str) or not isinstance(cidrs, (list, tuple)):
        raise SourceIpPolicyError("the source IP allow-list must be a list of CIDR strings")
    if not cidrs:
        raise SourceIpPolicyError("the source IP allow-list is empty; it must name at least one network")
    networks, parsed, warnings = [], [], []
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
        minimum = MIN_PREFIX[network.version]
        if network.prefixlen < minimum and not allow_wide_prefixes:
            raise SourceIpPolicyError(
                f"{entry!r} is wider than /{minimum}, the widest IPv{network.version} network an allow-list may "
                "name by default; name your own networks, or allow wide prefixes (allow_wide_prefixes) if you "
                "really mean it"
            )
        if "/" in text and ipaddress.ip_interface(text).ip != network.network_address:
            warnings.append(f"{entry} has host bits set; using {network}")
        if str(network) not in networks:
            networks.append(str(network))
            parsed.append(network)
    for version in (4, 6):
        union = list(ipaddress.collapse_addresses(n for n in parsed if n.version == version))
        if any(n.prefixlen == 0 for n in union):
            raise SourceIpPolicyError(
                f"the networks of the source IP allow-list together cover every IPv{version} address; the "
                "allow-list must name your own networks"
            )
        # Narrow pieces that add up to a wide network (128 /8s make 0.0.0.0/1) are as wide as that network.
        wide = [n for n in union if n.prefixlen < MIN_PREFIX[version]]
        if wide and not allow_wide_prefixes:
            raise SourceIpPolicyError(
                f"the networks of the source IP allow-list together make {wide[0]}, wider than "
                f"/{MIN_PREFIX[version]}; name your own networks, or allow wide prefixes (allow_wide_prefixes) if "
                "you really mean it"
            )
    return networks, warnings


def build_source_ip_policy(cidrs, size_limit=USER_INLINE_POLICY_LIMIT, allow_wide_prefixes=False):
    """Return (policy document as a dict, warnings) for the allow-list cidrs."""
    networks, warnings = normalize_cidrs(cidrs, allow_wide_prefixes)
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


# --- the lockout guard's question ---------------------------------------------------------------------

# The condition keys whose value for a request from the controller is known here. Any other key makes the
# statement "cannot evaluate": it might hold or not.
_KNOWN_KEYS = ("aws:sourceip", "aws:viaawsservice")


def lockout_reasons(policies, source_ip, boundary=None, partition="aws", account=None):
    """Why a request from source_ip would be denied by these policies, or could not be shown to be allowed.

    policies: (label, document) pairs, every identity policy that will apply to the user (its inline and
    attached policies and its groups'). boundary: (label, document) for a permissions boundary, or None.
    Returns a list of reasons; an empty list means the address keeps working. A request is locked out when:
    - a Deny that holds for the address depends on aws:SourceIp or covers every action on every resource;
    - the Deny statements that hold for the address together cover every action on every resource;
    - the policies allow something, but no Allow holds for the address (an Allow limited to other addresses);
    - a permissions boundary is set and none of its Allow statements holds for the address.
    A statement whose conditions cannot be evaluated here counts as holding for a Deny and as not holding
    for an Allow: the guard fails closed. A user with no Allow at all is not locked out by its address.
    "Every action on every resource" is not only "*" on "*": a Deny counts as covering everything unless a
    real request in the user's partition and account (see _PROBES) is shown to escape it, so "*:*",
    "arn:*", "arn:aws:*:*:*:*", NotAction and NotResource count too. partition and account name the
    user's; without account, only the probes that name no account are tried (fewer probes, more refusals).
    """
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        raise SourceIpPolicyError(f"{source_ip!r} is not an IP address")
    context = {"aws:sourceip": address, "aws:viaawsservice": "false"}
    reasons = []
    probes = _probes(partition, account)
    partial, covered = [], set()  # Deny statements that hold but cover only some probes, and what they cover
    labelled = list(policies) + ([boundary] if boundary else [])
    for label, document in labelled:
        for index, statement in enumerate(_statements(document)):
            effect = statement.get("Effect")
            if effect not in ("Allow", "Deny"):
                raise SourceIpPolicyError(f"{_statement_name(label, index, statement)} has Effect {effect!r}, "
                                          "neither Allow nor Deny")
            if effect != "Deny":
                continue
            holds, unknown = _conditions_state(statement, context)
            if holds is False:
                continue
            name = _statement_name(label, index, statement)
            denied = _probes_denied(statement, probes)
            if not (_depends_on_source_ip(statement) or len(denied) == len(probes)):
                if denied:
                    partial.append(name)
                    covered |= denied
                continue
            if holds is None:
                reasons.append(f"{name} cannot be evaluated here ({unknown}) and may deny requests from {address}")
            else:
                reasons.append(f"{name} denies requests from {address}")
    if partial and len(covered) == len(probes):
        reasons.append(f"{', '.join(partial)} together may deny every action on every resource for requests from "
                       f"{address}")
    for what, group in (("the policies", list(policies)), ("the permissions boundary", [boundary] if boundary else [])):
        allows = [(label, index, statement) for label, document in group
                  for index, statement in enumerate(_statements(document)) if statement.get("Effect") == "Allow"]
        if not allows:
            if what == "the permissions boundary" and boundary:
                reasons.append(f"the permissions boundary {boundary[0]} allows nothing")
            continue
        states = [_conditions_state(statement, context) for _label, _index, statement in allows]
        if any(holds is True for holds, _unknown in states):
            continue
        unknown = sorted({u for holds, u in states if holds is None})
        if unknown:
            reasons.append(f"no Allow statement of {what} is known to hold for requests from {address}; "
                           f"cannot evaluate {', '.join(unknown)}")
        else:
            reasons.append(f"no Allow statement of {what} holds for requests from {address}")
    return reasons


def restriction_policy_names(documents):
    """The names, among {name: document}, of the inline policies that hold a restriction of ours (by Sid)."""
    return sorted(name for name, document in documents.items() if allowed_cidrs(document) is not None)


def without_restriction(document):
    """The document without the restriction's statement, or None when nothing else is left in it."""
    statements = [s for s in _statements(document) if s.get("Sid") != RESTRICTION_SID]
    if not statements:
        return None
    rest = dict(document) if isinstance(document, dict) else json.loads(document)
    rest["Statement"] = statements
    return rest


def _statement_name(label, index, statement):
    sid = statement.get("Sid")
    return f"statement {sid!r} of {label}" if sid else f"statement {index + 1} of {label}"


def _depends_on_source_ip(statement):
    return any(key.lower() == "aws:sourceip" for tests in statement.get("Condition", {}).values() for key in tests)


# Real requests a Deny is tried against: (action, resource ARN) of different services, regions and ARN
# shapes. A Deny counts as covering every action on every resource unless one of these escapes it, so any
# spelling of "everything" ("*:*", "arn:*", "arn:aws:*:*:*:*", "*" inside a list, "?*") counts, and a Deny
# that escapes one of them is shown not to (the request it lets through is real). "{account}" probes are
# tried only when the account is known: a Deny on "arn:aws:*:*:123456789012:*" covers that account's every
# resource, and a probe in another account would wrongly show it escapable.
_PROBES = (
    ("ec2:TerminateInstances", "arn:{partition}:ec2:{region0}:{account}:instance/i-0123456789abcdef0"),
    ("s3:GetObject", "arn:{partition}:s3:::cloudburst-probe/key"),
    ("iam:GetUser", "arn:{partition}:iam::{account}:user/cloudburst-probe"),
    ("sts:AssumeRole", "arn:{partition}:iam::{account}:role/cloudburst-probe"),
    ("cloudformation:DescribeStacks",
     "arn:{partition}:cloudformation:{region1}:{account}:stack/cloudburst-probe/00000000-0000-0000-0000-000000000000"),
    ("lambda:InvokeFunction", "arn:{partition}:lambda:{region0}:{account}:function:cloudburst-probe"),
    ("events:PutRule", "arn:{partition}:events:{region1}:{account}:rule/cloudburst-probe"),
    ("sqs:SendMessage", "arn:{partition}:sqs:{region0}:{account}:cloudburst-probe"),
    ("dynamodb:GetItem", "arn:{partition}:dynamodb:{region1}:{account}:table/cloudburst-probe"),
    ("kms:Decrypt", "arn:{partition}:kms:{region0}:{account}:key/00000000-0000-0000-0000-000000000000"),
)
# Two regions of each partition, so that a Deny limited to one region is seen to leave the other. In a
# partition not named here only the probes without a region are tried.
_PARTITION_REGIONS = {"aws": ("us-east-1", "eu-west-1"), "aws-cn": ("cn-north-1", "cn-northwest-1"),
                      "aws-us-gov": ("us-gov-west-1", "us-gov-east-1")}


def _probes(partition, account):
    regions = _PARTITION_REGIONS.get(partition)
    probes = []
    for action, template in _PROBES:
        if ("{account}" in template and not account) or ("{region" in template and not regions):
            continue
        names = {"partition": partition, "account": account or ""}
        if regions:
            names.update(region0=regions[0], region1=regions[1])
        probes.append((action, template.format(**names)))
    return probes


def _iam_wildcard(pattern):
    """An IAM wildcard pattern as a regular expression: * is any run of characters (":" and "/" too), ? one
    character, anything else literal ("[" is no character class, unlike fnmatch). A policy variable ${...}
    may stand for anything here, so it counts as *. Case is ignored: more matches, so a Deny covers more."""
    parts = re.split(r"(\$\{[^}]*\}|\*|\?)", pattern)
    text = "".join(".*" if part == "*" or part.startswith("${") else "." if part == "?" else re.escape(part)
                   for part in parts)
    return re.compile(text, re.IGNORECASE | re.DOTALL)


def _element_matches(statement, key, not_key, value):
    """Whether the statement's Action/NotAction (or Resource/NotResource) may apply to value. A NotAction or
    NotResource counts as applying to everything, the guard's "all but some" (fail closed); so does an
    element that is missing, empty or not strings, which the guard cannot read."""
    if not_key in statement:
        return True
    patterns = statement.get(key)
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        return True
    return any(_iam_wildcard(pattern).fullmatch(value) for pattern in patterns)


def covers_every_request(statement, partition, account):
    """Whether a statement's Action/NotAction and Resource/NotResource may apply to every probe request of the
    partition and account, its Effect and conditions aside: what "every action on every resource" means to the
    lockout guard, for callers that ask it of an Allow (iam_audit's administrator check)."""
    probes = _probes(partition, account)
    return bool(probes) and len(_probes_denied(statement, probes)) == len(probes)


def _probes_denied(statement, probes):
    """The indexes of the probes that a Deny statement may deny (its conditions aside)."""
    return {index for index, (action, resource) in enumerate(probes)
            if _element_matches(statement, "Action", "NotAction", action)
            and _element_matches(statement, "Resource", "NotResource", resource)}


def _conditions_state(statement, context):
    """(True, None) when every condition holds; (False, None) when one does not; (None, what) when that
    depends on something unknown here."""
    unknown = None
    for operator, tests in statement.get("Condition", {}).items():
        base, if_exists = (operator[:-8], True) if operator.endswith("IfExists") else (operator, False)
        for key, expected in tests.items():
            if key.lower() not in _KNOWN_KEYS or base not in ("IpAddress", "NotIpAddress", "Bool"):
                unknown = unknown or f"{operator} on {key}"
                continue
            try:
                holds = _condition_holds(base, key, _as_list(expected), context.get(key.lower(), _MISSING), if_exists)
            except (SourceIpPolicyError, ValueError):
                unknown = unknown or f"{operator} on {key}"
                continue
            if not holds:
                return False, None
    return (None, unknown) if unknown else (True, None)
