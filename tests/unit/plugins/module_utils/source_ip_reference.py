# -*- coding: utf-8 -*-
"""The collection's first IAM evaluator (source_ip_policy.source_ip_decision before policy_evaluation), kept
as it was for the randomized comparison in test_policy_evaluation_random.py: Allow/Deny with Action/NotAction
and Resource/NotResource, and IpAddress, NotIpAddress and Bool (with ...IfExists) on aws:SourceIp and
aws:ViaAWSService. It compares names case-insensitively with fnmatch; the comparison stays where that agrees
with IAM (lower-case resources, no brackets)."""

from __future__ import annotations

import fnmatch
import ipaddress

_MISSING = object()


def reference_decision(documents, source_ip, via_aws_service, action, resource):
    context = {"aws:viaawsservice": "true" if via_aws_service else "false"}
    if source_ip is not None:
        context["aws:sourceip"] = ipaddress.ip_address(source_ip)
    allowed = False
    for document in documents:
        statements = document["Statement"]
        for statement in [statements] if isinstance(statements, dict) else statements:
            if not _applies(statement, action, resource) or not _conditions_hold(statement, context):
                continue
            if statement["Effect"] == "Deny":
                return "Deny"
            allowed = True
    return "Allow" if allowed else "Deny"


def _as_list(value):
    return [value] if isinstance(value, (str, bool)) else list(value)


def _matches_any(patterns, value):
    return any(fnmatch.fnmatchcase(value.lower(), str(pattern).lower()) for pattern in patterns)


def _applies(statement, action, resource):
    if "Action" in statement and not _matches_any(_as_list(statement["Action"]), action):
        return False
    if "NotAction" in statement and _matches_any(_as_list(statement["NotAction"]), action):
        return False
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
            if not _condition_holds(base, _as_list(expected), actual, if_exists):
                return False
    return True


def _condition_holds(operator, expected, actual, if_exists):
    if actual is _MISSING:
        return operator == "NotIpAddress" or if_exists
    if operator == "Bool":
        return any(str(value).lower() == actual for value in expected)
    inside = any(actual in ipaddress.ip_network(value, strict=False) for value in expected)
    return inside if operator == "IpAddress" else not inside
