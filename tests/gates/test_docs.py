# -*- coding: utf-8 -*-
"""Every plugin documents itself through ansible-doc, and every role through its argument specs."""

from __future__ import annotations

import json
import os
import pathlib

import pytest
from conftest import REPO_ROOT, ansible_env, run

MODULES = sorted(p.stem for p in pathlib.Path(REPO_ROOT, "plugins", "modules").glob("*.py") if p.stem != "__init__")
FILTERS = sorted(p.stem for p in pathlib.Path(REPO_ROOT, "plugins", "filter").glob("*.yml"))
TESTS = sorted(p.stem for p in pathlib.Path(REPO_ROOT, "plugins", "test").glob("*.yml"))
ROLES = sorted(p.parent.name for p in pathlib.Path(REPO_ROOT, "roles").glob("*/tasks"))


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_for_module(module):
    result = run(["ansible-doc", "--json", f"cloudburst.aws.{module}"], env=ansible_env(), check=True)
    doc = json.loads(result.stdout)[f"cloudburst.aws.{module}"]
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip() and doc["return"]


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_for_filter(name):
    result = run(["ansible-doc", "-t", "filter", "--json", f"cloudburst.aws.{name}"], env=ansible_env(), check=True)
    doc = json.loads(result.stdout)[f"cloudburst.aws.{name}"]
    assert doc["doc"]["short_description"] and doc["examples"].strip()


@pytest.mark.parametrize("name", TESTS)
def test_ansible_doc_for_test(name):
    result = run(["ansible-doc", "-t", "test", "--json", f"cloudburst.aws.{name}"], env=ansible_env(), check=True)
    doc = json.loads(result.stdout)[f"cloudburst.aws.{name}"]
    assert doc["doc"]["short_description"] and doc["examples"].strip() and doc["return"]


@pytest.mark.parametrize("role", ROLES)
def test_role_has_argument_specs(role):
    assert os.path.exists(os.path.join(REPO_ROOT, "roles", role, "meta", "argument_specs.yml"))
    result = run(["ansible-doc", "-t", "role", "--json", f"cloudburst.aws.{role}"], env=ansible_env(), check=True)
    assert json.loads(result.stdout)


STRATEGIES = sorted(p.stem for p in pathlib.Path(REPO_ROOT, "plugins", "strategy").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", STRATEGIES)
def test_ansible_doc_for_strategy(name):
    result = run(["ansible-doc", "-t", "strategy", "--json", f"cloudburst.aws.{name}"], env=ansible_env(), check=True)
    doc = json.loads(result.stdout)[f"cloudburst.aws.{name}"]
    assert doc["doc"]["short_description"] and doc["doc"]["description"]
