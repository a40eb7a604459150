#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: htcondor_annex_check
short_description: Check an HTCondor annex setup as condor_annex -check-setup does, and the resources behind it
version_added: 1.0.0
description:
  - Reads the user's HTCondor config file and reports each item of the annex setup as C(ok), C(missing),
    C(mismatch) (the config and the account disagree) or C(problem) (there, but wrong).
  - What C(condor_annex -check-setup) checks - the settings C(ANNEX_DEFAULT_AWS_REGION),
    C(<region>.ANNEX_DEFAULT_ACCESS_KEY_FILE), C(_SECRET_KEY_FILE), C(_S3_BUCKET), C(_ODI_SECURITY_GROUP_IDS),
    C(_ODI_LEASE_FUNCTION_ARN), C(_SFR_LEASE_FUNCTION_ARN), C(_ODI_INSTANCE_PROFILE_ARN), C(_ODI_KEY_NAME),
    C(COLLECTOR_HOST) and C(SEC_PASSWORD_FILE); the secret key file owned by the user and private; the four
    stacks C(HTCondorAnnex-ConfigurationBucket), C(-LambdaFunctions), C(-InstanceProfile) and C(-SecurityGroup)
    in C(CREATE_COMPLETE) or C(UPDATE_COMPLETE).
  - And what it does not - the bucket exists with its public access block fully on and default encryption;
    both lease functions exist on a runtime AWS supports and EventBridge may invoke them; the instance
    profile exists and its role reads only the bucket's C(config-*) objects; the security group exists and
    opens nothing to C(0.0.0.0/0) or C(::/0), only 22 and 9618 (to the given networks when they are given); the
    key pair exists. A setting that differs from what its stack made is a C(mismatch).
  - A region prefix spelled with hyphens (C(us-east-1.ANNEX_DEFAULT_S3_BUCKET)) is reported, because it is a config
    syntax error that breaks every condor tool.
  - Makes only read calls and never changes anything.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  config_file:
    description: The user's HTCondor config file that condor_annex -setup wrote to.
    type: path
    default: ~/.condor/user_config
  central_manager_cidrs:
    description: The networks that should reach port 9618; when given, the group must allow exactly these.
    type: list
    elements: str
  ssh_allowlist:
    description: The networks that should reach port 22; when given, the group must allow exactly these.
    type: list
    elements: str
  supported_runtimes:
    description: Lambda runtimes counted as supported.
    type: list
    elements: str
    default: [python3.10, python3.11, python3.12, python3.13, python3.14, nodejs20.x, nodejs22.x]
  owner_tags:
    description:
      - Tags the setup's stacks carry (cloudburst.aws.htcondor_annex_setup adds these). A stack of the setup's names
        without them was made by someone else, stock C(condor_annex -setup) for example; it is a C(problem) and is
        listed in RV(foreign_stacks).
      - Empty accepts every stack of those names.
    type: dict
    default: {"cloudburst:made-by": cloudburst.aws.htcondor_annex_setup}
  fail_on_problem:
    description: Fail the task when any item is not C(ok).
    type: bool
    default: false
notes:
  - The AWS calls use the module's credentials and region. Without a region, the config's
    C(ANNEX_DEFAULT_AWS_REGION) is used; with one that differs, that setting is a C(mismatch).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
attributes:
  check_mode:
    support: full
    description: The module never changes anything, so check mode runs it in full.
  diff_mode:
    support: none
    description: The module changes nothing a diff could show.
"""

EXAMPLES = r"""
- name: Check the annex setup
  cloudburst.aws.htcondor_annex_check:
    config_file: ~/.condor/user_config
    central_manager_cidrs: [203.0.113.10/32]
  register: annex_check

- name: Fail the play on any problem
  cloudburst.aws.htcondor_annex_check:
    fail_on_problem: true
"""

RETURN = r"""
ok:
  description: Whether every item is C(ok).
  returned: always
  type: bool
summary:
  description: C(Your setup looks OK.) as condor_annex says it, or the items that are not.
  returned: always
  type: str
items:
  description: One entry per item checked, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The item, such as C(us_east_1.ANNEX_DEFAULT_S3_BUCKET), C(stack HTCondorAnnex-SecurityGroup) or C(security group).
      type: str
    status:
      description: V(ok), V(missing), V(mismatch) or V(problem).
      type: str
    detail:
      description: The value found, or what is wrong.
      type: str
region:
  description: The region checked.
  returned: always
  type: str
foreign_stacks:
  description: Stacks of the setup's names that lack O(owner_tags), such as those stock C(condor_annex -setup) made.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The stack's name.
      type: str
    status:
      description: The stack's status.
      type: str
    tags:
      description: The stack's tags.
      type: dict
  sample: [{"name": "HTCondorAnnex-SecurityGroup", "status": "CREATE_COMPLETE", "tags": {}}]
stock_annex_nodes:
  description:
    - Whether the nodes of an annex launched by the stock C(condor_annex -count) on this setup join the pool, and
      what they lack. The stock launch itself works on the setup (the connectivity function, the lease function
      honouring the stock rule's input); its nodes do not join.
  returned: always
  type: dict
  contains:
    joins_pool:
      description: Whether such a node joins the pool.
      type: bool
    lacks:
      description: What such a node lacks, each item in words.
      type: list
      elements: str
    summary:
      description: The whole answer in one sentence, as the setup playbook prints it.
      type: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_check import SUPPORTED_RUNTIMES
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_managers import AnnexCheckManager
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager


def main():
    argument_spec = dict(
        config_file=dict(type="path", default="~/.condor/user_config"),
        central_manager_cidrs=dict(type="list", elements="str"),
        ssh_allowlist=dict(type="list", elements="str"),
        supported_runtimes=dict(type="list", elements="str", default=list(SUPPORTED_RUNTIMES)),
        owner_tags=dict(type="dict", default={"cloudburst:made-by": "cloudburst.aws.htcondor_annex_setup"}),
        fail_on_problem=dict(type="bool", default=False),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**run_manager(module, AnnexCheckManager(module), "the annex setup"))


if __name__ == "__main__":
    main()
