# -*- coding: utf-8 -*-
"""The demo's playbook run the way `make demo` runs it: tools/local-aws around playbooks/site.yml."""

from __future__ import annotations

import sys

from conftest import ansible_env, run


def test_demo_prints_its_summary_from_the_local_endpoint():
    result = run([sys.executable, "tools/local-aws", "--", "ansible-playbook", "playbooks/site.yml"],
                 env=ansible_env(), timeout=300)
    assert result.rc == 0, result.output[-4000:]
    assert "AWS endpoint: http://127.0.0.1:" in result.stdout
    assert "Caller: arn:aws:iam::123456789012:user/cloudburst-rig-admin" in result.stdout
    assert "Controller address: 198.51.100.7 (IPv4), allow-list entry 198.51.100.7/32" in result.stdout
    assert "IAM user: arn:aws:iam::123456789012:user/cloudburst/annex-user" in result.stdout
    assert "Usable only from: 198.51.100.7/32" in result.stdout
    assert "Policies: arn:aws:iam::123456789012:policy/cloudburst/cloudburst-launch" in result.stdout
    assert "/.build/demo-home/.condor/publicKeyFile" in result.stdout
    assert "failed=0" in result.stdout
