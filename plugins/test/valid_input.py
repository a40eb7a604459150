# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection's input rules (plugins/module_utils/input_rules.py) as Jinja tests, for the roles' checks."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.module_utils.input_rules import is_world_cidr
from ansible_collections.cloudburst.aws.plugins.module_utils.input_rules import valid_input as _valid_input
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import InputRuleError


def valid_input(value, rule, allow_empty=False):
    """Whether value passes the collection's input rule named rule."""
    try:
        return _valid_input(value, rule, bool(allow_empty))
    except InputRuleError as exc:
        raise AnsibleFilterError(f"valid_input: {exc}")


class TestModule:
    def tests(self):
        return {"valid_input": valid_input, "world_cidr": is_world_cidr}
