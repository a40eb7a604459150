# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.cloudburst.aws.plugins.module_utils.audit_policy import build_audit_policy


def audit_policy(_input=None):
    """The IAM policy an auditor needs to run cloudburst.aws.iam_audit, as a dict."""
    return build_audit_policy()


class FilterModule:
    def filters(self):
        return {"audit_policy": audit_policy}
