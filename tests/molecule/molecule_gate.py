# -*- coding: utf-8 -*-
"""Gate: every molecule scenario under extensions/molecule/ runs its full test sequence (create, converge,
idempotence, verify, destroy) in podman containers.

One test file per long scenario (test_molecule_*.py), so that `make test`'s two workers, which take whole files,
can run the HTCondor and the Spark scenarios side by side instead of one after the other."""

from __future__ import annotations

import pathlib

from conftest import REPO_ROOT, ansible_env, run

SCENARIOS = sorted(p.parent.name for p in pathlib.Path(REPO_ROOT, "extensions", "molecule").glob("*/molecule.yml"))
# The scenarios with a test file of their own (test_molecule_<scenario>.py); test_molecule_small.py runs every other.
OWN_FILE = ("htcondor", "spark")


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


def run_scenario(scenario):
    """`molecule test -s scenario`, as a developer runs it; fails with the end of its output."""
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")  # molecule writes its own
    if scenario in SCENARIO_ENV:
        env.update(SCENARIO_ENV[scenario]())
    result = run(["molecule", "test", "-s", scenario], env=env, timeout=2400)
    assert result.rc == 0, f"molecule test -s {scenario} failed:\n" + result.output[-10000:]
