#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_user_info
short_description: Describe IAM users with their policies, groups and source IP restriction
version_added: 1.0.0
description:
  - Lists one IAM user, or every user under a path, with tags, attached managed policies, inline policy
    names, groups, permissions boundary, and whether a source IP restriction is attached and with which
    networks.
  - The restriction is the one M(cloudburst.aws.iam_user) manages, recognised by its statement id in
    whichever inline policy holds it. M(cloudburst.aws.iam_user) reads a user the same way.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  name:
    description: One user to describe. An unknown name gives an empty list.
    type: str
    aliases: [user_name]
  path_prefix:
    description: Without O(name), describe the users whose path starts with this.
    type: str
    default: /
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.iam.info
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Which of the team's users are restricted to which networks
  cloudburst.aws.iam_user_info:
    path_prefix: /cloudburst/
  register: team

- name: Fail if any of them is not restricted
  ansible.builtin.assert:
    that: team.users | rejectattr('source_ip_restricted') | list | length == 0
"""

RETURN = r"""
users:
  description: The users found.
  returned: always
  type: list
  elements: dict
  contains:
    user_name:
      description: The user's name.
      type: str
    user_id:
      description: The user's unique id.
      type: str
    arn:
      description: The user's ARN.
      type: str
    path:
      description: The user's path.
      type: str
    create_date:
      description: When the user was created, ISO 8601.
      type: str
      sample: "2026-11-25T09:30:00+00:00"
    tags:
      description: The user's tags.
      type: dict
    permissions_boundary:
      description: ARN of the permissions boundary, if any.
      type: str
    managed_policies:
      description: ARNs of the attached managed policies.
      type: list
      elements: str
    inline_policy_names:
      description: Names of the inline policies.
      type: list
      elements: str
    groups:
      description: The user's groups.
      type: list
      elements: str
    source_ip_restricted:
      description: Whether a source IP restriction of M(cloudburst.aws.iam_user)'s is attached.
      type: bool
    source_ip_allowlist:
      description: The networks the restriction allows, or null.
      type: list
      elements: str
    source_ip_policy_names:
      description: The inline policies that hold the restriction (one, or none).
      type: list
      elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import UserInfoManager


def main():
    module = CloudburstAWSModule(
        argument_spec=dict(
            name=dict(type="str", aliases=["user_name"]),
            path_prefix=dict(type="str", default="/"),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run_manager(module, UserInfoManager(module, iam_client(module)), "IAM users"))


if __name__ == "__main__":
    main()
