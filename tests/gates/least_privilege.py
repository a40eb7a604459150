# -*- coding: utf-8 -*-
"""Gate: least privilege measured by use.

Every grant of the policies the restricted flows run under (the launch policy as iam_restricted_user builds it by
default, and the auditor's policy) is an (Sid, action) pair: an action granted by two statements counts twice,
since each statement must earn its place. A grant is exercised when the authorizing front (tests/rig/authfront.py)
allowed a request of some flow through that very statement and action pattern; every front of the session (the
session moto's, one per xdist worker, and tools/local-aws's, which test_demo starts) appends its decisions to the
session's record directory. A grant no flow exercises must be removed from the policy or explained by a line of
least-privilege-allowlist.txt (`SID ACTION REASON`), as the parliament gate does for its findings.

When it runs: in the pytest controller's pytest_sessionfinish (tests/conftest.py), after every worker has finished
and every front has written its last record, so no test waits for another. It judges only a session in which every
file of FLOWS ran and passed (a partial run cannot tell an unused grant from one a flow that did not run would use),
and says so otherwise. It fails the session when a grant is unexplained, when an allow-list line explains a grant
that was exercised or that no policy makes (stale), or when any front refused a request it could not map or decide.
It prints `least privilege: granted N actions, exercised M, explained K, unexplained U`.
"""

from __future__ import annotations

import glob
import json
import os

from ansible_collections.cloudburst.aws.plugins.module_utils.audit_policy import build_audit_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import build_launch_policy

ALLOWLIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "least-privilege-allowlist.txt")
# The test files whose flows run with the restricted keys through the front; the gate judges a session that ran
# each of them whole (make test), none of them failing.
FLOWS = (
    "tests/integration/test_demo.py",
    "tests/integration/test_annex_lifecycle.py",
    "tests/integration/test_iam_audit.py",
    "tests/integration/test_authfront.py",
)
POLICIES = (("launch policy", build_launch_policy), ("audit policy", build_audit_policy))


def grants():
    """{(Sid, action as written): policy name} for every grant of the measured policies."""
    found = {}
    for name, build in POLICIES:
        for statement in build()["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                found[(statement["Sid"], action)] = name
    return found


def read_allowlist(path=ALLOWLIST):
    """{(Sid, action): reason} from the allow-list; a line without a reason is an error."""
    explained = {}
    with open(path) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                raise ValueError(f"{path}:{number}: want `SID ACTION REASON`, got {line.strip()!r}")
            explained[(parts[0], parts[1])] = parts[2].strip()
    return explained


def read_records(directory):
    records = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        with open(path) as stream:
            records += [json.loads(line) for line in stream if line.strip()]
    return records


def exercised(records):
    """{(Sid, action pattern): set of flows} of the Allow statements the fronts allowed requests through."""
    found = {}
    for record in records:
        if record["effect"] == "Allow":
            for sid, pattern in record.get("grants", []):
                found.setdefault((sid, pattern), set()).add(record["flow"].split("::")[0])
    return found


class Verdict:
    def __init__(self, lines, failed):
        self.lines, self.failed = lines, failed


def flows_not_run(outcomes):
    """The FLOWS files that did not run whole in this session: none of their tests reported, or one failed or
    was skipped."""
    missing = []
    for flow in FLOWS:
        seen = {outcome for nodeid, found in outcomes.items() if nodeid.startswith(flow + "::") for outcome in found}
        if not seen or seen != {"passed"}:
            missing.append(f"{flow} ({', '.join(sorted(seen)) or 'not run'})")
    return missing


def judge(directory, outcomes):
    """The Verdict of a session, or None when no front recorded anything and no flow ran (nothing to say)."""
    records = read_records(directory)
    if not records and not any(nodeid.startswith(FLOWS) for nodeid in outcomes):
        return None
    lines, failed = [], False
    refused = sorted({f"{r['operation']} ({r.get('detail', '')})" for r in records
                      if r["effect"] in ("Unmapped", "Undecided") and not r.get("expected")})
    if refused:
        failed = True
        lines.append(f"the authorizing front refused {len(refused)} request kind(s) it cannot map or decide:")
        lines += [f"  {item}" for item in refused]
    missing = flows_not_run(outcomes)
    if missing:
        lines.append("least privilege: not judged: the restricted flows did not all run and pass in this session: "
                     + "; ".join(missing))
        return Verdict(lines, failed)
    granted, explained, used = grants(), read_allowlist(), exercised(records)
    done = [g for g in granted if g in used]
    excused = [g for g in granted if g not in used and g in explained]
    unexplained = [g for g in granted if g not in used and g not in explained]
    stale = [g for g in explained if g not in granted or g in used]
    lines.append(f"least privilege: granted {len(granted)} actions, exercised {len(done)}, explained {len(excused)}, "
                 f"unexplained {len(unexplained)}")
    for sid, action in unexplained:
        lines.append(f"  unexplained: {action} in statement {sid} of the {granted[(sid, action)]}: no flow used it; "
                     f"remove it, or explain it in {os.path.basename(ALLOWLIST)}")
    for sid, action in stale:
        why = "no policy grants it" if (sid, action) not in granted else "a flow used it"
        lines.append(f"  stale allow-list line: {sid} {action} ({why})")
    for grant in sorted(done):
        lines.append(f"  exercised: {grant[0]} {grant[1]} by {', '.join(sorted(used[grant]))}")
    return Verdict(lines, failed or bool(unexplained) or bool(stale))
