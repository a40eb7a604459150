# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The gate on validate_certs=false of every AWS module of this collection (module_utils/aws_module.py).
    DOCUMENTATION = r"""
options:
  allow_insecure_url:
    description:
      - Accept O(validate_certs=false), which talks to the AWS endpoint without checking its TLS certificate.
      - Without it, O(validate_certs=false) fails before any AWS call, whether it is given to the task or through
        C(module_defaults) for C(group/cloudburst.aws.aws). Anyone on the network path could otherwise read every
        answer (a new access key's secret among them) and forge it.
      - For an endpoint whose certificate a private CA signed, give that CA in O(aws_ca_bundle) instead.
      - amazon.aws's modules, which the action group also reaches, have no such gate and do not take this option,
        so set it on the task, or in C(module_defaults) for this module by name, not for the group.
    type: bool
    default: false
"""
