# -*- coding: utf-8 -*-
"""Gate: every molecule scenario under extensions/molecule/ runs its full test sequence
(create, converge, idempotence, verify, destroy) in podman containers."""

from __future__ import annotations

import pathlib

import pytest
from conftest import REPO_ROOT, ansible_env, run


def spark_archive_env():
    """The spark scenario installs from an archive built from the PyPI pyspark sdist (cached)."""
    built = run([str(pathlib.Path(REPO_ROOT, "tools", "build-spark-archive"))], check=True, timeout=1200)
    return {"CLOUDBURST_SPARK_ARCHIVE": built.stdout.strip().splitlines()[-1]}


def fake_spark_mirror_env():
    """The spark_download scenario's node downloads from a stand-in Apache mirror on its network's gateway."""
    from rig import fake_spark_mirror

    return fake_spark_mirror.scenario_env()


# Scenario-specific environment, computed only when that scenario runs.
SCENARIO_ENV = {"spark": spark_archive_env, "spark_download": fake_spark_mirror_env}

SCENARIOS = sorted(p.parent.name for p in pathlib.Path(REPO_ROOT, "extensions", "molecule").glob("*/molecule.yml"))


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario):
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")  # molecule writes its own
    if scenario in SCENARIO_ENV:
        env.update(SCENARIO_ENV[scenario]())
    result = run(["molecule", "test", "-s", scenario], env=env, timeout=2400)
    assert result.rc == 0, f"molecule test -s {scenario} failed:\n" + result.output[-10000:]
