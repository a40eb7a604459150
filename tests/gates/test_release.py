# -*- coding: utf-8 -*-
"""`make release` (tools/release): the changelog lints, the version is released with exactly the CHANGELOG.rst that
antsibull-changelog generates (or is the next one, with fragments), and the tarball installs beside only the
declared dependencies and documents itself by FQCN."""

from __future__ import annotations

import os
import sys
import tarfile

import yaml
from conftest import REPO_ROOT, run


def test_release_builds_installs_and_lints():
    result = run([sys.executable, os.path.join(REPO_ROOT, "tools", "release")], timeout=900)
    assert result.rc == 0, result.output[-4000:]
    tarball = result.stdout.strip().splitlines()[-1]
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as stream:
        version = yaml.safe_load(stream)["version"]
    assert tarball.endswith(f"cloudburst-aws-{version}.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "LICENSE" in names and "meta/execution-environment.yml" in names
    with open(os.path.join(REPO_ROOT, "changelogs", "changelog.yaml"), encoding="utf-8") as stream:
        released = version in ((yaml.safe_load(stream) or {}).get("releases") or {})
    if released:
        assert "CHANGELOG.rst" in names
