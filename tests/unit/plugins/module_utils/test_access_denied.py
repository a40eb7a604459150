# -*- coding: utf-8 -*-
"""access_denied: AWS's denial messages taken apart, and what they mean for a cloudburst.aws user."""

from __future__ import annotations

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.access_denied import explain
from ansible_collections.cloudburst.aws.plugins.module_utils.access_denied import read_denial

USER = "arn:aws:iam::123456789012:user/cloudburst/annex-user"


@pytest.mark.parametrize("message, action, resource, explicit, missing, policy", [
    (f"You are not authorized to perform this operation. User: {USER} is not authorized to perform: "
     "ec2:RunInstances on resource: arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1 because no identity-based "
     "policy allows the ec2:RunInstances action. Encoded authorization failure message: AbC",
     "ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1", False, "identity-based policy", None),
    (f"User: {USER} is not authorized to perform: ec2:DescribeRegions on resource: * with an explicit deny in an "
     "identity-based policy", "ec2:DescribeRegions", "*", True, None, None),
    (f"User: {USER} is not authorized to perform: iam:ListRoles on resource: arn:aws:iam::123456789012:role/* with "
     "an explicit deny in a service control policy: arn:aws:organizations::987654321098:policy/o-a/p-b",
     "iam:ListRoles", "arn:aws:iam::123456789012:role/*", True, None,
     "arn:aws:organizations::987654321098:policy/o-a/p-b"),
    (f"User: {USER} is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::123456789012:user/x "
     "because no permissions boundary allows the iam:CreateUser action", "iam:CreateUser",
     "arn:aws:iam::123456789012:user/x", False, "permissions boundary", None),
])
def test_aws_denial_messages_are_read(message, action, resource, explicit, missing, policy):
    denial = read_denial(message)
    assert (denial.principal, denial.action, denial.resource) == (USER, action, resource)
    assert (denial.explicit, denial.missing, denial.policy) == (explicit, missing, policy)


def test_other_errors_are_no_denials():
    assert read_denial("Request has expired.") is None
    assert read_denial("The security token included in the request is invalid.") is None


def test_an_explicit_deny_is_explained_as_the_source_ip_restriction_with_the_address():
    denial = read_denial(f"User: {USER} is not authorized to perform: ec2:DescribeRegions on resource: * with an "
                         "explicit deny in an identity-based policy")
    message = explain(denial, "198.51.100.20")
    assert "the request came from 198.51.100.20" in message and "outside the restriction" in message
    assert "CloudburstDenyOutsideSourceIpAllowList" in message and "Nothing was changed." in message
    assert "could not learn its own public address (timed out)" in explain(denial, None, "timed out")


def test_a_missing_permission_is_named():
    denial = read_denial(f"User: {USER} is not authorized to perform: ec2:DescribeRegions on resource: * because no "
                         "identity-based policy allows the ec2:DescribeRegions action")
    assert explain(denial).startswith(f"{USER} may not call ec2:DescribeRegions on *: no identity-based policy "
                                      "allows ec2:DescribeRegions (the missing permission)")
