# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The IAM source-IP restriction policy: building it, and deciding what it does to a request.

The policy has the shape AWS documents for "deny access based on the source IP": Deny every action on every
resource when aws:SourceIp is outside the allow-list, plus `Bool aws:ViaAWSService false` so that AWS
services calling on the user's behalf (CloudFormation creating resources, for instance) are not blocked.

moto does not evaluate IAM conditions, so `source_ip_decision` decides a request from one address with the
collection's evaluator (policy_evaluation). The lockout guard's question lives in lockout_guard.
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import wildcard
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import PolicyEvaluationError
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import statements

POLICY_VERSION = "2012-10-17"
RESTRICTION_SID = "CloudburstDenyOutsideSourceIpAllowList"
# IAM's limit for the inline policies of one user, in characters without white space.
USER_INLINE_POLICY_LIMIT = 2048
# The widest network an allow-list may name unless the caller opts in (allow_wide_prefixes).
MIN_PREFIX = {4: 8, 6: 32}


class SourceIpPolicyError(PolicyEvaluationError):
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

    source_ip None stands for a request through a VPC endpoint, where aws:SourceIp is absent. action "*" means
    the statements' Action is not looked at (every statement applies), which is what a lockout check wants; so
    does resource "*" for Resource. The request knows aws:SourceIp and aws:ViaAWSService only: a decision that
    depends on any other key raises SourceIpPolicyError.
    """
    if isinstance(documents, (str, dict)):
        documents = [documents]
    values = {"aws:ViaAWSService": "true" if via_aws_service else "false"}
    if source_ip is not None:
        try:
            values["aws:SourceIp"] = str(ipaddress.ip_address(source_ip))
        except ValueError:
            raise SourceIpPolicyError(f"{source_ip!r} is not an IP address")
    context = RequestContext(values, absent=["aws:SourceIp"])
    policies = []
    for index, document in enumerate(documents):
        every = []
        for statement in _statements(document):
            statement = dict(statement)
            if action == "*":
                statement.pop("NotAction", None)
                statement["Action"] = "*"
            if resource == "*":
                statement.pop("NotResource", None)
                statement["Resource"] = "*"
            every.append(statement)
        policies.append((f"policy {index + 1}", {"Statement": every}))
    try:
        decision = evaluate(Request(action, resource, context), policies)
    except PolicyEvaluationError as exc:
        raise SourceIpPolicyError(str(exc))
    if decision.allowed != decision.possible:
        unknown = next(m.unknown for m in decision.denies + decision.allows if m.state is None)
        raise SourceIpPolicyError(f"cannot evaluate {unknown}, on which the decision depends")
    return "Allow" if decision.allowed else "Deny"


def _statements(document):
    try:
        return statements(document)
    except PolicyEvaluationError as exc:
        raise SourceIpPolicyError(str(exc))


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, (str, bool)) else list(value)


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


# Real requests of different services, regions and ARN shapes, for iam_audit's administrator check: a
# statement covers every action on every resource unless one of these escapes it, so any spelling of
# "everything" ("*:*", "arn:*", "arn:aws:*:*:*:*", "*" inside a list, "?*") counts. "{account}" probes are
# tried only when the account is known.
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
# Two regions of each partition, so that a statement limited to one region is seen to leave the other (the
# lockout guard tries its requests in both). In a partition not named here only the probes without a region
# are tried.
PARTITION_REGIONS = {"aws": ("us-east-1", "eu-west-1"), "aws-cn": ("cn-north-1", "cn-northwest-1"),
                     "aws-us-gov": ("us-gov-west-1", "us-gov-east-1")}


def _probes(partition, account):
    regions = PARTITION_REGIONS.get(partition)
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
    """An IAM wildcard pattern as a regular expression, case ignored; a policy variable ${...} may stand for
    anything here, so it counts as *."""
    return wildcard(re.sub(r"\$\{[^}]*\}", "*", pattern), ignore_case=True)[1]


def _element_matches(statement, key, not_key, value):
    """Whether the statement's Action/NotAction (or Resource/NotResource) may apply to value. A NotAction or
    NotResource counts as applying to everything ("all but some"); so does an element that is missing, empty
    or not strings, which cannot be read."""
    if not_key in statement:
        return True
    patterns = statement.get(key)
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        return True
    return any(_iam_wildcard(pattern).fullmatch(value) for pattern in patterns)


def covers_every_request(statement, partition, account):
    """Whether a statement's Action/NotAction and Resource/NotResource may apply to every probe request of the
    partition and account, its Effect and conditions aside: what "every action on every resource" means to
    iam_audit's administrator check."""
    probes = _probes(partition, account)
    return bool(probes) and len(_probes_denied(statement, probes)) == len(probes)


def _probes_denied(statement, probes):
    """The indexes of the probes that a statement may apply to (its conditions aside)."""
    return {index for index, (action, resource) in enumerate(probes)
            if _element_matches(statement, "Action", "NotAction", action)
            and _element_matches(statement, "Resource", "NotResource", resource)}
