# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection's input rules (plugins/module_utils/input_rules.py) for the roles' tasks/validate.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.module_utils.input_rules import input_problems as _input_problems
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import InputRuleError


def input_problems(values, rule, secret=False, allow_empty=False):
    """What is wrong with each variable in values (a dict of variable name to value) under rule, as messages."""
    try:
        return _input_problems(values, rule, bool(secret), bool(allow_empty))
    except InputRuleError as exc:
        raise AnsibleFilterError(f"input_problems: {exc}")


class FilterModule:
    def filters(self):
        return {"input_problems": input_problems}
