#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htcondor_annex_status
short_description: List HTCondor annexes on EC2 with their instances, leases and slots in the pool
version_added: 1.0.0
description:
  - What C(condor_annex -status) shows. Annexes are found by the C(htcondor:AnnexName) tag of their
    instances; each instance is listed with its id, state (terminated ones too, while EC2 still lists them),
    type, market (spot or on-demand), launch time, lease end (C(cloudburst:lease-end)) and private address.
  - Given the pool's startd ads (O(slots), the output of C(condor_status -json) run on the central manager),
    each instance also lists its slots, matched by the address the startd advertises or by host name.
  - Read-only; never changes anything.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  annex_name:
    description:
      - Only this annex. Without it, every annex in the region.
      - 1 to 27 letters, digits, dot, dash and underscore.
    type: str
  slots:
    description:
      - Startd ads from the central manager (C(condor_status -json) parsed), to match to the instances.
        Without it the result has no slot information.
    type: list
    elements: dict
  include_terminated:
    description: List terminated and shutting-down instances too.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Read the pool's slots on the central manager
  ansible.builtin.command:
    argv: [condor_status, -json, -constraint, "IsAnnex =?= true"]
  register: pool_slots
  delegate_to: "{{ groups['htcondor_central_manager'][0] }}"
  changed_when: false

- name: Annex status
  cloudburst.aws.htcondor_annex_status:
    annex_name: seed-000
    slots: "{{ pool_slots.stdout | default('[]', true) | from_json }}"
  register: status
"""

RETURN = r"""
annexes:
  description: The annexes found, by name.
  returned: always
  type: list
  elements: dict
  contains:
    annex_name:
      description: The annex's name.
      type: str
    instances:
      description: Its instances, oldest first.
      type: list
      elements: dict
      contains:
        instance_id:
          description: The instance id.
          type: str
        state:
          description: EC2 state (pending, running, shutting-down, terminated, stopping, stopped).
          type: str
        instance_type:
          description: The instance type.
          type: str
        market:
          description: spot or on-demand.
          type: str
        launch_time:
          description: Launch time, ISO 8601 UTC.
          type: str
        lease_end:
          description: Lease end from the C(cloudburst:lease-end) tag, ISO 8601 UTC, or null.
          type: str
        private_ip:
          description: Private address.
          type: str
        slots:
          description: The instance's slots in the pool (only with O(slots)).
          type: list
          elements: dict
    states:
      description: Number of instances in each state.
      type: dict
      sample: {"running": 1, "terminated": 1}
    live:
      description: Instances pending, running, stopping or stopped.
      type: int
    lease_end:
      description: The latest lease end of its live instances, or null.
      type: str
    lease_seconds_left:
      description: Seconds until that lease end (0 when past); only when there is one.
      type: int
    slots:
      description: Number of its slots in the pool (only with O(slots)).
      type: int
    unmatched_slots:
      description: Slots advertising this AnnexName that match none of its instances (only with O(slots)).
      type: list
      elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_managers import AnnexStatusManager
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager


def main():
    module = CloudburstAWSModule(
        argument_spec=dict(
            annex_name=dict(type="str"),
            slots=dict(type="list", elements="dict"),
            include_terminated=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run_manager(module, AnnexStatusManager(module), "the annex instances"))


if __name__ == "__main__":
    main()
