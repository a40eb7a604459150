#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: events_retarget
short_description: Point EventBridge rule targets from one ARN to another
version_added: 1.0.0
description:
  - For each move, finds every rule of the default event bus that targets the old ARN (C(ListRuleNamesByTarget),
    whatever the rule's name) and puts each such target again with the new ARN, keeping its id, input and other
    settings.
  - The annex setup (C(cloudburst.aws.htcondor_annex_setup)) uses it when it moves its lease functions to new names,
    so that the lease rules of annexes launched before keep invoking a lease function.
  - A move whose old ARN no rule targets changes nothing. In check mode nothing is changed and the result says what
    would be.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  moves:
    description: The targets to move.
    type: list
    elements: dict
    required: true
    suboptions:
      from:
        description: The ARN the targets have now.
        type: str
        required: true
      to:
        description: The ARN they get.
        type: str
        required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Lease rules of earlier annexes invoke the lease function under its new name
  cloudburst.aws.events_retarget:
    moves:
      - from: arn:aws:lambda:us-east-1:123456789012:function:HTCondorAnnex-LambdaFunctions-odi-lease
        to: arn:aws:lambda:us-east-1:123456789012:function:AnnexSetup-odi-lease
"""

RETURN = r"""
retargeted:
  description: Each rule whose targets moved (in check mode, would move).
  returned: always
  type: list
  elements: dict
  contains:
    rule:
      description: The rule's name.
      type: str
    target_ids:
      description: The ids of its targets that moved.
      type: list
      elements: str
    from:
      description: The old ARN.
      type: str
    to:
      description: The new ARN.
      type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.events_retarget import RetargetManager


def main():
    module = CloudburstAWSModule(
        argument_spec=dict(
            moves=dict(type="list", elements="dict", required=True, options=dict(
                **{"from": dict(type="str", required=True), "to": dict(type="str", required=True)})),
        ),
        supports_check_mode=True,
    )
    manager = RetargetManager(module, module.client("events", retry_decorator=AWSRetry.jittered_backoff()))
    module.exit_json(**run_manager(module, manager, "the rule targets"))


if __name__ == "__main__":
    main()
