# -*- coding: utf-8 -*-
"""The node-side roles (htcondor*, spark*) refuse values that would start a line, expand a macro or add an
argument in the files they write, in their validate tasks, before any change on a host.

Every case is a host of one ansible-playbook run, and every host is unreachable (SSH to a closed port on
127.0.0.1): a role that accepted its input would reach for the host in its first real task, and that host would
turn up unreachable instead of refused. So "refused by a validate task, host never contacted" is measured, not
assumed. One control per role proves the measurement sees acceptance.

Also, rendered on the controller (no host): spark-env.sh keeps spark_env_extra's values literal, and
spark-defaults.conf carries the RPC encryption settings when spark_network_crypto is on; the spark_ec2 role turns
it on for its clusters unless told not to, and playbooks/spark_ec2.yml hands that to the node roles.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from conftest import REPO_ROOT, VENV_BIN, ansible_env, run

CONDOR_INJECTION = "cm.example.org\ninclude : /usr/bin/touch /tmp/cloudburst-pwned |"


def case(role, name, role_vars, expect):
    return {"role": role, "name": name, "vars": role_vars, "expect": expect}


CASES = [
    # --- htcondor (and the roles that run it first) ------------------------------------------------------
    case("htcondor", "central-manager-line-break", {"htcondor_central_manager": CONDOR_INJECTION}, "line break"),
    case("htcondor", "central-manager-macro", {"htcondor_central_manager": "$(FULL_HOSTNAME)"}, "host name"),
    case("htcondor", "trust-domain-list", {"htcondor_trust_domain": "cloudburst.pool, *"}, "host name"),
    case("htcondor", "identity-list", {"htcondor_annex_identity": "*@*, annex"}, "letters, digits"),
    case("htcondor", "identity-line-break", {"htcondor_annex_identity": "annex\nALLOW_WRITE = *"}, "line break"),
    case("htcondor", "package-line-break", {"htcondor_package": "condor\nopenssh-server"}, "line break"),
    case("htcondor", "repository-line-break",
         {"htcondor_repository": "deb https://r.example trixie main\ndeb http://evil.example trixie main",
          "htcondor_repository_key_url": "https://r.example/key.asc"}, "line break"),
    case("htcondor", "key-url-line-break", {"htcondor_repository": "deb https://r.example trixie main",
                                            "htcondor_repository_key_url": "https://r.example/key\n.asc"},
         "line break"),
    case("htcondor_central_manager", "identity-list", {"htcondor_annex_identity": "x, *"}, "letters, digits"),
    case("htcondor_annex_node", "name-line-break", {"annex_name": "seed-000\n"}, "line break"),
    case("htcondor_annex_node", "start-line-break", {"annex_start_expression": "True\ninclude : /usr/bin/id |"},
         "line break"),
    case("htcondor_annex_node", "start-macro", {"annex_start_expression": "$(START) || True"}, "expands as a macro"),
    case("htcondor_annex_node", "start-continued", {"annex_start_expression": 'Owner == "alice" \\'},
         "continues HTCondor's configuration line"),
    # --- spark (and the daemon roles, whose values it checks first) -------------------------------------
    case("spark", "master-host-argument", {"spark_master_host": "m --webui-port 1"}, "host name"),
    case("spark", "bind-address-line-break", {"spark_bind_address": "10.0.0.1\nexport X=1"}, "line break"),
    case("spark", "bind-address-command", {"spark_bind_address": "$(id)"}, "host name"),
    case("spark", "user-home-quote", {"spark_user_home": '/home/spark"; touch /tmp/p; "'}, "absolute path"),
    case("spark", "home-specifier", {"spark_home": "/opt/spark %h"}, "absolute path"),
    case("spark", "user-line-break", {"spark_user": "spark\nExecStartPre=/bin/id"}, "line break"),
    case("spark", "group-two-words", {"spark_group": "root wheel"}, "letters, digits"),
    case("spark", "cluster-name-path", {"spark_cluster_name": "../../etc/x"}, "letters, digits"),
    case("spark", "executor-memory-line-break", {"spark_executor_memory": "1g\nspark.authenticate false"},
         "line break"),
    case("spark", "secret-line-break", {"spark_auth_secret": "s3cret-value\nspark.authenticate false"},
         "secret value not shown"),
    case("spark", "defaults-extra-line-break",
         {"spark_defaults_extra": {"spark.ui.enabled": "true\nspark.authenticate false"}}, "line break"),
    case("spark", "defaults-extra-turns-auth-off", {"spark_defaults_extra": {"spark.authenticate": "false"}},
         "written by the role itself"),
    case("spark", "defaults-extra-turns-crypto-off",
         {"spark_defaults_extra": {"spark.network.crypto.enabled": "false"}}, "use spark_network_crypto"),
    case("spark", "defaults-extra-bad-name", {"spark_defaults_extra": {"spark.x y": "1"}}, "Spark property name"),
    case("spark", "env-extra-line-break", {"spark_env_extra": {"X": "a\nrm -rf /"}}, "line break"),
    case("spark", "env-extra-bad-name", {"spark_env_extra": {"X;touch /tmp/p;Y": "1"}}, "shell variable name"),
    case("spark_master", "opts-quote", {"spark_master_opts": '-Da" ExecStartPre="/usr/bin/id'}, "quote or backslash"),
    case("spark_master", "opts-line-break", {"spark_master_opts": "-Dx=1\nExecStartPre=/usr/bin/id"}, "line break"),
    case("spark_worker", "memory-argument", {"spark_worker_memory": "1g --cores 64"}, "one word"),
    case("spark_worker", "dir-blank", {"spark_worker_dir": "/var/lib/spark work"}, "absolute path"),
    case("spark_worker", "address-argument", {"spark_worker_address": "10.0.0.5 --cores 64"}, "host name"),
]
CONTROLS = [case(role, "control", {}, None) for role in
            ("htcondor", "htcondor_central_manager", "htcondor_annex_node", "spark", "spark_master", "spark_worker")]
# The inventory groups each role's checks look for (a central manager, a Spark master).
GROUPS = {"htcondor": ["htcondor_central_manager"], "spark": ["spark_master"]}


def host_name(item):
    return f"{item['role'].replace('_', '-')}--{item['name']}"


def plays():
    result = []
    for role in dict.fromkeys(item["role"] for item in CASES + CONTROLS):
        result.append({
            "name": f"Bad input for {role}", "hosts": f"case_{role}", "gather_facts": False,
            "tasks": [{"name": "Try the case", "block": [
                {"name": "Run the role", "ansible.builtin.include_role": {"name": f"cloudburst.aws.{role}"}},
            ], "rescue": [{"name": "Refused", "ansible.builtin.set_fact": {"case_report": {
                "task": "{{ ansible_failed_task.name | default('') }}",
                "msg": "{{ ansible_failed_result.msg | default('') | string }}"}}}]}],
        })
    return result


def test_node_roles_refuse_bad_input_before_touching_the_host(tmp_path):
    inventory = {}
    for item in CASES + CONTROLS:
        host = host_name(item)
        # Unreachable: SSH to a port nothing listens on. Only a task that touches the host connects.
        variables = dict({"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                          "ansible_user": "nobody", "ansible_python_interpreter": "/usr/bin/python3",
                          "spark_auth_secret": "a-test-secret-of-the-matrix"}, **item["vars"])
        groups = [f"case_{item['role']}"] + GROUPS.get(item["role"].split("_")[0], [])
        for group in groups:
            inventory.setdefault(group, {"hosts": {}})["hosts"][host] = variables
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"children": inventory}}, indent=1))
    (tmp_path / "cases.yml").write_text(json.dumps(plays(), indent=1))
    env = ansible_env(extra={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                             "ANSIBLE_FORKS": "8", "ANSIBLE_HOST_KEY_CHECKING": "false",
                             "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local")})
    result = run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
                  str(tmp_path / "cases.yml")], env=env, timeout=600)
    parsed = json.loads(result.stdout)
    reports, unreachable = {}, set()
    for play in parsed["plays"]:
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                if outcome.get("unreachable"):
                    unreachable.add(host)
                report = (outcome.get("ansible_facts") or {}).get("case_report")
                if report is not None:
                    reports[host] = report

    for item in CONTROLS:
        assert host_name(item) in unreachable and host_name(item) not in reports, \
            f"the control {host_name(item)} did not reach for its host: {reports.get(host_name(item))}"
    problems = []
    for item in CASES:
        host, report = host_name(item), reports.get(host_name(item))
        if host in unreachable or report is None:
            problems.append(f"{host}: accepted (the role reached for the host)")
        elif not report["task"].startswith("Check") or item["expect"] not in " ".join(report["msg"].split()):
            problems.append(f"{host}: refused by {report['task']!r} with {report['msg'][:300]!r}, "
                            f"want a check naming {item['expect']!r}")
        elif "nothing was changed" not in report["msg"] or "s3cret-value" in report["msg"]:
            problems.append(f"{host}: message {report['msg'][:300]!r}")
    assert not problems, "\n".join(problems)


def render_spark(tmp_path, **role_vars):
    """spark-defaults.conf and spark-env.sh from the spark role's templates, on the controller."""
    role_vars = dict({"spark_master_host": "10.0.1.5", "spark_auth_secret": "test-secret", "spark_version": "4.0.1",
                      "spark_user_home": "/home/spark", "spark_bind_address": ""}, **role_vars)
    templates = os.path.join(REPO_ROOT, "roles", "spark", "templates")
    plays = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "vars": role_vars, "tasks": [
        {"ansible.builtin.template": {"src": os.path.join(templates, f"{name}.j2"), "dest": str(tmp_path / name),
                                      "mode": "0600"}} for name in ("spark-defaults.conf", "spark-env.sh")]}]
    (tmp_path / "render.json").write_text(json.dumps(plays))
    defaults = os.path.join(REPO_ROOT, "roles", "spark", "defaults", "main.yml")
    run(["ansible-playbook", "-e", f"@{defaults}", "-e", json.dumps(role_vars), str(tmp_path / "render.json")],
        env=ansible_env(), check=True)
    return (tmp_path / "spark-defaults.conf").read_text(), tmp_path / "spark-env.sh"


def properties(text):
    return dict(line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))


def test_spark_env_values_stay_literal_when_the_file_is_sourced(tmp_path):
    marker = tmp_path / "ran"
    value = f"-Da=b $(touch {marker}) `touch {marker}` ; touch {marker}"
    env_file = render_spark(tmp_path, spark_env_extra={"SPARK_DAEMON_JAVA_OPTS": value})[1]
    shown = subprocess.run(["bash", "-c", f". {env_file} && printf %s \"$SPARK_DAEMON_JAVA_OPTS\""],
                           capture_output=True, text=True, check=True).stdout
    assert shown == value and not marker.exists()


@pytest.mark.parametrize("crypto", [True, False])
def test_spark_defaults_carry_the_rpc_encryption_settings(tmp_path, crypto):
    conf = properties(render_spark(tmp_path, spark_network_crypto=crypto)[0])
    assert conf["spark.authenticate"] == "true"
    assert conf["spark.network.crypto.enabled"] == str(crypto).lower()
    if crypto:
        assert conf["spark.network.crypto.authEngineVersion"] == "2"
        assert conf["spark.network.crypto.saslFallback"] == "false"
        # AES/GCM/NoPadding breaks worker registration in Spark 4.0.1 (SPARK-56227): the default cipher stays.
        assert "spark.network.crypto.cipher" not in conf
    else:
        assert not any(key.startswith("spark.network.crypto.") and key != "spark.network.crypto.enabled"
                       for key in conf)


@pytest.mark.parametrize("opt_out", [False, True])
def test_spark_ec2_turns_rpc_encryption_on_for_its_clusters(tmp_path, opt_out):
    # The role's result, as launch, start and describe set it, from its defaults (and the opt-out) ...
    role = os.path.join(REPO_ROOT, "roles", "spark_ec2")
    extra = {"spark_ec2_result_workers": [], "spark_ec2_network_crypto": False} if opt_out else \
        {"spark_ec2_result_workers": []}
    plays = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_vars": os.path.join(role, "defaults", "main.yml")},
        {"ansible.builtin.include_vars": os.path.join(role, "vars", "main.yml")},
        {"ansible.builtin.debug": {"msg": "{{ lookup('ansible.builtin.template', '%s') | from_yaml }}"
                                          % os.path.join(role, "templates", "result.yml.j2")}}]}]
    (tmp_path / "result.json").write_text(json.dumps(plays))
    env = ansible_env(extra={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
    completed = run(["ansible-playbook", "-e", json.dumps(extra), str(tmp_path / "result.json")], env=env, check=True)
    result = json.loads(completed.stdout)["plays"][0]["tasks"][2]["hosts"]["localhost"]["msg"]
    assert result["network_crypto"] is (not opt_out)
    # ... and the playbook hands it to the node roles of the cluster.
    with open(os.path.join(REPO_ROOT, "playbooks", "spark_ec2.yml")) as stream:
        node_plays = [p for p in yaml.safe_load(stream) if "cloudburst.aws.spark" in
                      [r["role"] if isinstance(r, dict) else r for r in p.get("roles", [])]]
    assert node_plays and all("spark_ec2_result.network_crypto" in p["vars"]["spark_network_crypto"]
                              for p in node_plays)
