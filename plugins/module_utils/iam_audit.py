# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_audit: where one AWS account stands on what gets keys stolen.

Every check gives findings with a severity (critical, high, medium, low). A finding names a user, a key by
the last four characters of its id, or a file and line; never a secret. The report is rendered as Markdown
and as HTML with a pass / warn / fail table.
"""

from __future__ import annotations

import csv
import datetime
import fnmatch
import html
import io
import ipaddress
import os
import re
import stat
import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils import safe_directory
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import partition_and_account
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import SourceIpPolicyError
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import allowed_cidrs
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import covers_every_request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import policy_document
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import statements

SEVERITIES = ("low", "medium", "high", "critical")
# CIS AWS Foundations Benchmark 1.8 and 1.9.
PASSWORD_MIN_LENGTH = 14
PASSWORD_REUSE_PREVENTION = 24
MAX_SCAN_BYTES = 1024 * 1024
REPORT_WAIT_SECONDS = 60

# The checks in report order: (id, title).
CHECKS = [
    ("root_access_keys", "Root user has no access keys"),
    ("root_mfa", "Root user has MFA"),
    ("password_policy", "Password policy is strong"),
    ("console_users_without_mfa", "Console users have MFA"),
    ("old_access_keys", "Active access keys are rotated"),
    ("unused_access_keys", "Active access keys are used"),
    ("two_active_keys", "Users have at most one active key"),
    ("admins_without_source_ip", "Administrators are restricted to source IPs"),
    ("controller_outside_allowlist", "Restricted users' allow-lists cover the controller"),
    ("key_shaped_strings", "No access keys or secrets in files"),
]


# --- key-shaped strings ---------------------------------------------------------------------------------

ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])")
SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
SECRET_CONTEXT = re.compile(r"secret|private|aws_?sec", re.I)


def _looks_like_secret(candidate, line):
    # AWS secrets mix cases; a 40-character hex digest (a git commit, a SHA-1) has no capital letters.
    if not (re.search(r"[A-Z]", candidate) and re.search(r"[a-z]", candidate) and re.search(r"[0-9/+]", candidate)):
        return False
    if "EXAMPLE" in candidate:  # AWS's documentation key, wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
        return False
    # A secret named as one, or alone on its line (condor_annex's privateKeyFile).
    return bool(SECRET_CONTEXT.search(line)) or line.strip().strip("'\"") == candidate


def scan_text(text):
    """[(line number, kind, hint)] for the key-shaped strings in text. hint is the last four characters of a
    key id, and empty for a secret: a secret's characters never leave this function."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in ACCESS_KEY_ID.finditer(line):
            key_id = match.group(1)
            if not key_id.endswith("EXAMPLE"):
                found.append((number, "access_key_id", key_id[-4:]))
        for match in SECRET_SHAPE.finditer(line):
            if _looks_like_secret(match.group(1), line):
                found.append((number, "secret_access_key", ""))
    return found


def scan_paths(paths, exclude=()):
    """Yield (file, line, kind, hint) for every file under paths (directories are walked, symlinks to
    directories are not followed, files over MAX_SCAN_BYTES and binary files are skipped)."""
    for root in paths:
        if os.path.isfile(root):
            candidates = [root]
        else:
            candidates = []
            for directory, subdirs, names in os.walk(root):
                subdirs[:] = sorted(d for d in subdirs if not _excluded(os.path.join(directory, d), exclude))
                candidates.extend(os.path.join(directory, name) for name in sorted(names))
        for path in candidates:
            if _excluded(path, exclude):
                continue
            data = _read_regular(path)
            if data is None:
                continue
            if b"\0" in data[:8192]:
                continue
            for number, kind, hint in scan_text(data.decode("utf-8", "replace")):
                yield path, number, kind, hint


def _read_regular(path):
    """The bytes of the regular file at path, or None: a link, a FIFO (which would block), a device or a file
    over MAX_SCAN_BYTES is skipped, judged on the opened descriptor so that a swap after a check cannot
    slip one in."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SCAN_BYTES:
            return None
        try:
            return stream.read(MAX_SCAN_BYTES + 1)
        except OSError:
            return None


def _excluded(path, patterns):
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(os.path.basename(path), p) for p in patterns)


# --- policies -------------------------------------------------------------------------------------------

def grants_everything(document, partition, account):
    """True when an Allow statement may apply to every action on every resource of the account: the lockout
    guard's own test (source_ip_policy.covers_every_request), so "*" on "*", "*:*", "arn:*",
    "arn:aws:*:*:*:*", "?*" and NotAction/NotResource ("all but some") count alike."""
    return any(statement.get("Effect") == "Allow" and covers_every_request(statement, partition, account)
               for statement in statements(document, missing_ok=True))


def restriction_cidrs(documents):
    """The allow-list of the first source-IP restriction among documents, or None."""
    for document in documents:
        try:
            cidrs = allowed_cidrs(policy_document(document, missing_ok=True))
        except SourceIpPolicyError:
            continue
        if cidrs is not None:
            return cidrs
    return None


# --- the credential report -------------------------------------------------------------------------------

def parse_report_time(value):
    if not value or value in ("N/A", "no_information", "not_supported"):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_credential_report(content):
    if isinstance(content, bytes):
        content = content.decode("utf-8")
    return list(csv.DictReader(io.StringIO(content)))


# --- the manager ----------------------------------------------------------------------------------------

class IamAuditManager(IamManager):
    def validate(self):
        p = self.params
        for option in ("max_key_age_days", "unused_key_days"):
            if p[option] < 1:
                raise IamInputError(f"{option} must be a positive number of days (got {p[option]})")
        self.controller = None
        if p["controller_ip"]:
            try:
                self.controller = ipaddress.ip_address(p["controller_ip"])
            except ValueError:
                raise IamInputError(f"controller_ip {p['controller_ip']!r} is not an IP address")
        self.paths = [os.path.abspath(os.path.expanduser(path)) for path in p["paths"] or []]
        for path in self.paths:
            if not os.path.exists(path):
                raise IamInputError(f"path {path} does not exist")
        self.reports = {}
        for option in ("report_markdown", "report_html"):
            if p[option]:
                path = os.path.abspath(os.path.expanduser(p[option]))
                if not safe_directory.directory_exists(os.path.dirname(path)):
                    raise IamInputError(f"the directory of {option} {path} does not exist")
                self.reports[option] = path
        self.findings = []
        self.now = datetime.datetime.now(datetime.timezone.utc)

    def add(self, check, severity, resource, message):
        self.findings.append({"check": check, "severity": severity, "resource": resource, "message": message})

    # --- the checks -----------------------------------------------------------------------------------

    def ensure_present(self):
        self.partition, self.account = partition_and_account(self.sts.get_caller_identity(aws_retry=True)["Arn"])
        self.check_root()
        self.check_password_policy()
        self.check_credential_report()
        self.check_policies()
        if self.paths:
            self.check_files()
        self.write_reports()
        return None, None

    def check_root(self):
        summary = self.client.get_account_summary(aws_retry=True)["SummaryMap"]
        if summary.get("AccountAccessKeysPresent"):
            self.add("root_access_keys", "critical", "root",
                     "the root user has access keys; delete them and use IAM users or roles")
        if not summary.get("AccountMFAEnabled"):
            self.add("root_mfa", "high", "root", "the root user has no MFA device")

    def check_password_policy(self):
        try:
            policy = self.client.get_account_password_policy(aws_retry=True)["PasswordPolicy"]
        except is_boto3_error_code("NoSuchEntity"):
            self.add("password_policy", "medium", "account",
                     "no password policy: IAM's default allows 8-character passwords that never expire or repeat")
            return
        weak = []
        if policy.get("MinimumPasswordLength", 0) < PASSWORD_MIN_LENGTH:
            weak.append(f"minimum length {policy.get('MinimumPasswordLength')} (below {PASSWORD_MIN_LENGTH})")
        if policy.get("PasswordReusePrevention", 0) < PASSWORD_REUSE_PREVENTION:
            weak.append(f"reuse prevention {policy.get('PasswordReusePrevention', 0)} (below {PASSWORD_REUSE_PREVENTION})")
        if weak:
            self.add("password_policy", "low", "account", "weak password policy: " + ", ".join(weak))

    def credential_report(self):
        deadline = time.monotonic() + REPORT_WAIT_SECONDS
        while self.client.generate_credential_report(aws_retry=True)["State"] != "COMPLETE":
            if time.monotonic() > deadline:
                raise IamInputError(f"the credential report was not ready within {REPORT_WAIT_SECONDS} seconds")
            time.sleep(2)
        return parse_credential_report(self.client.get_credential_report(aws_retry=True)["Content"])

    def check_credential_report(self):
        p = self.params
        for row in self.credential_report():
            user = row.get("user")
            if user == "<root_account>":
                continue
            if row.get("password_enabled") == "true" and row.get("mfa_active") != "true":
                self.add("console_users_without_mfa", "medium", user,
                         f"user {user} can sign in to the console without MFA")
            active = 0
            for slot in ("1", "2"):
                if row.get(f"access_key_{slot}_active") != "true":
                    continue
                active += 1
                rotated = parse_report_time(row.get(f"access_key_{slot}_last_rotated"))
                used = parse_report_time(row.get(f"access_key_{slot}_last_used_date"))
                age = (self.now - rotated).days if rotated else None
                if age is not None and age >= p["max_key_age_days"]:
                    self.add("old_access_keys", "medium", user,
                             f"user {user}'s active key {slot} is {age} days old (max_key_age_days is "
                             f"{p['max_key_age_days']})")
                idle = (self.now - used).days if used else age
                if idle is not None and idle >= p["unused_key_days"]:
                    what = f"unused for {idle} days" if used else f"never used in {idle} days"
                    self.add("unused_access_keys", "medium", user,
                             f"user {user}'s active key {slot} is {what} (unused_key_days is {p['unused_key_days']})")
            if active == 2:
                self.add("two_active_keys", "low", user,
                         f"user {user} has two active keys; deactivate the one no longer in use")

    def authorization_details(self):
        users, groups, policies = [], {}, {}
        paginator = self.client.get_paginator("get_account_authorization_details")
        for page in paginator.paginate(Filter=["User", "Group", "LocalManagedPolicy"]):
            users.extend(page.get("UserDetailList", []))
            groups.update({g["GroupName"]: g for g in page.get("GroupDetailList", [])})
            for policy in page.get("Policies", []):
                default = next((v for v in policy.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
                if default:
                    policies[policy["Arn"]] = default["Document"]
        return users, groups, policies

    def check_policies(self):
        users, groups, policies = self.authorization_details()
        for user in users:
            name = user["UserName"]
            member_of = [groups[g] for g in user.get("GroupList", []) if g in groups]
            inline = [p["PolicyDocument"] for p in user.get("UserPolicyList", [])]
            inline += [p["PolicyDocument"] for g in member_of for p in g.get("GroupPolicyList", [])]
            attached = [a["PolicyArn"] for a in user.get("AttachedManagedPolicies", [])]
            attached += [a["PolicyArn"] for g in member_of for a in g.get("AttachedManagedPolicies", [])]
            cidrs = restriction_cidrs(inline)
            admin = [arn.rsplit("/", 1)[-1] for arn in attached
                     if arn.endswith(":policy/AdministratorAccess")
                     or grants_everything(policies.get(arn, {}), self.partition, self.account)]
            if any(grants_everything(document, self.partition, self.account) for document in inline):
                admin.append("an inline policy")
            if admin and cidrs is None:
                self.add("admins_without_source_ip", "high", name,
                         f"user {name} is an administrator ({', '.join(admin)} allows every action on every resource) without a "
                         "source-IP restriction")
            if cidrs is not None and self.controller is not None:
                inside = any(self.controller in ipaddress.ip_network(c, strict=False) for c in cidrs
                             if _is_network(c))
                if not inside:
                    self.add("controller_outside_allowlist", "medium", name,
                             f"user {name}'s allow-list ({', '.join(cidrs)}) no longer covers the controller "
                             f"address {self.controller}")

    def check_files(self):
        for path, line, kind, hint in scan_paths(self.paths, self.params["exclude"] or ()):
            if kind == "access_key_id":
                self.add("key_shaped_strings", "high", f"{path}:{line}", f"an access key id ending in {hint}")
            else:
                self.add("key_shaped_strings", "critical", f"{path}:{line}", "a string shaped like a secret access key")

    # --- results and reports --------------------------------------------------------------------------

    def checks(self):
        done = {check for check, _title in CHECKS}
        if self.controller is None:
            done.discard("controller_outside_allowlist")
        if not self.paths:
            done.discard("key_shaped_strings")
        rows = []
        for check, title in CHECKS:
            found = [f for f in self.findings if f["check"] == check]
            if check not in done:
                status = "skipped"
            elif any(f["severity"] in ("high", "critical") for f in found):
                status = "fail"
            else:
                status = "warn" if found else "pass"
            rows.append({"check": check, "title": title, "status": status, "findings": len(found)})
        return rows

    def summary(self):
        return {severity: sum(1 for f in self.findings if f["severity"] == severity) for severity in SEVERITIES}

    def sorted_findings(self):
        rank = {severity: index for index, severity in enumerate(reversed(SEVERITIES))}
        return sorted(self.findings, key=lambda f: (rank[f["severity"]], f["check"], f["resource"]))

    def markdown(self):
        lines = [f"# IAM audit of account {self.account}", "",
                 f"Made on {self.now.date().isoformat()} (UTC) by cloudburst.aws.iam_audit.", "",
                 "| check | status | findings |", "| --- | --- | --- |"]
        lines += [f"| {row['title']} | {row['status']} | {row['findings']} |" for row in self.checks()]
        lines += ["", "## Findings", ""]
        if self.findings:
            lines += ["| severity | check | resource | finding |", "| --- | --- | --- | --- |"]
            lines += [f"| {f['severity']} | {f['check']} | {_md(f['resource'])} | {_md(f['message'])} |"
                      for f in self.sorted_findings()]
        else:
            lines.append("None.")
        return "\n".join(lines) + "\n"

    def html(self):
        e = html.escape
        rows = "".join(f"<tr class=\"{e(r['status'])}\"><td>{e(r['title'])}</td><td>{e(r['status'])}</td>"
                       f"<td>{r['findings']}</td></tr>\n" for r in self.checks())
        found = "".join(f"<tr class=\"{e(f['severity'])}\"><td>{e(f['severity'])}</td><td>{e(f['check'])}</td>"
                        f"<td>{e(f['resource'])}</td><td>{e(f['message'])}</td></tr>\n" for f in self.sorted_findings())
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>IAM audit of account {e(self.account)}</title>\n<style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px}"
            ".pass{background:#dfd}.warn,.low,.medium{background:#ffd}.fail,.high,.critical{background:#fdd}"
            "</style></head><body>\n"
            f"<h1>IAM audit of account {e(self.account)}</h1>\n"
            f"<p>Made on {self.now.date().isoformat()} (UTC) by cloudburst.aws.iam_audit.</p>\n"
            "<table><tr><th>check</th><th>status</th><th>findings</th></tr>\n" + rows + "</table>\n"
            "<h2>Findings</h2>\n"
            + ("<table><tr><th>severity</th><th>check</th><th>resource</th><th>finding</th></tr>\n" + found
               + "</table>\n" if self.findings else "<p>None.</p>\n")
            + "</body></html>\n"
        )

    def write_reports(self):
        renders = {"report_markdown": self.markdown, "report_html": self.html}
        for option, path in self.reports.items():
            content = renders[option]()
            # Read and written through descriptors, like a key file: the report names users and key ids.
            if safe_directory.read_file(path)[0] == content:
                continue
            self.change(f"write the report to {path}")
            if not self.check_mode:
                files.write_files({path: content}, 0o600, -1, -1)


def _md(text):
    return str(text).replace("|", "\\|")


def _is_network(value):
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
