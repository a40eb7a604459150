# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Point EventBridge rule targets from one ARN to another, keeping each target's id and input.

The annex setup moves its lease functions to new names; the per-annex lease rules that still target an old
function would otherwise invoke nothing. ListRuleNamesByTarget finds every rule on the default bus that targets
an old ARN, whatever its name (the annex role's HTCondorAnnex-<name>-lease, condor_annex's <annex name>).
"""

from __future__ import annotations

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import AwsManager
from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError


class RetargetError(CloudburstError):
    """A move that is not from one ARN to another, or a target EventBridge refused to take."""


def check_moves(moves):
    """[(from, to)] from the module's list of {from, to}, or RetargetError."""
    checked = []
    for move in moves or []:
        old, new = move.get("from"), move.get("to")
        for value in (old, new):
            if not isinstance(value, str) or not value.startswith("arn:") or len(value.split(":")) < 6:
                raise RetargetError(f"{value!r} is not an ARN; each move needs from and to ARNs")
        if old != new:
            checked.append((old, new))
    return checked


def _paginate(client, operation, key, **kwargs):
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def retarget(client, moves, check_mode):
    """Move the targets; return [{rule, target_ids, from, to}] (in check mode, what would move)."""
    moved = []
    for old, new in moves:
        for rule in list(_paginate(client, "list_rule_names_by_target", "RuleNames", TargetArn=old)):
            targets = [dict(t, Arn=new) for t in _paginate(client, "list_targets_by_rule", "Targets", Rule=rule)
                       if t.get("Arn") == old]
            if not targets:
                continue
            moved.append({"rule": rule, "target_ids": [t["Id"] for t in targets], "from": old, "to": new})
            if check_mode:
                continue
            answer = client.put_targets(Rule=rule, Targets=targets)
            if answer.get("FailedEntryCount"):
                failed = "; ".join(f"{e.get('TargetId')}: {e.get('ErrorMessage')}" for e in answer["FailedEntries"])
                raise RetargetError(f"rule {rule} refused the new target {new}: {failed}")
    return moved


class RetargetManager(AwsManager):
    """events_retarget: the moves checked, then made (or, in check mode, only found)."""

    failure = "Could not move the rule targets"
    reports_changes = False

    def run(self):
        moved = retarget(self.client, check_moves(self.params["moves"]), self.check_mode)
        diff = {"before": {m["rule"]: m["from"] for m in moved}, "after": {m["rule"]: m["to"] for m in moved}}
        return {"changed": bool(moved), "retargeted": moved, "diff": diff}
