# -*- coding: utf-8 -*-
"""Gate: the least-privilege allow-list is well formed and names only grants the measured policies make.

The measurement itself (every grant exercised by a flow through the authorizing front, or explained here) runs at the
end of the pytest session that runs the flows: tests/gates/least_privilege.py, called from tests/conftest.py.
"""

from __future__ import annotations

import least_privilege


def test_every_allow_list_line_names_a_grant_and_says_why():
    granted = least_privilege.grants()
    explained = least_privilege.read_allowlist()
    assert [grant for grant in explained if grant not in granted] == []
    assert all(len(reason.split()) >= 5 for reason in explained.values()), explained


def test_the_measured_policies_are_the_launch_and_the_audit_policy():
    sids = {sid for sid, _action in least_privilege.grants()}
    assert {"Ec2ReadOnly", "IamPassInstanceRolesToEc2Only", "AuditCredentialReport"} <= sids


def test_the_gate_does_not_judge_a_partial_run_and_fails_on_unexplained_grants(tmp_path):
    outcomes = {f"{flow}::test_x": {"passed"} for flow in least_privilege.FLOWS}
    assert least_privilege.judge(str(tmp_path), {}) is None  # nothing recorded, no flow run: nothing to say
    partial = least_privilege.judge(str(tmp_path), {least_privilege.FLOWS[0] + "::test_x": {"passed"}})
    assert not partial.failed and "not judged" in partial.lines[-1]
    (tmp_path / "front.jsonl").write_text(
        '{"flow": "f::t", "effect": "Allow", "grants": [["Ec2ReadOnly", "ec2:Describe*"]], "operation": "ec2:X"}\n')
    verdict = least_privilege.judge(str(tmp_path), outcomes)
    granted, explained = len(least_privilege.grants()), len(least_privilege.read_allowlist())
    assert verdict.lines[0] == (f"least privilege: granted {granted} actions, exercised 1, explained {explained}, "
                                f"unexplained {granted - 1 - explained}")
    assert verdict.failed
