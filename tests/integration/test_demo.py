# -*- coding: utf-8 -*-
"""The README's demo command: `make demo` (moto + local podman hosts), then `make demo-clean`."""

from __future__ import annotations

import pytest
from conftest import ansible_env, run

import rig


@pytest.fixture
def demo_cleanup():
    yield
    run(["make", "demo-clean"], env=ansible_env(), timeout=300)


def test_make_demo_prints_its_summary(demo_cleanup):
    result = run(["make", "demo"], env=ansible_env(), timeout=1500)
    assert result.rc == 0, result.output[-4000:]
    out = result.stdout
    assert "AWS endpoint: http://127.0.0.1:" in out
    assert "Caller: arn:aws:iam::123456789012:user/cloudburst-rig-admin" in out
    address = rig.DEFAULT_CHECKIP_ANSWER  # tools/local-aws's checkip answer
    assert f"Controller address: {address} (IPv4), allow-list entry {address}/32" in out
    assert "IAM user: arn:aws:iam::123456789012:user/cloudburst/annex-user" in out
    assert f"Usable only from: {address}/32" in out
    assert "Policies: arn:aws:iam::123456789012:policy/cloudburst/cloudburst-launch" in out
    assert "/.build/demo-home/.condor/publicKeyFile" in out
    assert "Spark job on demo-spark-master: Pi is roughly 3.1" in out
    assert "failed=0" in out and "failed=1" not in out
