#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htcondor_annex_reaper
short_description: Terminate the instances of HTCondor annexes whose lease has ended, and delete their objects
version_added: 1.0.0
description:
  - The cloud-side lease of an annex, run from the controller or the central manager (for example from a
    systemd timer), next to the lease function that a schedule runs in AWS. Both run the same code,
    C(plugins/module_utils/annex_lease.py), so a node that never starts condor, or whose own lease
    shutdown fails, still stops billing.
  - An annex instance is one tagged C(htcondor:AnnexName). Its lease end is its C(cloudburst:lease-end)
    tag (ISO 8601 UTC, as the C(cloudburst.aws.htcondor_annex) role writes it; epoch seconds are read too).
    Every such instance in state pending, running, stopping or stopped whose lease end has passed is
    terminated. An instance without a readable lease end is never terminated; it is listed in RV(skipped).
  - An annex has ended when none of its live instances has a later lease, or when it has no live instance
    left and the lease end recorded on its objects has passed. Then its objects in O(bucket) (key prefix
    C(config-<annex name>/)) are deleted.
  - With O(cluster), the same reaper ends a leased EC2 cluster instead, such as a Spark cluster that
    C(cloudburst.aws.spark_ec2) launched with C(spark_ec2_lease_hours) - its instances carry C(cloudburst:cluster),
    C(managed-by=cloudburst.aws), C(cloudburst:lease-end) and C(cloudburst:lease-action). Past the lease end each is
    terminated or stopped as its lease action says. Annex instances and objects are then not touched.
  - In check mode nothing is changed and the result says what would be.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  annex_name:
    description:
      - Only this annex. Without it, every annex in the region.
      - 1 to 27 letters, digits, dot, dash and underscore (condor_annex's limit).
    type: str
  bucket:
    description:
      - The annex configuration bucket whose ended annexes' objects are deleted. Without it no object is touched.
    type: str
  cluster:
    description:
      - Enforce the lease of this EC2 cluster (1 to 63 letters, digits, dash and underscore) instead of the annexes'.
      - Cannot be used with O(annex_name) or O(bucket).
    type: str
    version_added: 1.0.0
  now:
    description:
      - The time to judge leases at, ISO 8601 or epoch seconds, for planning - what would go by then. Default the
        current time.
      - Only in check mode. Outside it the module fails before any call, since a later moment would terminate
        annexes whose leases have not ended.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Enforce every annex's lease (run every five minutes from a timer)
  cloudburst.aws.htcondor_annex_reaper:
    bucket: cloudburst-annex-config-123456789012
  register: reaped

- name: End Spark cluster nightly's instances if its lease has passed (terminate or stop, as launched)
  cloudburst.aws.htcondor_annex_reaper:
    cluster: nightly

- name: What would go in the next hour
  cloudburst.aws.htcondor_annex_reaper:
    annex_name: seed-000
    now: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(now(utc=true).timestamp() + 3600, utc=true) }}"
  check_mode: true
"""

RETURN = r"""
terminated:
  description: Ids of the instances terminated (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["i-0123456789abcdef0"]
deleted:
  description: Keys of the objects deleted from O(bucket) (in check mode, that would be).
  returned: unless O(cluster) is given
  type: list
  elements: str
  sample: ["config-seed-000/annex.json"]
annexes:
  description: Each annex with expired instances, by name, and those instances' ids.
  returned: unless O(cluster) is given
  type: dict
  sample: {"seed-000": ["i-0123456789abcdef0"]}
stopped:
  description: With O(cluster), ids of the instances stopped (in check mode, that would be); their lease action is stop.
  returned: when O(cluster) is given
  type: list
  elements: str
clusters:
  description: With O(cluster), the cluster's ended instances by cluster name.
  returned: when O(cluster) is given
  type: dict
ended:
  description: Names of the annexes that have ended (their objects go).
  returned: unless O(cluster) is given
  type: list
  elements: str
skipped:
  description: Live annex (or cluster) instances without a readable lease end (or action), never ended.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance.
      type: str
    annex_name:
      description: Its annex.
      type: str
    cluster:
      description: Its cluster, with O(cluster).
      type: str
now:
  description: The time the leases were judged at, ISO 8601 UTC.
  returned: always
  type: str
  sample: "2026-11-25T14:05:00Z"
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_managers import AnnexReaperManager
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager


def main():
    module = CloudburstAWSModule(
        argument_spec=dict(
            annex_name=dict(type="str"),
            bucket=dict(type="str"),
            cluster=dict(type="str"),
            now=dict(type="str"),
        ),
        mutually_exclusive=[("cluster", "annex_name"), ("cluster", "bucket")],
        supports_check_mode=True,
    )
    module.exit_json(**run_manager(module, AnnexReaperManager(module), "the annex leases"))


if __name__ == "__main__":
    main()
