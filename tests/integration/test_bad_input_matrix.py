# -*- coding: utf-8 -*-
"""Bad input, tried as an adversarial user would, across the IAM modules and the iam_restricted_user role.

Every case runs as a real ansible-playbook task against the session's moto server. Cases run as hosts of a
few plays (one play per module, one for the role), each case in a block whose rescue records what failed, so
many cases share one ansible-playbook run and run in parallel. For each case the test checks that it was
refused with a clear message (no traceback, and the message names the problem), that it made no write call
to AWS (moto's recorder; each case signs its requests with an access key of its own, made in moto, of a user
with AdministratorAccess), and that
no file changed in its own directory or in the run's HOME. Two control cases do write, to prove that the
measurement sees writes.

The figure "N tried, N refused with a clear message, N with zero write calls and no file touched" is printed
and shown in pytest's terminal summary.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys

import pytest
import rig
from conftest import VENV_BIN, ansible_env, run, write_calls

CHECKIP_ANSWERS = {
    "zero": "0.0.0.0\n", "loopback": "127.0.0.1\n", "private": "10.1.2.3\n", "docs": "203.0.113.5\n",
    "garbage": "<html>you are here</html>\n", "two-words": "11.22.33.44 11.22.33.45\n", "empty": "",
    "link-local": "169.254.1.1\n", "multicast": "224.0.0.1\n",
}
ALLOWED = "198.51.100.0/24"
LONG_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": f"S{n}", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{n:04d}/*"}
    for n in range(120)]}
INLINE_OK = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                                     "Resource": "*"}]}


def case(group, name, args, expect, setup=None):
    return {"group": group, "name": name, "args": args, "expect": expect, "setup": setup or {}}


def user(name, args, expect, setup=None):
    return case("iam_user", name, dict({"name": "matrix-user"}, **args), expect, setup)


def policy(name, args, expect):
    return case("iam_managed_policy", name, dict({"name": "matrix-policy", "policy": INLINE_OK}, **args), expect)


def key(name, args, expect, setup=None):
    return case("iam_access_key", name, dict({"user_name": "matrix-key-user", "dest": "{dir}/credentials"}, **args),
                expect, setup)


def role(name, role_vars, expect, setup=None):
    defaults = {"iam_restricted_user_name": "matrix-role-user", "iam_restricted_user_allowlist": [ALLOWED],
                "iam_restricted_user_controller_ip": "198.51.100.7",
                "iam_restricted_user_condor_dir": "{dir}/condor",
                "iam_restricted_user_credentials_file": "{dir}/aws-credentials"}
    return case("role", name, dict(defaults, **role_vars), expect, setup)


CASES = [
    # --- iam_user -----------------------------------------------------------------------------------
    user("empty-name", {"name": ""}, r"not a valid IAM user name"),
    user("unicode-name", {"name": "ünïcode-user"}, r"not a valid IAM user name"),
    user("space-in-name", {"name": "bad name"}, r"not a valid IAM user name"),
    user("name-too-long", {"name": "a" * 65}, r"not a valid IAM user name"),
    user("newline-in-name", {"name": "annex\n"}, r"not a valid IAM user name"),
    user("path-without-slashes", {"path": "cloudburst"}, r"must start and end with /"),
    user("allowlist-whole-ipv4", {"source_ip_allowlist": ["0.0.0.0/0"]}, r"0\.0\.0\.0/0.*every address"),
    user("allowlist-whole-ipv6", {"source_ip_allowlist": ["::/0"]}, r"::/0.*every address"),
    user("allowlist-two-halves", {"source_ip_allowlist": ["0.0.0.0/1", "128.0.0.0/1"]},
         r"(?i)0\.0\.0\.0/1|128\.0\.0\.0/1|every|whole|wide|shorter"),
    user("allowlist-too-wide", {"source_ip_allowlist": ["10.0.0.0/4"]}, r"(?i)10\.0\.0\.0/4|wide|shorter|/8"),
    user("allowlist-not-cidr", {"source_ip_allowlist": ["not-a-cidr"]}, r"not a valid IPv4 or IPv6 CIDR"),
    user("allowlist-empty", {"source_ip_allowlist": []}, r"allow-list is empty"),
    user("lockout-controller", {"source_ip_allowlist": [ALLOWED], "controller_ip": "11.22.33.44"},
         r"(?i)11\.22\.33\.44.*(lock|den|outside)|(lock|den|outside).*11\.22\.33\.44"),
    user("controller-ip-as-cidr", {"source_ip_allowlist": [ALLOWED], "controller_ip": "198.51.100.0/24"},
         r"controller_ip"),
    user("controller-ip-not-ip", {"source_ip_allowlist": [ALLOWED], "controller_ip": "my-laptop"},
         r"(?i)controller_ip|my-laptop.*not an IP"),
    user("controller-ip-alone", {"controller_ip": "198.51.100.7"}, r"controller_ip is only used with"),
    user("unknown-managed-policy", {"managed_policies": ["NoSuchPolicyXyz"]}, r"unknown managed policy 'NoSuchPolicyXyz'"),
    user("unknown-managed-policy-arn", {"managed_policies": ["arn:aws:iam::aws:policy/NoSuchPolicyXyz"]},
         r"unknown managed policy"),
    user("unknown-boundary", {"permissions_boundary": "NoSuchBoundaryXyz"}, r"unknown managed policy 'NoSuchBoundaryXyz'"),
    user("unknown-group", {"groups": ["no-such-group-xyz"]}, r"group 'no-such-group-xyz' does not exist"),
    user("inline-not-json", {"inline_policies": {"mine": "{not json"}}, r"policy 'mine' is not valid JSON"),
    user("inline-without-statement", {"inline_policies": {"mine": {"Version": "2012-10-17"}}},
         r"policy 'mine' must be a JSON object with a Statement"),
    user("inline-takes-restriction-name", {"source_ip_allowlist": [ALLOWED],
                                           "inline_policies": {"cloudburst-source-ip-allow-list": INLINE_OK}},
         r"reserved for the source IP restriction"),
    user("inline-over-size", {"inline_policies": {"big": LONG_POLICY}}, r"over IAM's limit"),
    user("restriction-name-invalid", {"source_ip_allowlist": [ALLOWED], "source_ip_policy_name": "bad name!"},
         r"(?i)source_ip_policy_name|not a valid .*policy name"),
    user("tags-over-50", {"tags": {f"k{n}": "v" for n in range(51)}}, r"(?i)50 tags|more than 50|at most 50"),
    user("tag-key-too-long", {"tags": {"k" * 129: "v"}}, r"(?i)tag key|128"),
    user("tag-value-too-long", {"tags": {"k": "v" * 257}}, r"(?i)tag value|256"),
    # --- iam_managed_policy -------------------------------------------------------------------------
    policy("name-with-space", {"name": "bad name"}, r"not a valid policy name"),
    policy("unicode-name", {"name": "pölicy"}, r"not a valid policy name"),
    policy("newline-in-name", {"name": "policy\n"}, r"not a valid policy name"),
    policy("path-without-slashes", {"path": "cloudburst"}, r"must start and end with /"),
    policy("document-not-json", {"policy": "{not json"}, r"is not valid JSON"),
    policy("document-without-statement", {"policy": {"Version": "2012-10-17"}}, r"must be a JSON object with a Statement"),
    policy("document-over-size", {"policy": LONG_POLICY}, r"over IAM's limit of 6144"),
    policy("present-without-document", {"policy": None}, r"missing.*policy|policy.*missing|requires.*policy"),
    # --- iam_access_key -----------------------------------------------------------------------------
    key("unicode-user", {"user_name": "ünïcode-user"}, r"not a valid IAM user name"),
    key("mode-group-readable", {"mode": "0660"}, r"mode 0660 would let other users"),
    key("mode-world-readable", {"mode": "0644"}, r"mode 0644 would let other users"),
    key("mode-not-octal", {"mode": "rw-------"}, r"is not an octal file mode"),
    key("rotate-negative", {"rotate_after_days": -5}, r"rotate_after_days must be a positive number"),
    key("rotate-zero", {"rotate_after_days": 0}, r"rotate_after_days must be a positive number"),
    key("max-age-negative", {"max_age_days": -1}, r"max_age_days must be a positive number"),
    key("rotate-without-dest", {"dest": None, "rotate_after_days": 30}, r"rotate_after_days needs dest|required by 'rotate_after_days': dest"),
    key("extra-without-dest", {"dest": None, "extra_destinations": [{"dest": "{dir}/other"}]},
        r"extra_destinations needs dest|required by 'extra_destinations': dest"),
    key("same-file-twice", {"extra_destinations": [{"dest": "{dir}/credentials"}]}, r"two destinations name the same file"),
    key("condor-dir-is-a-file", {"dest": "{dir}/condor", "format": "condor_annex"}, r"(?i)condor.*not a directory",
        {"condor": "a file where the directory should be\n"}),
    key("dest-under-a-file", {"dest": "{dir}/plain-file/credentials"}, r"(?i)plain-file.*not a directory",
        {"plain-file": "not a directory\n"}),
    key("profile-injection", {"credentials_profile": "x]\n[default"}, r"(?i)profile"),
    key("profile-empty", {"credentials_profile": ""}, r"(?i)profile"),
    key("unknown-owner", {"owner": "no-such-user-xyz"}, r"owner 'no-such-user-xyz' is not a user on this host"),
    key("unknown-group", {"group": "no-such-group-xyz"}, r"group 'no-such-group-xyz' is not a group on this host"),
    key("unknown-format", {"format": "json"}, r"value of format must be one of"),
    key("missing-user", {"user_name": "matrix-nobody"}, r"matrix-nobody.*(does not exist|cannot be found)"),
    # --- iam_user_info, iam_access_key_info ---------------------------------------------------------
    case("iam_user_info", "unicode-name", {"name": "ünïcode-user"}, r"not a valid IAM user name"),
    case("iam_user_info", "path-prefix-without-slash", {"path_prefix": "cloudburst"}, r"(?i)path"),
    case("iam_access_key_info", "unicode-user", {"user_name": "ünïcode-user"},
         r"not a valid IAM user name|'ünïcode-user' does not exist"),
    case("iam_access_key_info", "missing-user", {"user_name": "matrix-nobody"}, r"'matrix-nobody' does not exist"),
    # --- public_ip_info -----------------------------------------------------------------------------
    case("public_ip_info", "file-url", {"url": "file:///etc/passwd"}, r"url must be an http:// or https:// URL"),
    case("public_ip_info", "ftp-url", {"url": "ftp://checkip.example/"}, r"url must be an http:// or https:// URL"),
    case("public_ip_info", "plain-http-url", {"url": "http://checkip.example/"},
         r"is plain http://: anyone on the network path can forge.*allow_insecure_url: true"),
    case("public_ip_info", "certificate-unchecked", {"url": "{checkip:docs}", "validate_certs": False},
         r"validate_certs is false.*forge its answer.*allow_insecure_url: true"),
    case("public_ip_info", "timeout-zero", {"url": "{checkip:docs}", "timeout": 0}, r"timeout must be a positive"),
    case("public_ip_info", "retries-negative", {"url": "{checkip:docs}", "retries": -1}, r"must not be negative"),
    case("public_ip_info", "answer-zero", {"url": "{checkip:zero}"}, r"0\.0\.0\.0"),
    case("public_ip_info", "answer-loopback", {"url": "{checkip:loopback}"}, r"127\.0\.0\.1"),
    case("public_ip_info", "answer-private", {"url": "{checkip:private}"}, r"10\.1\.2\.3.*allow_private"),
    case("public_ip_info", "answer-documentation", {"url": "{checkip:docs}"}, r"203\.0\.113\.5"),
    case("public_ip_info", "answer-link-local", {"url": "{checkip:link-local}"}, r"169\.254\.1\.1"),
    case("public_ip_info", "answer-multicast", {"url": "{checkip:multicast}"}, r"224\.0\.0\.1"),
    case("public_ip_info", "answer-garbage", {"url": "{checkip:garbage}", "retries": 0},
         r"not an IPv4 or IPv6 address|more than one word"),
    case("public_ip_info", "answer-two-words", {"url": "{checkip:two-words}"}, r"more than one word"),
    case("public_ip_info", "answer-empty", {"url": "{checkip:empty}"}, r"empty body"),
    # --- the iam_restricted_user role ---------------------------------------------------------------
    role("allowlist-whole-internet", {"iam_restricted_user_allowlist": ["0.0.0.0/0"]}, r"0\.0\.0\.0/0.*every address"),
    role("allowlist-two-halves", {"iam_restricted_user_allowlist": ["0.0.0.0/1", "128.0.0.0/1"],
                                  "iam_restricted_user_controller_ip": "11.22.33.44"},
         r"(?i)0\.0\.0\.0/1|128\.0\.0\.0/1|every|whole|wide|shorter"),
    role("allowlist-wider-than-8", {"iam_restricted_user_allowlist": ["10.0.0.0/7"],
                                    "iam_restricted_user_controller_ip": "10.0.0.5"},
         r"'10\.0\.0\.0/7' is wider than /8.*allow_wide_prefixes"),
    role("allowlist-locks-out-controller", {"iam_restricted_user_controller_ip": "11.22.33.44"},
         r"(?i)11\.22\.33\.44.*(lock|den|outside)|(lock|den|outside).*11\.22\.33\.44"),
    role("controller-ip-as-cidr", {"iam_restricted_user_controller_ip": "198.51.100.0/24"}, r"controller_ip"),
    role("bad-user-name", {"iam_restricted_user_name": "bad name"}, r"iam_restricted_user_name"),
    role("unicode-user-name", {"iam_restricted_user_name": "ünïcode-user"}, r"iam_restricted_user_name"),
    role("bad-path", {"iam_restricted_user_path": "cloudburst"}, r"iam_restricted_user_path"),
    role("bad-policy-name", {"iam_restricted_user_policy_name": "launch policy"}, r"iam_restricted_user_policy_name"),
    role("bad-restriction-name", {"iam_restricted_user_source_ip_policy_name": "allow/list"},
         r"iam_restricted_user_source_ip_policy_name"),
    role("unknown-extra-policy", {"iam_restricted_user_extra_managed_policies": ["NoSuchPolicyXyz"]},
         r"unknown managed policy 'NoSuchPolicyXyz'"),
    role("unknown-extra-policy-arn",
         {"iam_restricted_user_extra_managed_policies": ["arn:aws:iam::123456789012:policy/NoSuchPolicyXyz"]},
         r"Unknown managed policy.*NoSuchPolicyXyz"),
    role("rotate-negative", {"iam_restricted_user_rotate_after_days": -5}, r"rotate_after_days \(-5\) must be a positive"),
    role("rotate-not-a-number", {"iam_restricted_user_rotate_after_days": "ninety"},
         r"iam_restricted_user_rotate_after_days.*(int|ninety)"),
    role("keep-previous-unknown", {"iam_restricted_user_keep_previous": "forever"},
         r"iam_restricted_user_keep_previous.*(one of|choices)"),
    role("condor-dir-is-a-file", {}, r"condor exists and is not a directory", {"condor": "a file\n"}),
    role("credentials-file-is-a-directory", {"iam_restricted_user_write_aws_profile": True},
         r"aws-credentials exists and is not a file", {"aws-credentials/": None}),
    role("unknown-key-owner", {"iam_restricted_user_key_owner": "no-such-user-xyz"},
         r"'no-such-user-xyz'|\"no-such-user-xyz\" is not a user on this host"),
    role("profile-injection", {"iam_restricted_user_write_aws_profile": True,
                               "iam_restricted_user_credentials_profile": "x]\n[default"},
         r"iam_restricted_user_credentials_profile"),
    # The key writer refuses [DEFAULT] (botocore gives its options to every profile); the role's former copy of the
    # profile rule did not, so the user was made before the key writer refused.
    role("profile-default", {"iam_restricted_user_write_aws_profile": True,
                             "iam_restricted_user_credentials_profile": "DEFAULT"}, r"and not DEFAULT"),
    role("prefix-star", {"iam_restricted_user_resource_prefixes": ["*"]}, r"iam_restricted_user_resource_prefixes \[\"\*\"\]"),
    role("prefix-empty-string", {"iam_restricted_user_resource_prefixes": [""]},
         r"iam_restricted_user_resource_prefixes \[\"\"\]"),
    role("prefix-json-injection", {"iam_restricted_user_resource_prefixes": ['x", "arn:aws:iam::*:role/*']},
         r"iam_restricted_user_resource_prefixes"),
    role("prefix-list-empty", {"iam_restricted_user_resource_prefixes": []}, r"name at least\s+one prefix"),
    role("prefixes-over-policy-size", {"iam_restricted_user_resource_prefixes": [f"team{n}-" for n in range(12)]},
         r"over IAM's limit of 6144"),
    role("ec2-tag-key-reserved", {"iam_restricted_user_ec2_tag_keys": ["aws:cloudformation:stack-name"]},
         r"EC2 tag key 'aws:cloudformation:stack-name' is not allowed"),
    role("tags-over-50", {"iam_restricted_user_tags": {f"k{n}": "v" for n in range(51)}}, r"at most 50 tags \(given 51\)"),
    role("tag-key-too-long", {"iam_restricted_user_tags": {"k" * 129: "v"}}, r"refused: \[\"k{129}\"\]"),
    role("tag-key-reserved", {"iam_restricted_user_tags": {"aws:owner": "me"}}, r"refused: \[\"aws:owner\"\]"),
    role("tag-value-too-long", {"iam_restricted_user_tags": {"note": "v" * 257}}, r"too long: \[\"note\"\]"),
    role("key-written-nowhere", {"iam_restricted_user_write_condor_files": False}, r"a key that is written nowhere"),
]
CONTROLS = [
    case("iam_user", "control-writes", {"name": "matrix-control-user"}, None),
    case("iam_access_key", "control-writes", {"user_name": "matrix-control-user", "dest": "{dir}/credentials"}, None),
]
PLAY_ORDER = ["iam_user", "iam_managed_policy", "iam_access_key", "iam_user_info", "iam_access_key_info",
              "public_ip_info", "role"]


def host_name(item):
    return f"{item['group'].replace('_', '-')}--{item['name']}"


def fill(value, case_dir, checkips):
    """Put the case's directory and the checkip URLs into the case's arguments."""
    if isinstance(value, str):
        value = value.replace("{dir}", case_dir)
        return re.sub(r"\{checkip:([a-z-]+)\}", lambda m: checkips[m.group(1)].url, value)
    if isinstance(value, dict):
        return {fill(k, case_dir, checkips): fill(v, case_dir, checkips) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, case_dir, checkips) for v in value]
    return value


def snapshot(root):
    """{relative path: (kind, mode, size, mtime_ns, digest)} for everything below root, but Ansible's own
    ~/.ansible."""
    state = {}
    for directory, dirs, files in os.walk(root):
        if os.path.relpath(directory, root) == "home":
            dirs.remove(".ansible")
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as stream:
                    digest = hashlib.sha256(stream.read()).hexdigest()
            state[os.path.relpath(path, root)] = (name in dirs, info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return state


def plays(endpoint_url):
    result = []
    for group in PLAY_ORDER:
        if group == "role":
            run_case = {"name": "Run the role", "ansible.builtin.include_role": {"name": "cloudburst.aws.iam_restricted_user"}}
        else:
            run_case = {"name": f"Run {group}", f"cloudburst.aws.{group}": "{{ case_args }}"}
        result.append({
            "name": f"Bad input for {group}",
            "hosts": f"matrix_{group}",
            "gather_facts": False,
            # Each case signs with its own access key, so moto's recording tells which case made a call.
            "module_defaults": {"group/cloudburst.aws.aws": {
                "endpoint_url": endpoint_url, "region": rig.DEFAULT_REGION,
                "access_key": "{{ case_key_id }}", "secret_key": "{{ case_secret }}"}},
            "tasks": [{
                "name": "Try the case",
                "block": [run_case, {"name": "Not refused", "ansible.builtin.set_fact": {
                    "case_report": {"refused": False}}}],
                "rescue": [{"name": "Refused", "ansible.builtin.set_fact": {"case_report": {
                    "refused": True,
                    "task": "{{ ansible_failed_task.name | default('') }}",
                    "msg": "{{ ansible_failed_result.msg | default('') | string }}",
                    "module_stderr": "{{ ansible_failed_result.module_stderr | default('') | string }}",
                }}}],
            }],
        })
    return result


def unclear(message, expect):
    """Why message is not a clear refusal naming the problem, or None if it is."""
    if not message.strip():
        return "empty message"
    if "Traceback (most recent call last)" in message or "MODULE FAILURE" in message:
        return "traceback"
    if not re.search(expect, message, re.S):
        return f"message does not name the problem (want /{expect}/)"
    return None


@pytest.fixture
def checkips():
    servers = {name: rig.CheckipServer([(200, answer, 0)]) for name, answer in CHECKIP_ANSWERS.items()}
    for server in servers.values():
        server.__enter__()
    yield servers
    for server in servers.values():
        server.__exit__(None, None, None)


@pytest.fixture
def iam(moto_server, boto3_session):
    """The session's moto IAM, with the matrix's users made first and removed afterwards (whatever a case that
    was wrongly accepted left on them), so that later tests see the account as before."""
    client = boto3_session.client("iam", endpoint_url=moto_server.url)
    for name in ("matrix-key-user", "matrix-user"):
        client.create_user(UserName=name)
    yield client
    users = [u for page in client.get_paginator("list_users").paginate() for u in page["Users"]]
    for name in [u["UserName"] for u in users if u["UserName"].startswith("matrix-")]:
        for key in client.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            client.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        for attached in client.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
            client.detach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
        for policy_name in client.list_user_policies(UserName=name)["PolicyNames"]:
            client.delete_user_policy(UserName=name, PolicyName=policy_name)
        client.delete_user(UserName=name)


def test_bad_input_matrix(tmp_path, moto_server, checkips, iam, record_property, request):
    root = tmp_path / "matrix"
    home = root / "home"
    (home / ".ansible").mkdir(parents=True)  # Ansible's own state, which the snapshot leaves out
    inventory, identities = {}, {}
    items = CASES + CONTROLS
    assert len({host_name(item) for item in items}) == len(items), "case names must be unique per group"
    for item in items:
        host = host_name(item)
        case_dir = root / "cases" / host
        case_dir.mkdir(parents=True)
        for relative, content in item["setup"].items():
            if content is None:
                (case_dir / relative).mkdir()
            else:
                (case_dir / relative).write_text(content)
        identity = iam.create_user(UserName=f"matrix-identity-{len(identities):03d}", Path="/matrix-identities/")
        # An administrator runs the modules (the authorizing front evaluates the case's key like any other).
        iam.attach_user_policy(UserName=identity["User"]["UserName"],
                               PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        secret = iam.create_access_key(UserName=identity["User"]["UserName"])["AccessKey"]
        identities[host] = secret
        variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "case_key_id": secret["AccessKeyId"], "case_secret": secret["SecretAccessKey"]}
        filled = fill(item["args"], str(case_dir), checkips)
        if item["group"] == "role":
            variables.update(filled)
        else:
            variables["case_args"] = {k: v for k, v in filled.items() if v is not None}
        inventory.setdefault(f"matrix_{item['group']}", {"hosts": {}})["hosts"][host] = variables
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"children": inventory}}, indent=1))
    (tmp_path / "matrix.yml").write_text(json.dumps(plays(moto_server.url), indent=1))

    env = ansible_env(aws=moto_server.env, extra={
        "HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"), "ANSIBLE_FORKS": "8",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
    })
    before = snapshot(root)
    moto_server.reset_recording()
    result = run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
                  str(tmp_path / "matrix.yml")], env=env, timeout=900)
    after = snapshot(root)
    with open(moto_server.recording_path) as stream:
        recorded = [json.loads(line) for line in stream if line.strip()]
    try:
        parsed = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"ansible-playbook gave no JSON (rc {result.rc}):\n{result.output[-5000:]}")

    reports = {}
    for play in parsed["plays"]:
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                report = (outcome.get("ansible_facts") or {}).get("case_report")
                if report is not None:
                    reports[host] = report
    calls_by_key = {}
    for entry in recorded:
        if "/moto-api/" in entry.get("url", ""):
            continue
        signed = {k.lower(): v for k, v in entry.get("headers", {}).items()}.get("authorization", "")
        marker = re.search(r"Credential=([A-Z0-9]+)/", signed)
        calls_by_key.setdefault(marker.group(1) if marker else None, []).append(rig.request_action(entry))
    home_changed = {p for p in set(before) | set(after) if p.startswith("home") and before.get(p) != after.get(p)}

    lines, refused_clearly, untouched = [], 0, 0
    for item in CONTROLS:
        host = host_name(item)
        assert write_calls(calls_by_key.get(identities[host]["AccessKeyId"], [])), f"the control {host} made no write call seen"
    assert [p for p in after if p.startswith(os.path.join("cases", host_name(CONTROLS[1])) + os.sep)] != \
        [p for p in before if p.startswith(os.path.join("cases", host_name(CONTROLS[1])) + os.sep)], \
        "the control key writer changed no file that the snapshot sees"

    for item in CASES:
        host = host_name(item)
        report = reports.get(host)
        problems = []
        if report is None:
            problems.append("no result recorded")
        elif not report["refused"]:
            problems.append("accepted")
        else:
            reason = unclear(report["msg"] + report["module_stderr"], item["expect"])
            if reason:
                problems.append(f"{reason}: {report['msg'][:300]!r}")
            else:
                refused_clearly += 1
        writes = write_calls(calls_by_key.get(identities[host]["AccessKeyId"], []))
        prefix = os.path.join("cases", host) + os.sep
        touched = sorted(p for p in set(before) | set(after) if p.startswith(prefix) and before.get(p) != after.get(p))
        if writes:
            problems.append(f"write calls {writes}")
        if touched or home_changed:
            problems.append(f"files touched {touched + sorted(home_changed)}")
        if not writes and not touched and not home_changed:
            untouched += 1
        if problems:
            lines.append(f"  {item['group']} {item['name']}: {'; '.join(problems)}")

    figure = (f"bad-input matrix: {len(CASES)} tried, {refused_clearly} refused with a clear message, "
              f"{untouched} with zero write calls and no file touched")
    record_property("bad_input_matrix", figure)
    print("\n" + figure + ("\n" + "\n".join(lines) if lines else ""))
    _show_in_summary(request.config, figure, lines)
    assert len(CASES) >= 60
    assert refused_clearly == untouched == len(CASES), figure + "\n" + "\n".join(lines)


class _Summary:
    def __init__(self):
        self.lines = []

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_sep("-", "bad-input matrix")
        for line in self.lines:
            terminalreporter.write_line(line)


def _show_in_summary(config, figure, lines):
    plugin = config.pluginmanager.get_plugin("bad-input-matrix-summary")
    if plugin is None:
        plugin = _Summary()
        config.pluginmanager.register(plugin, "bad-input-matrix-summary")
    plugin.lines = [figure] + lines
