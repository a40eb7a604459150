# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the iam_access_key module and hides any result that carries a secret.

ansible-core drops `_ansible_no_log` when a module returns it, so a module cannot hide its own result.
An action plugin can, so the secret a new key returns (only without dest) is never printed, even at -vvv,
while a registered variable still holds it.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self._execute_module(module_name="cloudburst.aws.iam_access_key",
                                           module_args=self._task.args, task_vars=task_vars))
        if (result.get("access_key") or {}).get("secret_access_key"):
            result["_ansible_no_log"] = True
        return result
