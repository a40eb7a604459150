# -*- coding: utf-8 -*-
"""Gate: parliament, a real IAM policy linter, over every policy document the collection generates.

A finding passes only through a line of tests/gates/parliament-allowlist.txt that names the document, the
issue and where it is (a statement's Sid, or the escalation type for policy-wide findings), and says why.
Allow-list lines that match nothing fail too, so the list cannot outlive what it excuses.

parliament ships IAM's action and condition definitions inside its package: no network is used.
"""

from __future__ import annotations

import fnmatch
import json
import os
import warnings

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.audit_policy import build_audit_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import build_launch_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.mfa_policy import build_require_mfa_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources, which warns about itself
    import parliament

# parliament 1.6.4 knows the condition key types of its IAM definitions except ArrayOfARN (events:TargetArn, which
# the launch policy uses to limit a rule's targets) and raises on it; it is a list of ARNs, checked as an ARN.
_translate = parliament.statement.translate_documentation_types
parliament.statement.translate_documentation_types = lambda name: _translate(
    "Arn" if name in ("ArrayOfARN", "ArrayOfArn") else name)

ALLOWLIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parliament-allowlist.txt")

# Every policy document the collection generates, by a name the allow-list uses. Add new builders here.
POLICY_DOCUMENTS = [
    ("launch-default", build_launch_policy),
    ("launch-custom", lambda: build_launch_policy(["team.a-", "Spark_B@x", "HTCondorAnnex-"],
                                                  ["cloudburst:managed-by"])),
    ("launch-one-prefix", lambda: build_launch_policy(["cloudburst-"], ["cloudburst:cluster"])),
    ("launch-spark-role", lambda: build_launch_policy(instance_roles=["cloudburst-spark-nodes"])),
    ("source-ip-ipv4", lambda: build_source_ip_policy(["203.0.113.0/24", "198.51.100.7"])[0]),
    ("source-ip-dual-stack", lambda: build_source_ip_policy(["203.0.113.0/24", "2001:db8::/48"])[0]),
    ("require-mfa", build_require_mfa_policy),
    ("audit", build_audit_policy),
    ("require-mfa-no-password-change", lambda: build_require_mfa_policy(allow_password_change=False)),
]


def render(document):
    """JSON with each statement on its own line, so a finding's line number names its statement."""
    statements = document["Statement"]
    statements = [statements] if isinstance(statements, dict) else statements
    head = {key: value for key, value in document.items() if key != "Statement"}
    lines = [json.dumps(head)[:-1] + ', "Statement": [']
    lines += [json.dumps(s) + ("," if i < len(statements) - 1 else "") for i, s in enumerate(statements)]
    lines.append("]}")
    return "\n".join(lines), statements


def findings(document):
    """[(issue, where, detail)] of parliament with its community auditors."""
    text, statements = render(document)
    community = os.path.join(os.path.dirname(parliament.__file__), "community_auditors", "config_override.yaml")
    parliament.override_config(community)
    policy = parliament.analyze_policy_string(text, include_community_auditors=True)
    result = []
    for finding in policy.findings:
        finding = parliament.enhance_finding(finding)
        location = finding.location if isinstance(finding.location, dict) else {}
        if "type" in location:
            where = location["type"]  # a policy-wide privilege escalation pair
        elif "line" in location and 2 <= location["line"] < len(statements) + 2:
            where = statements[location["line"] - 2].get("Sid", f"statement-{location['line'] - 1}")
        else:
            where = "policy"
        result.append((finding.issue, where, finding.detail))
    return result


def read_allowlist():
    entries = []
    with open(ALLOWLIST) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split(None, 3)
            assert len(fields) == 4 and len(fields[3].split()) >= 5, (
                f"{ALLOWLIST}:{number}: want DOCUMENT ISSUE WHERE REASON, with a reason that says why")
            entries.append({"line": number, "document": fields[0], "issue": fields[1], "where": fields[2],
                            "reason": fields[3].strip(), "used": 0})
    return entries


def allowed(entries, document, issue, where):
    for entry in entries:
        if fnmatch.fnmatchcase(document, entry["document"]) and issue == entry["issue"] \
                and fnmatch.fnmatchcase(where, entry["where"]):
            entry["used"] += 1
            return True
    return False


@pytest.fixture(scope="module")
def report():
    entries = read_allowlist()
    unexplained, total = [], 0
    for name, build in POLICY_DOCUMENTS:
        for issue, where, detail in findings(build()):
            total += 1
            if not allowed(entries, name, issue, where):
                unexplained.append(f"{name}: {issue} at {where}: {str(detail)[:400]}")
    return {"entries": entries, "unexplained": unexplained, "total": total}


def test_every_finding_is_in_the_allowlist_with_a_reason(report):
    print(f"\nparliament: {len(POLICY_DOCUMENTS)} documents, {report['total']} findings, "
          f"{report['total'] - len(report['unexplained'])} allowed by {ALLOWLIST}")
    assert not report["unexplained"], "parliament findings not in the allow-list:\n" + "\n".join(report["unexplained"])


def test_no_allowlist_line_outlives_its_finding(report):
    stale = [f"line {e['line']}: {e['document']} {e['issue']} {e['where']}" for e in report["entries"] if not e["used"]]
    assert not stale, "allow-list lines that match no finding (remove them):\n" + "\n".join(stale)


def test_the_linter_catches_what_the_launch_policy_used_to_allow():
    """The gate is not vacuous: the old shapes (mutating EC2 calls on every resource, a condition key on
    actions that lack it) are reported."""
    old = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Ec2LaunchAndManage", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:TerminateInstances", "ec2:DeleteSecurityGroup", "ec2:DeleteKeyPair"]},
        {"Sid": "PassAndRead", "Effect": "Allow", "Action": ["iam:PassRole", "iam:GetRole"],
         "Resource": "arn:aws:iam::*:role/cloudburst-*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
    ]}
    issues = {(finding[0], finding[1]) for finding in findings(old)}
    assert ("RESOURCE_STAR", "Ec2LaunchAndManage") in issues
    assert ("UNKNOWN_CONDITION_FOR_ACTION", "PassAndRead") in issues


@pytest.mark.parametrize("name, build", POLICY_DOCUMENTS, ids=[document[0] for document in POLICY_DOCUMENTS])
def test_every_document_is_valid_json_within_iam_limits(name, build):
    document = build()
    assert json.loads(json.dumps(document)) == document
    assert len(json.dumps(document, separators=(",", ":"))) <= 6144, name
