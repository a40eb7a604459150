# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import DEFAULT_EC2_TAG_KEYS
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import LaunchPolicyError
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import build_launch_policy


def launch_policy(resource_prefixes, ec2_tag_keys=None, partition="aws", instance_roles=None):
    """The least-privilege launch policy for resources named with resource_prefixes, as a dict."""
    try:
        return build_launch_policy(resource_prefixes, DEFAULT_EC2_TAG_KEYS if ec2_tag_keys is None else ec2_tag_keys,
                                   partition=partition, instance_roles=instance_roles)
    except LaunchPolicyError as exc:
        raise AnsibleFilterError(f"launch_policy: {exc}")


class FilterModule:
    def filters(self):
        return {"launch_policy": launch_policy}
