# -*- coding: utf-8 -*-
"""The annex node's lease end, as cloudburst.aws.htcondor_annex_node renders it into condor's config.

Its lease tasks and its 40-annex.conf template run on the controller (no host, no condor: seconds), with the
lease file in a temporary directory:

- given the launch's lease end (the cloudburst:lease-end tag), DAEMON_SHUTDOWN_FAST compares CurrentTime with
  exactly that moment, the one the boot-time backstop and the reaper count to;
- without it, the node counts annex_lease_seconds from its first configuration; a re-run keeps that moment (no
  change, the lease is never extended), and a new annex_lease_seconds starts a new count;
- a lease end that is neither a UTC time nor epoch seconds is refused with a clear message.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import sys
import time

from conftest import REPO_ROOT, ansible_env, run

ROLE = os.path.join(REPO_ROOT, "roles", "htcondor_annex_node")


def render(tmp_path, **role_vars):
    """The role's lease tasks, then its config template into tmp_path; returns (Completed, config text, lease file)."""
    config, lease_file = tmp_path / "40-annex.conf", tmp_path / "lease.json"
    role_vars.setdefault("htcondor_central_manager_group", "htcondor_central_manager")  # the htcondor role's default
    plays = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "vars": role_vars, "tasks": [
        {"ansible.builtin.include_role": {"name": "cloudburst.aws.htcondor_annex_node", "tasks_from": "validate",
                                          "public": True}},
        {"ansible.builtin.include_role": {"name": "cloudburst.aws.htcondor_annex_node", "tasks_from": "lease",
                                          "public": True}},
        {"ansible.builtin.template": {"src": os.path.join(ROLE, "templates", "40-annex.conf.j2"), "dest": str(config),
                                      "mode": "0644"}},
    ]}]
    (tmp_path / "play.json").write_text(json.dumps(plays))
    (tmp_path / "hosts.ini").write_text("[htcondor_central_manager]\nlocalhost ansible_connection=local "
                                        f"ansible_python_interpreter={sys.executable}\n")
    result = run(["ansible-playbook", "-i", str(tmp_path / "hosts.ini"), str(tmp_path / "play.json"),
                  "-e", json.dumps({"htcondor_annex_node_lease_file": str(lease_file)})], env=ansible_env())
    text = config.read_text() if config.exists() else ""
    return result, text, json.loads(lease_file.read_text()) if lease_file.exists() else None


def shutdown_epoch(config):
    return int(re.search(r"^MASTER\.DAEMON_SHUTDOWN_FAST = CurrentTime >= (\d+)$", config, re.M).group(1))


def changed(result):
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", result.stdout).group(1))


def test_the_launch_lease_end_is_the_moment_condor_leaves(tmp_path):
    result, config, lease = render(tmp_path, annex_name="h4-lease", annex_lease_end="2031-01-02T03:04:05Z",
                                   annex_lease_seconds=600)
    assert result.rc == 0, result.output[-3000:]
    epoch = calendar.timegm(time.strptime("2031-01-02T03:04:05Z", "%Y-%m-%dT%H:%M:%SZ"))
    assert shutdown_epoch(config) == epoch
    assert "DaemonStartTime" not in config  # no longer counted from condor's start
    assert lease == {"lease_end": epoch, "lease_end_utc": "2031-01-02T03:04:05Z", "lease_seconds": None,
                     "source": "annex_lease_end"}
    # Epoch seconds (the lease function reads them too) name the same moment.
    assert shutdown_epoch(render(tmp_path, annex_name="h4-lease", annex_lease_end=str(epoch))[1]) == epoch


def test_without_a_lease_end_the_node_counts_from_its_first_configuration(tmp_path):
    before = int(time.time())
    result, config, lease = render(tmp_path, annex_name="h4-lease", annex_lease_seconds=600)
    assert result.rc == 0, result.output[-3000:]
    first = shutdown_epoch(config)
    assert before + 600 <= first <= int(time.time()) + 600
    assert lease["source"] == "annex_lease_seconds" and lease["lease_seconds"] == 600 and lease["lease_end"] == first

    time.sleep(1.1)
    again, config = render(tmp_path, annex_name="h4-lease", annex_lease_seconds=600)[:2]
    assert again.rc == 0 and changed(again) == 0, again.output[-3000:]
    assert shutdown_epoch(config) == first  # a re-run never extends the lease

    before = int(time.time())
    longer, config, lease = render(tmp_path, annex_name="h4-lease", annex_lease_seconds=900)
    assert longer.rc == 0, longer.output[-3000:]
    assert before + 900 <= shutdown_epoch(config) <= int(time.time()) + 900
    assert lease["lease_seconds"] == 900


def test_a_lease_end_that_is_not_a_time_is_refused(tmp_path):
    result, config, lease = render(tmp_path, annex_name="h4-lease", annex_lease_end="tomorrow")
    assert result.rc != 0
    flat = " ".join(result.output.split())
    assert 'annex_lease_end "tomorrow" must be a UTC time like 2026-11-25T14:05:00Z' in flat, result.output[-3000:]
    assert "Traceback" not in result.output
    assert config == "" and lease is None
