#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudformation_stack
short_description: Deploy a CloudFormation stack only when its template, parameters or tags differ
version_added: 1.0.0
description:
  - Creates, updates or deletes one CloudFormation stack from a template body.
  - Before updating, it reads the deployed template (C(GetTemplate)) and the stack's parameters and tags and
    compares them with the task's. When nothing differs it makes no write call and reports no change.
    (C(amazon.aws.cloudformation) updates on every run against some endpoints, moto among them, and so never
    reports C(changed=false) there.)
  - A stack left in C(ROLLBACK_COMPLETE) by a failed creation is deleted and created again.
  - With O(owner_tags), a stack of that name that exists without those tags was made by someone else (stock
    C(condor_annex -setup), for example). The module refuses it before any write call, or, with
    O(replace_foreign=true), deletes it and creates it from the template (with O(state=absent), deletes it).
    Resources CloudFormation cannot delete, such as a bucket that still holds objects, are kept and named in
    RV(changes) and in a warning.
  - When a creation or update fails, the reasons CloudFormation gives in the stack's events are in the message.
  - The region is checked against the regions botocore knows before any call.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  name:
    description: The stack's name.
    type: str
    required: true
    aliases: [stack_name]
  state:
    description: Whether the stack should exist.
    type: str
    choices: [present, absent]
    default: present
  template_body:
    description: The template, as YAML or JSON text. Required with O(state=present).
    type: str
  parameters:
    description:
      - Template parameters. A list value is joined with commas (for C(CommaDelimitedList) parameters).
      - Parameters left out take the template's defaults.
    type: dict
    default: {}
  tags:
    description: Tags of the stack (CloudFormation copies them to the resources that take tags).
    type: dict
    default: {}
  owner_tags:
    description:
      - Tags that mark the stacks this task manages; they are added to O(tags).
      - An existing stack that lacks any of them (or has another value) is foreign; see O(replace_foreign).
      - Empty means every stack of that name is treated as the task's own.
    type: dict
    default: {}
  replace_foreign:
    description:
      - What to do with a foreign stack (see O(owner_tags)). V(false) fails without a write call, naming the
        stack and its tags. V(true) deletes it and creates it from O(template_body) (with O(state=absent), only
        deletes it), and says so in RV(changes) and in a warning.
    type: bool
    default: false
  capabilities:
    description: Capabilities to acknowledge, such as C(CAPABILITY_IAM) for a template that creates IAM roles.
    type: list
    elements: str
    default: [CAPABILITY_IAM]
  wait:
    description: Wait until the stack is complete.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait at most.
    type: int
    default: 900
  wait_delay:
    description: Seconds between two looks at the stack while waiting.
    type: int
    default: 5
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
attributes:
  check_mode:
    support: full
    description: Compares and reports what would change; makes no write call.
  diff_mode:
    support: full
    description: Shows the stack's template, parameters and tags before and after.
"""

EXAMPLES = r"""
- name: The annex configuration bucket
  cloudburst.aws.cloudformation_stack:
    name: HTCondorAnnex-ConfigurationBucket
    template_body: "{{ lookup('ansible.builtin.file', 'configuration-bucket.yaml') }}"
    parameters:
      BucketName: cloudburst-annex-123456789012-us-east-1
    tags:
      managed-by: cloudburst.aws
  register: bucket_stack

- name: The security group stack, replacing one that stock condor_annex -setup made (open to 0.0.0.0/0)
  cloudburst.aws.cloudformation_stack:
    name: HTCondorAnnex-SecurityGroup
    template_body: "{{ lookup('ansible.builtin.template', 'security-group.yaml.j2') }}"
    owner_tags:
      cloudburst:made-by: cloudburst.aws.htcondor_annex_setup
    replace_foreign: true

- name: Remove a stack
  cloudburst.aws.cloudformation_stack:
    name: HTCondorAnnex-SecurityGroup
    state: absent
"""

RETURN = r"""
stack:
  description: The stack after the task (predicted in check mode); empty when it does not exist.
  returned: always
  type: dict
  contains:
    stack_name:
      description: The stack's name.
      type: str
    stack_id:
      description: The stack's ARN.
      type: str
    status:
      description: The stack's status.
      type: str
      sample: CREATE_COMPLETE
    parameters:
      description: The stack's parameters.
      type: dict
    outputs:
      description: The stack's outputs, by output name.
      type: dict
      sample: {"BucketName": "cloudburst-annex-123456789012-us-east-1"}
    tags:
      description: The stack's tags.
      type: dict
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
replaced:
  description: Whether a foreign stack was (or, in check mode, would be) deleted and made anew.
  returned: always
  type: bool
retained_resources:
  description: Resources of a replaced stack that CloudFormation could not delete and that were kept.
  returned: always
  type: list
  elements: str
  sample: ["AWS::S3::Bucket htcondorannex-configurationbucket-s3bucket-1x2y3z"]
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import StackManager


def main():
    argument_spec = dict(
        name=dict(type="str", required=True, aliases=["stack_name"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        template_body=dict(type="str"),
        parameters=dict(type="dict", default={}),
        tags=dict(type="dict", default={}),
        owner_tags=dict(type="dict", default={}),
        replace_foreign=dict(type="bool", default=False),
        capabilities=dict(type="list", elements="str", default=["CAPABILITY_IAM"]),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
        wait_delay=dict(type="int", default=5),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, required_if=[("state", "present", ["template_body"])],
                                 supports_check_mode=True)
    module.exit_json(**run_manager(module, StackManager(module), f"stack {module.params['name']}"))


if __name__ == "__main__":
    main()
