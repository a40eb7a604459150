# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The auditor's policy: exactly what cloudburst.aws.iam_audit (playbooks/audit.yml) reads, built as data.

iam_audit learns its account from sts:GetCallerIdentity (which needs no permission), then reads the account
summary (root keys and MFA), the password policy, the credential report (which it asks IAM to generate first)
and every user's, group's and local managed policy's details in one paginated call. None of these IAM calls
takes a resource ARN, so each is granted on "*". Nothing else is granted: no write, no secret (the credential
report holds dates and flags, never a key), no other service. Reading files for key-shaped strings and writing
the reports happen on the controller.
"""

from __future__ import annotations

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import POLICY_VERSION

# Each statement names what the audit reads with it (tests/gates/least_privilege.py counts every action).
AUDIT_STATEMENTS = (
    ("AuditRootAndPasswordPolicy", ("iam:GetAccountSummary", "iam:GetAccountPasswordPolicy")),
    ("AuditCredentialReport", ("iam:GenerateCredentialReport", "iam:GetCredentialReport")),
    ("AuditUsersGroupsAndPolicies", ("iam:GetAccountAuthorizationDetails",)),
)


def build_audit_policy():
    """The auditor's policy document as a dict (IAM actions without resource-level permissions: Resource *)."""
    return {"Version": POLICY_VERSION, "Statement": [
        {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": "*"} for sid, actions in AUDIT_STATEMENTS]}
