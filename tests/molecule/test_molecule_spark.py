# -*- coding: utf-8 -*-
"""Gate: molecule's spark scenario (extensions/molecule/spark), in a file of its own (see molecule_gate.py)."""

from __future__ import annotations

import pytest
from molecule_gate import run_scenario


@pytest.mark.molecule
def test_molecule_spark_scenario():
    run_scenario("spark")
