# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.module_utils.mfa_policy import MfaPolicyError
from ansible_collections.cloudburst.aws.plugins.module_utils.mfa_policy import build_require_mfa_policy


def require_mfa_policy(partition="aws", allow_password_change=True):
    """The IAM policy that denies everything but managing one's own MFA unless the request carries MFA."""
    try:
        return build_require_mfa_policy(partition or "aws", allow_password_change=bool(allow_password_change))
    except MfaPolicyError as exc:
        raise AnsibleFilterError(f"require_mfa_policy: {exc}")


class FilterModule:
    def filters(self):
        return {"require_mfa_policy": require_mfa_policy}
