# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""AnsibleAWSModule as every AWS module of this collection uses it: validate_certs=false only with
allow_insecure_url (documented by the doc fragment cloudburst.aws.insecure_tls)."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cloudburst.aws.plugins.module_utils.validators import unverified_tls_problem

ALLOW_INSECURE_URL_SPEC = {"allow_insecure_url": {"type": "bool", "default": False}}


class CloudburstAWSModule(AnsibleAWSModule):
    """AnsibleAWSModule that fails before any AWS call when validate_certs is false (given to the task, or
    through module_defaults for group/cloudburst.aws.aws) without allow_insecure_url."""

    def __init__(self, **kwargs):
        kwargs["argument_spec"] = dict(kwargs.get("argument_spec") or {}, **ALLOW_INSECURE_URL_SPEC)
        super().__init__(**kwargs)
        problem = unverified_tls_problem(
            self.params.get("validate_certs"), self.params.get("allow_insecure_url"), "the AWS endpoint",
            "read every answer (a new access key's secret among them) and forge it",
            "Give the endpoint's CA in aws_ca_bundle instead. ")
        if problem:
            self.fail_json(msg=problem)
