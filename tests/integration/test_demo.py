# -*- coding: utf-8 -*-
"""The README's demo command: `make demo` (moto + the local cloud, the Spark hosts launched through the EC2
layer), then `make demo-clean`, which destroys them through the same layer and leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from conftest import REPO_ROOT, ansible_env, run

import rig

DEMO_NETWORK = "cloudburst-10.120.1.0-24"  # the local cloud's network for the demo's subnet (playbooks/vars/demo.yml)
PID_FILE = os.path.join(REPO_ROOT, ".build", "local-aws.pid")


def demo_containers():
    proc = subprocess.run(["podman", "ps", "-a", "--format", "json", "--filter", "label=owner=cloudburst-local-cloud"],
                          capture_output=True, text=True, check=True)
    return [c["Names"][0] for c in json.loads(proc.stdout or "[]")
            if (c.get("Labels") or {}).get("cloudburst_cluster", "demo") == "demo"]


def network_exists(name):
    return subprocess.run(["podman", "network", "exists", name], check=False).returncode == 0


@pytest.fixture
def demo_cleanup():
    yield
    run(["make", "demo-clean"], env=ansible_env(), timeout=600)


def test_make_demo_prints_its_summary(demo_cleanup):
    result = run(["make", "demo"], env=ansible_env(), timeout=1800)
    assert result.rc == 0, result.output[-4000:]
    out = " ".join(result.stdout.split())  # the callback wraps long lines
    assert "AWS endpoint: http://127.0.0.1:" in out
    assert "Caller: arn:aws:iam::123456789012:user/cloudburst-rig-admin" in out
    address = rig.DEFAULT_CHECKIP_ANSWER  # tools/local-aws's checkip answer
    assert f"Controller address: {address} (IPv4), allow-list entry {address}/32" in out
    assert "IAM user: arn:aws:iam::123456789012:user/cloudburst/annex-user" in out
    assert f"Usable only from: {address}/32" in out
    assert "Policies: arn:aws:iam::123456789012:policy/cloudburst/cloudburst-launch" in out
    assert "/.build/demo-home/.condor/publicKeyFile" in out
    # The master and two workers are EC2 instances (named by instance id) in the demo's subnet.
    assert re.search(r"Master URL: spark://10\.120\.1\.\d+:7077", out), out[-4000:]
    assert "Alive workers: 2 (2 cores)" in out
    assert len(re.findall(r"Worker i-[0-9a-f]+: running 10\.120\.1\.\d+", out)) == 2
    assert re.search(r"Spark job on i-[0-9a-f]+: Pi is roughly 3\.1", out)
    login = re.search(r"Log in to the master: (ssh -i \S+ -o UserKnownHostsFile=\S+ -o StrictHostKeyChecking=yes "
                      r"admin@10\.120\.1\.\d+)", out)
    assert login, out[-4000:]
    assert "failed=0" in out and "failed=1" not in out
    assert len(demo_containers()) == 3

    # The line the user copies logs in, with the cluster's key and known_hosts and host key checking on.
    argv = login.group(1).split()
    ssh = run(argv[:-1] + ["-o", "BatchMode=yes", argv[-1], "systemctl", "is-active", "spark-master"])
    assert ssh.rc == 0 and ssh.stdout.strip() == "active", ssh.output

    clean = run(["make", "demo-clean"], env=ansible_env(), timeout=600)
    assert clean.rc == 0, clean.output[-4000:]
    assert "Cluster demo: destroyed" in " ".join(clean.stdout.split())
    assert demo_containers() == []
    assert not network_exists(DEMO_NETWORK)
    assert not os.path.exists(PID_FILE) and not os.path.exists(os.path.join(REPO_ROOT, ".build", "local-aws.env"))
