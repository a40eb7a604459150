# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""One evaluator of IAM identity policies, following AWS's evaluation logic.

A request is an action, a resource ARN ("*" for calls that take none) and a request context
(policy_conditions.RequestContext). evaluate() decides it under a principal's identity policies (its inline
and managed policies and its groups') and an optional permissions boundary:

1. an explicit Deny in any of them that applies denies;
2. otherwise an Allow of the identity policies that applies allows, if the boundary (when set) allows too;
3. otherwise the request is implicitly denied.

A statement applies when its Action (or NotAction), its Resource (or NotResource) and its Condition match.
Actions match case-insensitively, resources case-sensitively, both with IAM's wildcards (* and ?, no
character classes) and policy variables. Each match is three-valued (policy_conditions): a statement that
depends on something the context does not know "may apply". Decision carries both outcomes: `allowed` counts
what may apply against the request (an Allow that may apply does not allow, a Deny that may apply denies: fail
closed), and `possible` counts it for the request (the best case). When the two agree, nothing unknown matters.

SCPs, session policies and resource-based policies are not evaluated here.
"""

from __future__ import annotations

import ast
import json
import urllib.parse

from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import as_list
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import combine
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import conditions_state
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import matches


class PolicyEvaluationError(ValueError):
    """A policy document that cannot be read as one."""


def policy_document(value, missing_ok=False):
    """A policy document as a dict, from every form this collection meets: a dict, its JSON text, that text
    URL-encoded (IAM's raw answers), or a Python dict's repr (moto 5.2 hands back the inline policies of roles
    made by CloudFormation so). The one reader of policy JSON; anything else is a PolicyEvaluationError, and so
    is an object without a Statement unless missing_ok (an audit reads what the account holds, whatever it is)."""
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError as exc:
            value = _other_forms(text, exc)
    if not isinstance(value, dict) or ("Statement" not in value and not missing_ok):
        raise PolicyEvaluationError("a policy document must be a JSON object with a Statement")
    return value


def _other_forms(text, json_error):
    unquoted = urllib.parse.unquote(text)
    if unquoted != text:
        try:
            return json.loads(unquoted)
        except ValueError:
            pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise PolicyEvaluationError(f"the policy is not valid JSON: {json_error}")


def statements(document, missing_ok=False):
    """The statements of a policy document (any form policy_document reads), as a list; with missing_ok, none
    for an object without a Statement."""
    found = policy_document(document, missing_ok).get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def statement_name(label, index, statement):
    sid = statement.get("Sid") if isinstance(statement, dict) else None
    return f"statement {sid!r} of {label}" if sid else f"statement {index + 1} of {label}"


class Request:
    """One request: action ("ec2:RunInstances"), resource (an ARN, or "*") and its RequestContext."""

    def __init__(self, action, resource, context):
        self.action, self.resource, self.context = action, resource, context

    def __repr__(self):
        return f"Request({self.action!r}, {self.resource!r})"


def _element_state(statement, key, not_key, value, context, ignore_case):
    """Three-valued: does the statement's Action/NotAction (or Resource/NotResource) cover value? A statement
    with neither, or with one that is not a string or a list of strings, is unreadable: unknown."""
    if (key in statement) == (not_key in statement):
        return None
    patterns = as_list(statement.get(key, statement.get(not_key)))
    if not patterns or not all(isinstance(pattern, str) for pattern in patterns):
        return None
    results = [matches(pattern, value, context, ignore_case) for pattern in patterns]
    found = True if True in results else (None if None in results else False)
    if not_key in statement:
        return None if found is None else not found
    return found


def statement_state(statement, request):
    """(state, what): state True when the statement applies to the request, False when it does not, None when
    that depends on something unknown; what names the first unknown."""
    if not isinstance(statement, dict):
        return None, "an unreadable statement"
    action = _element_state(statement, "Action", "NotAction", request.action, request.context, True)
    if action is False:
        return False, None
    resource = _element_state(statement, "Resource", "NotResource", request.resource, request.context, False)
    if resource is False:
        return False, None
    condition, what = conditions_state(statement.get("Condition"), request.context)
    state = combine([action, resource, condition])
    if state is None and what is None:
        what = "its Action" if action is None else "its Resource (unreadable, or a policy variable it cannot fill)"
    return state, (what if state is None else None)


class Match:
    """A statement that applies (state True) or may apply (state None) to a request."""

    def __init__(self, label, index, statement, state, unknown):
        self.label, self.index, self.statement, self.state, self.unknown = label, index, statement, state, unknown

    @property
    def name(self):
        return statement_name(self.label, self.index, self.statement)


class Decision:
    """The outcome for one request.

    allowed: AWS allows it even when every unknown goes against it (fail closed).
    possible: AWS could allow it, every unknown going for it.
    denies, allows, boundary_allows: the Deny statements (identity and boundary) and the Allow statements that
    apply or may apply (Match objects). has_boundary: a permissions boundary was evaluated.
    """

    def __init__(self, denies, allows, boundary_allows, has_boundary):
        self.denies, self.allows, self.boundary_allows = denies, allows, boundary_allows
        self.has_boundary = has_boundary
        surely = [m for m in denies if m.state is True]
        self.explicit_deny = bool(surely)
        bounded_sure = not has_boundary or any(m.state is True for m in boundary_allows)
        bounded_maybe = not has_boundary or bool(boundary_allows)
        self.allowed = not denies and any(m.state is True for m in allows) and bounded_sure
        self.possible = not surely and bool(allows) and bounded_maybe

    @property
    def effect(self):
        """"Allow", "ExplicitDeny" or "ImplicitDeny", counting unknowns against the request."""
        if self.allowed:
            return "Allow"
        return "ExplicitDeny" if self.denies else "ImplicitDeny"


def _matches(policies, request, effect):
    found = []
    for label, document in policies:
        for index, statement in enumerate(statements(document)):
            readable = statement if isinstance(statement, dict) else {}
            actual = readable.get("Effect")
            if actual not in ("Allow", "Deny"):
                raise PolicyEvaluationError(f"{statement_name(label, index, readable)} has Effect {actual!r}, "
                                            "neither Allow nor Deny")
            if actual != effect:
                continue
            state, unknown = statement_state(statement, request)
            if state is not False:
                found.append(Match(label, index, statement, state, unknown))
    return found


def evaluate(request, policies, boundary=None):
    """Decide request under identity policies [(label, document)] and an optional boundary (label, document)."""
    policies = list(policies)
    bounds = [boundary] if boundary else []
    return Decision(denies=_matches(policies + bounds, request, "Deny"), allows=_matches(policies, request, "Allow"),
                    boundary_allows=_matches(bounds, request, "Allow"), has_boundary=bool(boundary))
