#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: access_check
short_description: Check that the AWS key may act from this controller, and say why not
version_added: 1.0.0
description:
  - The first AWS step of the launch flows (C(cloudburst.aws.spark_ec2), C(cloudburst.aws.htcondor_annex)). It asks
    AWS who the caller is (C(sts:GetCallerIdentity), which needs no permission) and lists the account's regions
    (C(ec2:DescribeRegions), which the launch policy grants as part of C(ec2:Describe*)).
  - When AWS refuses the listing with an explicit deny, every request of the key is refused from here. For a user
    made by C(cloudburst.aws.iam_restricted_user) that is its source-IP restriction answering a request from outside
    the allow-list, so the module fails saying so, and names the address the request came from as far as the
    controller can know it, the answer of O(checkip_url) (asked only then).
  - When no policy allows the listing, it fails naming the missing permission. Nothing is ever changed.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  checkip_url:
    description:
      - Checkip-style URL that tells this controller's public address, asked only when AWS refuses the key with an
        explicit deny (C(cloudburst.aws.public_ip_info)'s O(cloudburst.aws.public_ip_info#module:url)).
    type: str
    default: https://checkip.amazonaws.com/
  allow_private:
    description: Accept a private checkip answer (C(cloudburst.aws.public_ip_info)'s option of the same name).
    type: bool
    default: false
  allow_insecure_url:
    description:
      - Ask a plain-http checkip URL that is not a loopback address (C(cloudburst.aws.public_ip_info)'s option).
      - Also needed to accept O(validate_certs=false) for the AWS endpoint, as every module of this collection asks;
        without it the module fails before any call.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check that the key may act from here before launching anything
  cloudburst.aws.access_check:
  register: access

- name: The regions the account can use
  ansible.builtin.debug:
    msg: "{{ access.regions }}"
"""

RETURN = r"""
arn:
  description: The caller's ARN.
  returned: success
  type: str
  sample: arn:aws:iam::123456789012:user/cloudburst/annex-user
account:
  description: The caller's account.
  returned: success
  type: str
user_id:
  description: The caller's unique id.
  returned: success
  type: str
regions:
  description: The names of the regions the account can use.
  returned: success
  type: list
  elements: str
  sample: [eu-west-1, us-east-1]
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.access_denied import AccessCheckManager
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager


def main():
    module = CloudburstAWSModule(
        argument_spec=dict(
            checkip_url=dict(type="str", default="https://checkip.amazonaws.com/"),
            allow_private=dict(type="bool", default=False),
            allow_insecure_url=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run_manager(module, AccessCheckManager(module), "this key"))


if __name__ == "__main__":
    main()
