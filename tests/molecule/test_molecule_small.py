# -*- coding: utf-8 -*-
"""Gate: molecule's short scenarios (every scenario without a test file of its own), and that each scenario with one
has it."""

from __future__ import annotations

import pathlib

import pytest
from molecule_gate import OWN_FILE, SCENARIOS, run_scenario


def test_each_scenario_with_a_file_of_its_own_runs_there():
    for scenario in OWN_FILE:
        assert scenario in SCENARIOS, scenario
        own = pathlib.Path(__file__).with_name(f"test_molecule_{scenario}.py")
        assert f'run_scenario("{scenario}")' in own.read_text(), own


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in OWN_FILE])
def test_molecule_scenario(scenario):
    run_scenario(scenario)
