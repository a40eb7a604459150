#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_managed_policy
short_description: Manage a customer managed IAM policy, comparing documents by meaning
version_added: 1.0.0
description:
  - Creates a customer managed policy, updates its document by adding a new default version, or deletes it.
  - Documents are compared by meaning (key order, a single statement or a list of one, a string or a
    one-item list, white space), so an unchanged policy reports no change.
  - IAM keeps at most five versions of a policy; when all five exist, the oldest version that is not the
    default is deleted before a new one is added.
  - O(state=absent) first detaches the policy from every user, group and role (all pages of the list) and
    deletes its other versions.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  name:
    description: The policy's name.
    type: str
    required: true
    aliases: [policy_name]
  state:
    description: Whether the policy should exist.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The policy's IAM path. The policy is found by its path and name.
    type: str
    default: /
  description:
    description: A description, set when the policy is created (IAM cannot change it later).
    type: str
  policy:
    description: The policy document, as a dictionary or a JSON string. Required with O(state=present).
    type: json
  tags:
    description: Tags for the policy. Left as they are when not given.
    type: dict
  purge_tags:
    description: Remove tags that are not in O(tags).
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.iam
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: The least-privilege policy for launching annex and Spark nodes
  cloudburst.aws.iam_managed_policy:
    name: cloudburst-launch
    path: /cloudburst/
    description: EC2, S3 and CloudFormation calls needed to launch burst nodes
    policy: "{{ lookup('ansible.builtin.file', 'launch-policy.json') }}"

- name: Remove it, detaching it everywhere first
  cloudburst.aws.iam_managed_policy:
    name: cloudburst-launch
    path: /cloudburst/
    state: absent
"""

RETURN = r"""
policy:
  description: The policy after the task (predicted in check mode).
  returned: when the policy exists after the task
  type: dict
  contains:
    policy_name:
      description: The policy's name.
      type: str
    arn:
      description: The policy's ARN.
      type: str
      sample: arn:aws:iam::123456789012:policy/cloudburst/cloudburst-launch
    path:
      description: The policy's path.
      type: str
    default_version_id:
      description: The default version.
      type: str
      sample: v2
    attachment_count:
      description: How many users, groups and roles it is attached to.
      type: int
    tags:
      description: The policy's tags.
      type: dict
    document:
      description: The default version's document.
      type: dict
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import sts_client
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_managed_policy import ManagedPolicyManager


def main():
    argument_spec = dict(
        name=dict(type="str", required=True, aliases=["policy_name"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        path=dict(type="str", default="/"),
        description=dict(type="str"),
        policy=dict(type="json"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = CloudburstAWSModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ["policy"])],
        supports_check_mode=True,
    )
    manager = ManagedPolicyManager(module, iam_client(module), sts_client(module))
    before, after = run_manager(module, manager, f"policy {module.params['name']}")
    module.exit_json(**manager.result(before, after), **manager.out)


if __name__ == "__main__":
    main()
