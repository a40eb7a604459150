#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_audit
short_description: Audit one AWS account for what gets access keys stolen and accounts lost
version_added: 1.0.0
description:
  - Checks one account and returns structured findings, each with a severity (V(low), V(medium), V(high),
    V(critical)). A finding names a user, a key by its slot, or a file and line. It never holds a secret.
  - The root user's access keys (critical) and MFA (high), from C(GetAccountSummary).
  - The password policy, against CIS AWS Foundations 1.8 and 1.9 (length 14, reuse prevention 24).
  - From the credential report (C(GenerateCredentialReport), C(GetCredentialReport)), console users without
    MFA, active keys older than O(max_key_age_days), active keys unused (or never used) for
    O(unused_key_days), and users with two active keys.
  - Users with administrator-equivalent policies (C(AdministratorAccess), or an Allow that may apply to
    every action on every resource, by the same test as the lockout guard of M(cloudburst.aws.iam_user), so
    C(*) on C(*), C(arn:*), C(arn:aws:*:*:*:*) and C(NotAction) alike; inline, attached or through a group)
    and no source-IP restriction (high).
  - With O(controller_ip), users restricted by this collection's source-IP policy whose allow-list no longer
    covers the controller.
  - With O(paths), files holding strings shaped like AWS access key ids (reported by their last four
    characters) or secret access keys (reported by file and line only).
  - Writes the report as Markdown (O(report_markdown)) and HTML (O(report_html)), with a pass / warn / fail
    table. The task fails only when O(fail_on) says so.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  max_key_age_days:
    description: An active key at least this many days old is a finding.
    type: int
    default: 90
  unused_key_days:
    description: An active key not used (or, if never used, created) for at least this many days is a finding.
    type: int
    default: 90
  controller_ip:
    description: The controller's public address, for example RV(cloudburst.aws.public_ip_info#module:ip).
    type: str
  paths:
    description: Files and directories to scan for key-shaped strings. Directories are walked; files over
      1 MiB and binary files are skipped.
    type: list
    elements: path
  exclude:
    description: Shell patterns of paths or file names that the scan skips, such as C(*.git).
    type: list
    elements: str
  report_markdown:
    description: Where to write the report as Markdown (mode 0600). Its directory must exist.
    type: path
  report_html:
    description: Where to write the report as HTML (mode 0600). Its directory must exist.
    type: path
  fail_on:
    description:
      - Fail the task when a finding has this severity or a higher one. V(none) never fails on findings.
    type: str
    choices: [none, low, medium, high, critical]
    default: none
notes:
  - The credential report is at most four hours old (AWS makes a new one only then).
  - The task reports a change only when it writes a report file whose content changed.
extends_documentation_fragment:
  - cloudburst.aws.iam.info
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
attributes:
  check_mode:
    support: full
    description: Runs every check; report files are not written.
"""

EXAMPLES = r"""
- name: Where the account stands
  cloudburst.aws.iam_audit:
    controller_ip: "{{ controller.ip }}"
    paths: ["{{ playbook_dir }}", "~/projects"]
    exclude: ["*.git"]
    report_markdown: /tmp/iam-audit.md
    report_html: /tmp/iam-audit.html
  register: audit

- name: In CI, fail on anything high or critical
  cloudburst.aws.iam_audit:
    fail_on: high
"""

RETURN = r"""
findings:
  description: Every finding, most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check's id, such as C(old_access_keys).
      type: str
    severity:
      description: V(low), V(medium), V(high) or V(critical).
      type: str
    resource:
      description: The user, C(root), C(account), or C(file:line).
      type: str
    message:
      description: What was found.
      type: str
checks:
  description: Every check with its status (C(pass), C(warn), C(fail) or C(skipped)) and number of findings.
  returned: always
  type: list
  elements: dict
summary:
  description: The number of findings per severity.
  returned: always
  type: dict
  sample: {"low": 0, "medium": 2, "high": 1, "critical": 0}
account_id:
  description: The audited account.
  returned: always
  type: str
report_files:
  description: The report files.
  returned: always
  type: list
  elements: str
changes:
  description: The report files written (or that would be in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_audit import SEVERITIES
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_audit import IamAuditManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import sts_client


def main():
    argument_spec = dict(
        max_key_age_days=dict(type="int", default=90, no_log=False),
        unused_key_days=dict(type="int", default=90, no_log=False),
        controller_ip=dict(type="str"),
        paths=dict(type="list", elements="path"),
        exclude=dict(type="list", elements="str"),
        report_markdown=dict(type="path"),
        report_html=dict(type="path"),
        fail_on=dict(type="str", default="none", choices=["none"] + list(SEVERITIES)),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    manager = IamAuditManager(module, iam_client(module), sts_client(module))
    run_manager(module, manager, "the account audit")
    result = dict(
        changed=bool(manager.changes), changes=manager.changes, findings=manager.sorted_findings(),
        checks=manager.checks(), summary=manager.summary(), account_id=manager.account,
        report_files=sorted(manager.reports.values()),
    )
    fail_on = module.params["fail_on"]
    if fail_on != "none":
        worst = [f for f in manager.findings if SEVERITIES.index(f["severity"]) >= SEVERITIES.index(fail_on)]
        if worst:
            module.fail_json(msg=f"{len(worst)} finding(s) of severity {fail_on} or higher", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
