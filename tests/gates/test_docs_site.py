# -*- coding: utf-8 -*-
"""The docs site (`make docs`, tools/build-docs) builds offline with no warning at all, and has a page for
every module, filter, role, playbook and guide."""

from __future__ import annotations

import os
import pathlib
import re
import sys

import pytest
from conftest import REPO_ROOT, VENV_BIN, ansible_env, run
from test_docs import FILTERS, MODULES, ROLES

PLAYBOOKS = sorted(p.name for p in pathlib.Path(REPO_ROOT, "playbooks").glob("*.yml"))
GUIDES = sorted(p.stem for p in pathlib.Path(REPO_ROOT, "docs").glob("*.md"))
PLAYBOOKS_PAGE = pathlib.Path(REPO_ROOT, "docs", "docsite", "rst", "playbooks.rst")


@pytest.fixture(scope="module")
def site():
    """Build the site once for this module; return its html directory."""
    result = run([sys.executable, os.path.join(REPO_ROOT, "tools", "build-docs")], env=ansible_env(), check=True)
    # sphinx-build -W already fails on its warnings; this also catches antsibull-docs' own.
    assert not re.search(r"WARNING|ERROR", result.output), result.output[-6000:]
    return pathlib.Path(result.stdout.strip().splitlines()[-1]).parent


def test_site_builds_without_warnings(site):
    assert (site / "index.html").is_file()


def test_every_plugin_and_role_has_a_page(site):
    pages = site / "collections" / "cloudburst" / "aws"
    expected = [f"{m}_module" for m in MODULES] + [f"{f}_filter" for f in FILTERS] + [f"{r}_role" for r in ROLES]
    assert expected and [p for p in expected if not (pages / f"{p}.html").is_file()] == []


def test_guides_are_in_the_site(site):
    assert GUIDES and [g for g in GUIDES if not (site / "guides" / f"{g}.html").is_file()] == []


def test_playbooks_page_has_a_section_for_each_playbook_and_no_other():
    # A section is its title, the playbook's file name, underlined.
    sections = re.findall(r"^(\S+\.yml)\n-+$", PLAYBOOKS_PAGE.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(sections) == PLAYBOOKS


def test_playbooks_page_is_in_the_site(site):
    page = (site / "collections" / "cloudburst" / "aws" / "docsite" / "playbooks.html").read_text(encoding="utf-8")
    assert all(name in page for name in PLAYBOOKS)


def test_collection_docs_lint():
    # docs/docsite/ (extra-docs.yml, links.yml, the rst pages) the way antsibull-docs checks collections.
    result = run([os.path.join(VENV_BIN, "antsibull-docs"), "lint-collection-docs", REPO_ROOT], env=ansible_env())
    assert result.rc == 0 and not result.output.strip(), result.output
