# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import SourceIpPolicyError
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import normalize_cidrs

display = Display()


def _checked(name, build, cidrs, allow_wide_prefixes):
    """Run one of the allow-list builders; its refusals become filter errors, its warnings warnings."""
    try:
        value, warnings = build(cidrs, allow_wide_prefixes=bool(allow_wide_prefixes))
    except SourceIpPolicyError as exc:
        raise AnsibleFilterError(f"{name}: {exc}")
    for warning in warnings:
        display.warning(f"{name}: {warning}")
    return value


def source_ip_policy(cidrs, allow_wide_prefixes=False):
    """Turn an allow-list of CIDRs into the IAM policy that denies requests from anywhere else."""
    return _checked("source_ip_policy", build_source_ip_policy, cidrs, allow_wide_prefixes)


def allowlist_cidrs(cidrs, allow_wide_prefixes=False):
    """An allow-list checked by the same rules as the restriction policy, as normalised CIDR strings."""
    return _checked("allowlist_cidrs", normalize_cidrs, cidrs, allow_wide_prefixes)


class FilterModule:
    def filters(self):
        return {"source_ip_policy": source_ip_policy, "allowlist_cidrs": allowlist_cidrs}
