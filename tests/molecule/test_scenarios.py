# -*- coding: utf-8 -*-
"""Gate: every molecule scenario under extensions/molecule/ runs its full test sequence
(create, converge, idempotence, verify, destroy) in podman containers."""

from __future__ import annotations

import pathlib

import pytest
from conftest import REPO_ROOT, ansible_env, run

SCENARIOS = sorted(p.parent.name for p in pathlib.Path(REPO_ROOT, "extensions", "molecule").glob("*/molecule.yml"))


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario):
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")  # molecule writes its own
    result = run(["molecule", "test", "-s", scenario], env=env, timeout=2400)
    assert result.rc == 0, f"molecule test -s {scenario} failed:\n" + result.output[-10000:]
