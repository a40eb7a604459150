# -*- coding: utf-8 -*-
"""The docs site (`make docs`, tools/build-docs) builds offline with no warning at all, and has a page for
every module, filter, role, playbook and guide."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import sys

import pytest
from conftest import REPO_ROOT, VENV_BIN, ansible_env, run
from test_docs import FILTERS, MODULES, ROLES, TESTS

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
    expected += [f"{t}_test" for t in TESTS]
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


@pytest.fixture(scope="module")
def dependencies_outside_the_repository(tmp_path_factory):
    """Copies of the declared dependencies in a collections path outside this repository.

    antsibull-docs copies each dependency it lints against through git when the dependency sits inside a git work
    tree: the venv's collections sit inside this repository (ignored by git), so the copies came out empty and
    every module failed on amazon.aws's doc fragments. Outside the repository they are copied as files.
    """
    import ansible_collections
    import yaml

    root = tmp_path_factory.mktemp("lint-docs-deps")
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as stream:
        dependencies = yaml.safe_load(stream)["dependencies"]
    for dependency in dependencies:
        namespace, name = dependency.split(".")
        source = next(pathlib.Path(base, namespace, name) for base in ansible_collections.__path__
                      if pathlib.Path(base, namespace, name, "MANIFEST.json").exists())
        shutil.copytree(source, root / "ansible_collections" / namespace / name)
    return root


def test_collection_docs_lint(dependencies_outside_the_repository):
    """docs/docsite/ (extra-docs.yml, links.yml, the rst pages) and every plugin's and role's documentation, the way
    antsibull-docs checks collections for the Ansible docsite; offline, and bounded in time. rstcheck is skipped:
    the docs site build (Sphinx with warnings as errors) already checks the same RST."""
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")
    env.update(ANSIBLE_COLLECTIONS_PATH=str(dependencies_outside_the_repository),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    result = run([os.path.join(VENV_BIN, "antsibull-docs"), "lint-collection-docs", "--plugin-docs", "--skip-rstcheck",
                  "--check-extra-docs-refs", REPO_ROOT], env=env, cwd=str(dependencies_outside_the_repository),
                 timeout=900)
    assert result.rc == 0 and not result.output.strip(), result.output[-6000:]


MARKDOWN_FILES = [pathlib.Path(REPO_ROOT, "README.md")] + sorted(pathlib.Path(REPO_ROOT, "docs").glob("*.md"))
LINK = re.compile(r"\[(?:[^\]\[]|\[[^\]]*\])*\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")


def markdown_text(path):
    """The file's text without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^(```|~~~).*?^\1", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def github_anchors(path):
    """The anchors GitHub gives the headings of a Markdown file (lower case, punctuation dropped, spaces to '-',
    repeats numbered)."""
    seen, anchors = {}, set()
    text = re.sub(r"^(```|~~~).*?^\1", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_holds(path):
    broken = []
    for target in LINK.findall(markdown_text(path)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: ...: not checked offline
        file_part, _hash, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in github_anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    assert not broken, f"{path.name}: " + "; ".join(broken)


def test_every_guide_is_linked_from_the_readme_and_the_docs_site():
    readme = LINK.findall(markdown_text(pathlib.Path(REPO_ROOT, "README.md")))
    links = pathlib.Path(REPO_ROOT, "docs", "docsite", "links.yml").read_text(encoding="utf-8")
    for guide in GUIDES:
        assert f"docs/{guide}.md" in readme, f"README.md does not link docs/{guide}.md"
        assert f"/docs/{guide}.md" in links, f"docs/docsite/links.yml does not link docs/{guide}.md"
