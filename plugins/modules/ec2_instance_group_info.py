#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_instance_group_info
short_description: The instances of a cluster that this controller launched, by role, from its launch records
version_added: 1.0.0
description:
  - Reads the pending, running, stopping and stopped instances tagged C(cloudburst:cluster=)O(cluster) and
    C(managed-by=cloudburst.aws) with one filtered C(DescribeInstances), and returns those that the controller's
    launch records O(launch_records) name (see M(cloudburst.aws.ec2_instance_group)), of O(role) or of every role,
    oldest first.
  - 'A tagged instance the records do not name (planted by anyone allowed to launch with the cluster''s tags) is
    reported in a warning (C(not launched by this controller: i-...)) and in RV(untrusted_ids), never returned.'
  - A cluster with tagged instances and no launch records file fails with their ids, as the module does.
  - The same read path as M(cloudburst.aws.ec2_instance_group). The records are only read; the instances of a launch
    whose answer was lost are recognised by their client token but written down only by the next
    M(cloudburst.aws.ec2_instance_group) run, and O(adopt_instance_ids) is only checked and trusted for this answer.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  cluster:
    description: The cluster's name, as tagged C(cloudburst:cluster). 1-63 letters, digits, C(-) or C(_).
    type: str
    required: true
  role:
    description: Only instances launched as this role (their launch record's role); empty means every role.
    type: str
    default: ""
  launch_records:
    description:
      - The cluster's launch records on the controller
        (O(cloudburst.aws.ec2_instance_group#module:launch_records) of M(cloudburst.aws.ec2_instance_group)).
    type: path
    required: true
  adopt_instance_ids:
    description:
      - Instances to trust in this answer as M(cloudburst.aws.ec2_instance_group) would adopt them (checked the same
        way, never written down).
    type: list
    elements: str
    default: []
  key_name:
    description: The key pair that instances in O(adopt_instance_ids) must carry; unset means any.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: The workers this controller launched for cluster demo
  cloudburst.aws.ec2_instance_group_info:
    cluster: demo
    role: worker
    launch_records: ~/.ssh/cloudburst-demo_ed25519.launched/demo.json
  register: workers
"""

RETURN = r"""
instances:
  description:
    - The trusted instances, oldest first, as amazon.aws.ec2_instance_info returns them, each with C(launch_record)
      (C(role), C(image_id), C(key_name), C(client_token), C(tags) as launched, C(adopted) for an adopted one).
    - C(launch_record.tags) are the controller's own word; C(tags) are what EC2 holds now, which anyone allowed to tag
      the cluster's instances can change.
  returned: always
  type: list
  elements: dict
instance_ids:
  description: The ids of RV(instances).
  returned: always
  type: list
  elements: str
untrusted_ids:
  description: Tagged instances (of O(role), or of every role) that the launch records do not name.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager

from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import InstanceGroupManager
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import ec2_retry


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        role=dict(type="str", default=""),
        launch_records=dict(type="path", required=True),
        adopt_instance_ids=dict(type="list", elements="str", default=[]),
        key_name=dict(type="str", no_log=False),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    manager = InstanceGroupManager(module.client("ec2", retry_decorator=ec2_retry()), module.params, check_mode=True)
    result = run_manager(module, manager, f"cluster {module.params['cluster']}", manager.info)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
