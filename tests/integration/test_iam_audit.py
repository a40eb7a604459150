# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_audit by ansible-playbook: each bad state found with its severity, a clean account none.

Old and unused keys need keys made in the past, so this runs on the in-process moto with a shifted IAM clock
(the clocked_moto fixture of the access key tests). moto cannot give the root user MFA or access keys, so the
test sets those two flags of moto's account summary directly. Key-shaped strings are made up at test time.
"""

from __future__ import annotations

import json
import random
import string

import pytest
from conftest import ansible_env, aws_play, run, run_aws_refusals, run_aws_tasks
from test_iam_access_key import clocked_moto  # noqa: F401 # pylint: disable=unused-import

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy

CONTROLLER = "198.51.100.7"
BAD_CHECKS = {"old_access_keys", "unused_access_keys", "admins_without_source_ip", "console_users_without_mfa",
              "two_active_keys", "key_shaped_strings", "controller_outside_allowlist", "root_access_keys",
              "root_mfa", "password_policy"}


@pytest.fixture
def fresh_moto():
    """The in-process moto keeps its state across servers: start from an empty account, and leave one."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    yield
    moto_api_backend.reset()


def root_flags(mfa, keys):
    from moto.iam.models import iam_backends

    summary = iam_backends["123456789012"]["aws"].account_summary
    summary._account_mfa_enabled, summary._account_access_keys_present = int(mfa), int(keys)


def audit_task(**options):
    return {"cloudburst.aws.iam_audit": options, "register": "audit"}


def restrict(iam, user, cidr):
    document, _warnings = build_source_ip_policy([cidr])
    iam.put_user_policy(UserName=user, PolicyName="cloudburst-source-ip-allow-list", PolicyDocument=json.dumps(document))


def fake_key():
    upper = string.ascii_uppercase + "234567"
    key_id = "AKIA" + "".join(random.choices(upper, k=16))
    secret = "Zq9/" + "".join(random.choices(string.ascii_letters + string.digits + "/+", k=36))
    return key_id, secret


def by_check(findings):
    grouped = {}
    for finding in findings:
        grouped.setdefault(finding["check"], []).append(finding)
    return grouped


def test_each_bad_state_is_found_with_its_severity_and_a_clean_account_shows_none(
        fresh_moto, clocked_moto, tmp_path):
    moto = clocked_moto
    iam = moto.iam
    admin_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    for user in ("stale", "twokeys", "console", "admin", "restricted"):
        iam.create_user(UserName=user)
    with moto.days_ago(200):
        stale_key = iam.create_access_key(UserName="stale")["AccessKey"]["AccessKeyId"]
    twokeys = [iam.create_access_key(UserName="twokeys")["AccessKey"]["AccessKeyId"] for slot in (1, 2)]
    iam.create_login_profile(UserName="console", Password="Correct-Horse-Battery-1")
    iam.attach_user_policy(UserName="admin", PolicyArn=admin_arn)
    restrict(iam, "restricted", "203.0.113.0/24")
    root_flags(mfa=False, keys=True)
    scan = tmp_path / "project"
    scan.mkdir()
    key_id, secret = fake_key()
    (scan / "group_vars.yml").write_text(f"region: eu-west-1\naws_access_key_id: {key_id}\n"
                                         f"aws_secret_access_key: {secret}\n")
    report_md, report_html = tmp_path / "audit.md", tmp_path / "audit.html"
    task = audit_task(controller_ip=CONTROLLER, paths=[str(scan)], report_markdown=str(report_md),
                      report_html=str(report_html), max_key_age_days=90, unused_key_days=90)

    results = run_aws_tasks(tmp_path, moto, [task, dict(task, **{"cloudburst.aws.iam_audit": dict(
        task["cloudburst.aws.iam_audit"], fail_on="high")})])
    (audit, failing) = results
    assert audit["changed"] is True and "failed" not in audit, audit.get("msg")
    found = by_check(audit["findings"])
    assert set(found) == BAD_CHECKS, sorted(found)
    severity = {check: {f["severity"] for f in items} for check, items in found.items()}
    assert severity["root_access_keys"] == {"critical"}
    assert severity["root_mfa"] == {"high"}
    assert severity["admins_without_source_ip"] == {"high"}
    assert severity["key_shaped_strings"] == {"high", "critical"}
    for check in ("old_access_keys", "unused_access_keys", "console_users_without_mfa", "password_policy",
                  "controller_outside_allowlist"):
        assert severity[check] == {"medium"}, check
    assert severity["two_active_keys"] == {"low"}
    assert [f["resource"] for f in found["old_access_keys"]] == ["stale"]
    assert "never used in 200 days" in found["unused_access_keys"][0]["message"]
    assert [f["resource"] for f in found["two_active_keys"]] == ["twokeys"]
    assert [f["resource"] for f in found["console_users_without_mfa"]] == ["console"]
    # The rig's own administrator is unrestricted too, and rightly found.
    assert sorted(f["resource"] for f in found["admins_without_source_ip"]) == ["admin", "cloudburst-rig-admin"]
    assert [f["resource"] for f in found["controller_outside_allowlist"]] == ["restricted"]
    lines = [f"{scan}/group_vars.yml:2", f"{scan}/group_vars.yml:3"]
    assert sorted(f["resource"] for f in found["key_shaped_strings"]) == lines
    assert any(f["message"].endswith(key_id[-4:]) for f in found["key_shaped_strings"])
    statuses = {c["check"]: c["status"] for c in audit["checks"]}
    assert statuses["root_access_keys"] == "fail" and statuses["two_active_keys"] == "warn"

    assert failing["failed"] is True and "severity high or higher" in failing["msg"]
    assert failing["changed"] is False  # the same report, already written

    markdown, page = report_md.read_text(), report_html.read_text()
    assert "| Root user has no access keys | fail | 1 |" in markdown
    assert "<td>Users have at most one active key</td><td>warn</td>" in page
    for text in (markdown, page, results.completed.output):
        assert secret not in text and key_id not in text and stale_key not in text
        assert moto.env["AWS_SECRET_ACCESS_KEY"] not in text

    # Nothing secret at -vvv either.
    playbook = tmp_path / "audit-vvv.yml"
    playbook.write_text(json.dumps(aws_play([task], moto.url)))
    verbose = run(["ansible-playbook", "-vvv", str(playbook)],
                  env=ansible_env(aws=moto.env, extra={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}))
    assert verbose.rc == 0, verbose.output[-3000:]
    assert secret not in verbose.output and key_id not in verbose.output
    assert moto.env["AWS_SECRET_ACCESS_KEY"] not in verbose.output

    # Mend every finding: the account is clean.
    iam.delete_access_key(UserName="stale", AccessKeyId=stale_key)
    iam.delete_access_key(UserName="twokeys", AccessKeyId=twokeys[0])
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="console")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="console", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")  # moto does not check codes
    for user in ("admin", "cloudburst-rig-admin", "restricted"):
        restrict(iam, user, f"{CONTROLLER}/32")
    iam.update_account_password_policy(MinimumPasswordLength=16, PasswordReusePrevention=24)
    root_flags(mfa=True, keys=False)
    (scan / "group_vars.yml").write_text("region: eu-west-1\n")
    (clean,) = run_aws_tasks(tmp_path, moto, [dict(task, **{"cloudburst.aws.iam_audit": dict(
        task["cloudburst.aws.iam_audit"], fail_on="low")})])
    assert "failed" not in clean, clean.get("msg")
    assert clean["findings"] == [] and clean["summary"] == {"low": 0, "medium": 0, "high": 0, "critical": 0}
    assert {c["status"] for c in clean["checks"]} == {"pass"}
    assert "| Root user has no access keys | pass | 0 |" in report_md.read_text()


def auditor_key(tmp_path, moto_server):
    """An auditor made with the collection's modules: the audit policy (cloudburst.aws.audit_policy) as its only
    policy, its key written as an env file; returns the key as environment variables."""
    key_file = tmp_path / "auditor.env"
    tasks = [
        {"cloudburst.aws.iam_managed_policy": {"name": "cloudburst-audit", "policy": "{{ 'aws' | cloudburst.aws.audit_policy }}"},
         "register": "audit_policy"},
        {"cloudburst.aws.iam_user": {"name": "auditor", "managed_policies": ["{{ audit_policy.policy.arn }}"]}},
        {"cloudburst.aws.iam_access_key": {"user_name": "auditor", "dest": str(key_file), "format": "env"}},
    ]
    results = run_aws_tasks(tmp_path, moto_server, tasks)
    assert not any(r.get("failed") for r in results), results
    return dict(line.removeprefix("export ").split("=", 1) for line in key_file.read_text().splitlines())


def test_audit_playbook_runs_as_an_auditor_reports_and_fails_only_when_asked(tmp_path, moto_server, checkip):
    """playbooks/audit.yml signed with the auditor's key: the authorizing front allows it only what the audit policy
    grants, so a call the audit makes beyond it fails this test."""
    checkip.set_answers([(200, "11.22.33.44\n", 0)])
    home, scan = tmp_path / "home", tmp_path / "scan"
    scan.mkdir()
    key_id, secret = fake_key()
    (scan / "privateKeyFile").write_text(secret + "\n")
    env = ansible_env(aws=dict(moto_server.env, **auditor_key(tmp_path, moto_server)),
                      extra={"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url, "CLOUDBURST_CHECKIP_URL": checkip.url,
                             "CLOUDBURST_CREDENTIALS_HOME": str(home)})
    seen = len(moto_server.front.decisions)
    playbook = ["ansible-playbook", "playbooks/audit.yml", "-e", json.dumps({"cloudburst_audit_paths": [str(scan)]})]
    passed = run(playbook, env=env)
    assert passed.rc == 0, passed.output[-3000:]
    assert "Root user has MFA" in passed.stdout and secret not in passed.output
    report = (home / "iam-audit.md").read_text()
    assert f"| critical | key_shaped_strings | {scan}/privateKeyFile:1 |" in report and secret not in report
    failed = run(playbook + ["-e", "cloudburst_audit_fail_on=critical"], env=env)
    assert failed.rc == 2 and "severity critical or higher" in failed.output, failed.output[-3000:]
    # Every call was the auditor's and allowed by the audit policy's statements.
    decisions = moto_server.front.decisions[seen:]
    assert {d["principal"] for d in decisions} == {"arn:aws:iam::123456789012:user/auditor"}
    assert {d["effect"] for d in decisions} == {"Allow"}
    assert {g[0] for d in decisions for g in d["grants"]} == {
        "AuditRootAndPasswordPolicy", "AuditCredentialReport", "AuditUsersGroupsAndPolicies"}


BAD_INPUT = [
    ({"max_key_age_days": 0}, "max_key_age_days must be a positive number of days (got 0)"),
    ({"unused_key_days": 0}, "unused_key_days must be a positive number of days (got 0)"),
    ({"controller_ip": "not-an-ip"}, "controller_ip 'not-an-ip' is not an IP address"),
    ({"paths": ["{tmp}/missing"]}, "path {tmp}/missing does not exist"),
    ({"report_html": "{tmp}/missing/audit.html"}, "the directory of report_html {tmp}/missing/audit.html"),
    ({"fail_on": "severe"}, "value of fail_on must be one of"),
]


def test_bad_input_fails_clearly_before_any_call(tmp_path, moto_server):
    """Every case a task of one run (ignore_errors, so each is tried): each fails with its message before any call."""
    tasks = []
    for options, _message in BAD_INPUT:
        options = {k: [p.format(tmp=tmp_path) for p in v] if isinstance(v, list) else
                   v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in options.items()}
        tasks.append(audit_task(**options))
    moto_server.reset_recording()
    results = run_aws_refusals(tmp_path, moto_server, tasks)
    for (options, message), failed in zip(BAD_INPUT, results):
        assert message.format(tmp=tmp_path) in failed["msg"], (options, failed["msg"])
    assert moto_server.recorded_actions() == []
