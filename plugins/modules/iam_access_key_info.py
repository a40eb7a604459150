#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_access_key_info
short_description: Describe an IAM user's access keys with their age and last use
version_added: 1.0.0
description:
  - Lists a user's access keys with status, creation date, age in days and when, where and for which
    service each was last used. Never returns a secret (AWS does not keep one to return).
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  user_name:
    description: The IAM user.
    type: str
    required: true
    aliases: [user]
notes:
  - A user that does not exist is an error, except in check mode. There an earlier task of the same play
    may only have predicted the user's creation, so the module returns no keys and a warning.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.iam.info
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Keys of the annex user
  cloudburst.aws.iam_access_key_info:
    user_name: annex-user
  register: keys

- name: Warn about keys older than 90 days
  ansible.builtin.debug:
    msg: "{{ item.access_key_id }} is {{ item.age_days }} days old"
  loop: "{{ keys.access_keys | selectattr('age_days', 'ge', 90) }}"
"""

RETURN = r"""
access_keys:
  description: The user's keys, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    access_key_id:
      description: The key's id.
      type: str
    status:
      description: C(Active) or C(Inactive).
      type: str
    create_date:
      description: When the key was created, ISO 8601.
      type: str
    age_days:
      description: Whole days since creation.
      type: int
    last_used_date:
      description: When the key was last used, or null.
      type: str
    last_used_service:
      description: The service it was last used with, or null.
      type: str
    last_used_region:
      description: The region it was last used in, or null.
      type: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import AccessKeyInfoManager


def main():
    module = CloudburstAWSModule(
        argument_spec=dict(user_name=dict(type="str", required=True, aliases=["user"])),
        supports_check_mode=True,
    )
    manager = AccessKeyInfoManager(module, iam_client(module))
    module.exit_json(**run_manager(module, manager, f"the access keys of {module.params['user_name']}"))


if __name__ == "__main__":
    main()
