# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The require-MFA policy for people who sign in to the console or use the CLI with MFA.

The shape is AWS's documented example "Allows MFA-authenticated IAM users to manage their own MFA device"
(IAM User Guide, reference_policies_examples_aws_my-sec-creds-self-manage-mfa-only): the user may always
enrol and enable their own virtual MFA device, and every other request is denied unless
aws:MultiFactorAuthPresent is true. BoolIfExists makes requests signed with long-term access keys (which
carry no MFA context at all) count as "no MFA", so this policy must never go on a programmatic user such as
the one condor_annex uses: its keys would stop working.
"""

from __future__ import annotations

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import POLICY_VERSION

REQUIRE_MFA_SID = "CloudburstDenyAllExceptListedIfNoMFA"

# What a user without MFA in the request may still do: find, create and enable their own device, and trade
# a code for a session (sts:GetSessionToken), which is how the CLI gets MFA into its requests.
ALLOWED_WITHOUT_MFA = [
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:GetMFADevice",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
]
# A console user whose password must be changed at first sign-in has no MFA yet either.
PASSWORD_ACTIONS = ["iam:ChangePassword", "iam:GetAccountPasswordPolicy"]

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


class MfaPolicyError(ValueError):
    """Input that cannot make the policy."""


def build_require_mfa_policy(partition="aws", allow_password_change=True):
    """The require-MFA policy document (a dict) for the given AWS partition."""
    if partition not in PARTITIONS:
        raise MfaPolicyError(f"partition {partition!r} is not one of {', '.join(PARTITIONS)}")
    own_user = f"arn:{partition}:iam::*:user/${{aws:username}}"
    without_mfa = list(ALLOWED_WITHOUT_MFA)
    own_user_actions = ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:GetMFADevice",
                        "iam:ListMFADevices", "iam:ResyncMFADevice"]
    if allow_password_change:
        without_mfa += PASSWORD_ACTIONS
        own_user_actions.append("iam:ChangePassword")
    statements = [
        {
            "Sid": "CloudburstAllowListVirtualMFADevices",
            "Effect": "Allow",
            "Action": "iam:ListVirtualMFADevices",
            "Resource": "*",
        },
        {
            "Sid": "CloudburstAllowManageOwnVirtualMFADevice",
            "Effect": "Allow",
            "Action": ["iam:CreateVirtualMFADevice"],
            "Resource": f"arn:{partition}:iam::*:mfa/*",
        },
        {
            "Sid": "CloudburstAllowManageOwnUserMFA",
            "Effect": "Allow",
            "Action": sorted(own_user_actions),
            "Resource": own_user,
        },
    ]
    if allow_password_change:
        statements.append({
            "Sid": "CloudburstAllowViewPasswordPolicy",
            "Effect": "Allow",
            "Action": "iam:GetAccountPasswordPolicy",
            "Resource": "*",
        })
    statements.append({
        "Sid": REQUIRE_MFA_SID,
        "Effect": "Deny",
        "NotAction": sorted(without_mfa),
        "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
    })
    return {"Version": POLICY_VERSION, "Statement": statements}
