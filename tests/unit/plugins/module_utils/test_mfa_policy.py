# -*- coding: utf-8 -*-
"""The require-MFA policy builder and filter: AWS's documented shape, and the decision it makes."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.filter.require_mfa_policy import FilterModule
from ansible_collections.cloudburst.aws.plugins.module_utils.mfa_policy import REQUIRE_MFA_SID
from ansible_collections.cloudburst.aws.plugins.module_utils.mfa_policy import build_require_mfa_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import policy_size


def denied(document, mfa, action="ec2:RunInstances"):
    """Whether the document denies the user's request outright, signed with MFA or with long-term keys (no MFA key
    in the request at all), by the collection's IAM evaluator."""
    values = {"aws:MultiFactorAuthPresent": "true"} if mfa else {}
    return evaluate(Request(action, "*", RequestContext(values, complete=True)), [("mfa", document)]).explicit_deny


def deny(document):
    return next(s for s in document["Statement"] if s["Sid"] == REQUIRE_MFA_SID)


def test_denies_everything_but_own_mfa_unless_mfa_is_present():
    document = build_require_mfa_policy()
    statement = deny(document)
    assert statement["Effect"] == "Deny" and statement["Resource"] == "*"
    # BoolIfExists: a request signed with long-term keys has no MFA key at all, and is denied too.
    assert statement["Condition"] == {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    assert {"iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:ListMFADevices",
            "sts:GetSessionToken"} <= set(statement["NotAction"])
    # Deactivating a device needs MFA: a stolen password alone must not remove it.
    assert "iam:DeactivateMFADevice" not in statement["NotAction"]
    own = next(s for s in document["Statement"] if s["Sid"] == "CloudburstAllowManageOwnUserMFA")
    assert own["Resource"] == "arn:aws:iam::*:user/${aws:username}"
    assert denied(document, mfa=False) and not denied(document, mfa=True)
    assert not denied(document, mfa=False, action="iam:EnableMFADevice")
    assert policy_size(document) < 2048  # fits beside other inline policies of a user


def test_password_change_is_optional_and_partition_is_used():
    document = build_require_mfa_policy("aws-us-gov", allow_password_change=False)
    assert "iam:ChangePassword" not in deny(document)["NotAction"]
    assert all("arn:aws:" not in str(s.get("Resource")) for s in document["Statement"])
    assert "iam:ChangePassword" in deny(build_require_mfa_policy())["NotAction"]


def test_filter():
    require_mfa_policy = FilterModule().filters()["require_mfa_policy"]
    assert require_mfa_policy("aws") == build_require_mfa_policy()
    assert require_mfa_policy(None) == build_require_mfa_policy()
    with pytest.raises(AnsibleFilterError, match="partition 'aws-moon' is not one of"):
        require_mfa_policy("aws-moon")
