# -*- coding: utf-8 -*-
"""Gate: molecule's short scenarios, and that every scenario under extensions/molecule/ runs in one test file."""

from __future__ import annotations

import pathlib

import pytest
from molecule_gate import SCENARIO_FILES, SCENARIOS, run_scenario


def test_every_scenario_runs_in_one_test_file():
    assert sorted(SCENARIO_FILES) == SCENARIOS
    here = pathlib.Path(__file__).parent
    for scenario, test_file in SCENARIO_FILES.items():
        source = (here / test_file).read_text()  # this file runs its scenarios from SCENARIO_FILES itself
        assert test_file == pathlib.Path(__file__).name or f'run_scenario("{scenario}")' in source, (scenario, test_file)


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", [s for s, f in SCENARIO_FILES.items() if f == "test_molecule_small.py"])
def test_molecule_scenario(scenario):
    run_scenario(scenario)
