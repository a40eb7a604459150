# -*- coding: utf-8 -*-
"""policy_evaluation against two independent evaluators, on random policies and requests.

1. The collection's first evaluator (source_ip_reference.py beside this file, source_ip_decision as it was): Allow
   and Deny, Action/NotAction, Resource/NotResource, IpAddress/NotIpAddress/Bool with ...IfExists, on IPv4 and IPv6.
2. principalmapper's local_policy_simulation (the oracle the planned authorizing front will use), when it is
   installed: the same plus String*, Null and ForAnyValue/ForAllValues, within what it implements as IAM does
   (its IpAddressIfExists and NumericXIfExists, negated operators under ForAnyValue and StringNotLike on an
   absent key differ from IAM's documented rules, so the generator leaves them out).
"""

from __future__ import annotations

import collections
import collections.abc
import ipaddress
import random

import pytest
from source_ip_reference import reference_decision

from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate

CASES = 3000
ACTIONS = ["s3:GetObject", "s3:PutObject", "ec2:RunInstances", "ec2:DescribeInstances", "iam:GetUser"]
ACTION_PATTERNS = ["*", "s3:*", "ec2:*", "ec2:Run*", "S3:Get*", "iam:GetUser", "*:*", "ec2:?escribe*", "s3:*Object"]
RESOURCES = ["arn:aws:s3:::bucket-a/key", "arn:aws:s3:::bucket-b/key",
             "arn:aws:ec2:us-east-1:123456789012:instance/i-1"]
RESOURCE_PATTERNS = ["*", "arn:aws:s3:::bucket-a/*", "arn:aws:s3:::bucket-?/*", "arn:aws:s3:::*", "arn:aws:ec2:*",
                     "arn:aws:*:us-east-1:*:*", "arn:aws:s3:::bucket-b/key"]
NETWORKS = ["203.0.113.0/24", "198.51.100.0/25", "192.0.2.0/28", "10.0.0.0/8", "2001:db8::/32", "2001:db8:1::/48"]
ADDRESSES = ["203.0.113.9", "198.51.100.200", "192.0.2.3", "10.9.8.7", "2001:db8:1::5", "2001:db9::1", "8.8.4.4",
             None]


def _pick(rng, items, most=2):
    chosen = rng.sample(items, rng.randint(1, most))
    return chosen[0] if len(chosen) == 1 and rng.random() < 0.5 else chosen


def _ip_conditions(rng, if_exists):
    condition = {}
    for _index in range(rng.randint(0, 2)):
        kind = rng.choice(["IpAddress", "NotIpAddress", "Bool"])
        if kind == "Bool":
            condition.setdefault("Bool" + ("IfExists" if if_exists and rng.random() < 0.3 else ""), {})[
                "aws:ViaAWSService"] = rng.choice(["true", "false"])
        else:
            operator = kind + ("IfExists" if if_exists and rng.random() < 0.3 else "")
            condition.setdefault(operator, {})["aws:SourceIp"] = _pick(rng, NETWORKS)
    return condition


def _statement(rng, conditions):
    statement = {"Effect": rng.choice(["Allow", "Allow", "Deny"])}
    statement["NotAction" if rng.random() < 0.2 else "Action"] = _pick(rng, ACTION_PATTERNS)
    statement["NotResource" if rng.random() < 0.2 else "Resource"] = _pick(rng, RESOURCE_PATTERNS)
    condition = conditions(rng)
    if condition:
        statement["Condition"] = condition
    return statement


def _policies(rng, conditions):
    return [{"Version": "2012-10-17", "Statement": [_statement(rng, conditions) for _index in range(rng.randint(1, 3))]}
            for _index in range(rng.randint(1, 3))]


def _decide(documents, values, action, resource):
    request = Request(action, resource, RequestContext(values, complete=True))
    return evaluate(request, [(f"p{i}", d) for i, d in enumerate(documents)]).effect


def test_agrees_with_the_first_evaluator_on_random_source_ip_policies():
    rng = random.Random(20261201)
    disagreements = []
    for case in range(CASES):
        documents = _policies(rng, lambda r: _ip_conditions(r, if_exists=True))
        address, via = rng.choice(ADDRESSES), rng.random() < 0.3
        action, resource = rng.choice(ACTIONS), rng.choice(RESOURCES)
        values = {"aws:ViaAWSService": "true" if via else "false"}
        if address is not None:
            values["aws:SourceIp"] = address
        ours = "Allow" if _decide(documents, values, action, resource) == "Allow" else "Deny"
        theirs = reference_decision(documents, address, via, action, resource)
        if ours != theirs:
            disagreements.append((case, documents, values, action, resource, ours, theirs))
    print(f"\n{CASES} random cases against the first evaluator, {len(disagreements)} disagreements")
    assert not disagreements, disagreements[:3]


# --- principalmapper -------------------------------------------------------------------------------------

TAG_KEYS = ["team", "cloudburst:cluster", "Name"]
USERS = ["alice", "bob", "annex-user"]


def _rich_conditions(rng):
    condition = _ip_conditions(rng, if_exists=False)
    for _index in range(rng.randint(0, 2)):
        kind = rng.choice(["string", "like", "null", "any", "all", "bool"])
        if kind == "string":
            operator = rng.choice(["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringEqualsIfExists"])
            condition.setdefault(operator, {})["aws:username"] = _pick(rng, USERS + ["ALICE"])
        elif kind == "like":
            condition.setdefault(rng.choice(["StringLike", "StringNotLike"]), {})["aws:PrincipalArn"] = _pick(
                rng, ["arn:aws:iam::*:user/a*", "arn:aws:iam::123456789012:user/*", "*bob", "arn:aws:iam::?23*"])
        elif kind == "null":
            condition.setdefault("Null", {})[rng.choice(["aws:RequestTag/team", "aws:SourceIp", "aws:TagKeys"])] = \
                rng.choice(["true", "false"])
        elif kind in ("any", "all"):
            operator = ("ForAnyValue:" if kind == "any" else "ForAllValues:") + rng.choice(["StringEquals",
                                                                                            "StringLike"])
            condition.setdefault(operator, {})["aws:TagKeys"] = _pick(rng, TAG_KEYS + ["cloudburst:*"], most=3)
        else:
            condition.setdefault("Bool", {})["aws:SecureTransport"] = rng.choice(["true", "false"])
    return condition


def _principalmapper():
    # principalmapper 1.1.5 predates Python 3.10's removal of these aliases.
    for name in ("Mapping", "MutableMapping", "Iterable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    simulation = pytest.importorskip("principalmapper.querying.local_policy_simulation")
    insensitive = pytest.importorskip("principalmapper.util.case_insensitive_dict")
    return simulation, insensitive.CaseInsensitiveDict


def test_agrees_with_principalmapper_on_random_policies():
    simulation, CaseInsensitiveDict = _principalmapper()
    rng = random.Random(1337)
    disagreements = []
    for case in range(CASES):
        documents = _policies(rng, _rich_conditions)
        action, resource = rng.choice(ACTIONS), rng.choice(RESOURCES)
        user = rng.choice(USERS)
        values = {"aws:ViaAWSService": rng.choice(["true", "false"]), "aws:SecureTransport": "true",
                  "aws:username": user, "aws:PrincipalArn": f"arn:aws:iam::123456789012:user/{user}"}
        address = rng.choice(ADDRESSES[:-1])
        values["aws:SourceIp"] = address
        tags = rng.sample(TAG_KEYS, rng.randint(0, 3))
        if tags:
            values["aws:TagKeys"] = tags
            values.update({f"aws:RequestTag/{key}": "x" for key in tags})
        context = CaseInsensitiveDict(dict(values))
        denied = any(simulation.policy_has_matching_statement(d, "Deny", action, resource, context) for d in documents)
        allowed = any(simulation.policy_has_matching_statement(d, "Allow", action, resource, context)
                      for d in documents)
        theirs = "Allow" if allowed and not denied else "Deny"
        ours = "Allow" if _decide(documents, values, action, resource) == "Allow" else "Deny"
        if ours != theirs:
            disagreements.append((case, documents, values, action, resource, ours, theirs))
    print(f"\n{CASES} random cases against principalmapper, {len(disagreements)} disagreements")
    assert not disagreements, disagreements[:3]


def test_the_generators_reach_both_outcomes_and_every_address_family():
    """The comparison is not vacuous: random cases allow and deny, from IPv4, IPv6 and no address."""
    rng = random.Random(7)
    outcomes = collections.Counter()
    for _index in range(500):
        documents = _policies(rng, lambda r: _ip_conditions(r, if_exists=True))
        address = rng.choice(ADDRESSES)
        values = {"aws:ViaAWSService": "false"}
        if address is not None:
            values["aws:SourceIp"] = address
        family = "none" if address is None else f"v{ipaddress.ip_address(address).version}"
        outcomes[(family, _decide(documents, values, rng.choice(ACTIONS), rng.choice(RESOURCES)))] += 1
    effects = ("Allow", "ExplicitDeny", "ImplicitDeny")
    assert {(family, effect) for family in ("v4", "v6", "none") for effect in effects} <= set(outcomes)
