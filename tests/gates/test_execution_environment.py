# -*- coding: utf-8 -*-
"""The collection declares its Python and system requirements where ansible-builder reads them, and they cover what
its plugins import. Offline: ansible-builder reads the installed tarball (introspect, as an EE build does) and makes
a build context from a definition that names it (create); building the image would need a registry."""

from __future__ import annotations

import ast
import os
import pathlib
import sys

import pytest
import yaml
from conftest import REPO_ROOT, VENV_BIN, run

# Top-level imports of the plugins that are neither the standard library nor Ansible, and the distribution that
# provides each.
DISTRIBUTION_OF = {"boto3": "boto3", "botocore": "botocore", "pyotp": "pyotp", "segno": "segno",
                   "ansible_mitogen": "mitogen", "mitogen": "mitogen"}
IGNORED_IMPORTS = {"ansible", "ansible_collections", "__future__"}


def plugin_imports():
    """{top-level module: [file, ...]} imported anywhere in plugins/ (tries included), minus stdlib and Ansible."""
    found = {}
    for path in pathlib.Path(REPO_ROOT, "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in IGNORED_IMPORTS and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append(str(path.relative_to(REPO_ROOT)))
    return found


@pytest.fixture(scope="module")
def installed_tarball(tmp_path_factory):
    root = tmp_path_factory.mktemp("ee")
    # Not this repository's ansible.cfg: its collections path already holds cloudburst.aws (a link to the tree), so
    # the install would say "already installed" and put nothing in the empty path.
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    env.update(PATH=VENV_BIN + os.pathsep + os.environ["PATH"], ANSIBLE_NOCOLOR="1")
    run(["ansible-galaxy", "collection", "build", "--output-path", str(root / "build"), REPO_ROOT], env=env,
        cwd=str(root), check=True)
    tarball = next((root / "build").glob("cloudburst-aws-*.tar.gz"))
    run(["ansible-galaxy", "collection", "install", "--no-deps", "-p", str(root / "collections"), str(tarball)],
        env=env, cwd=str(root), check=True)
    installed = root / "collections" / "ansible_collections" / "cloudburst" / "aws"
    assert (installed / "meta" / "ee-requirements.txt").exists()
    return root, tarball, env


def introspected(root, env):
    result = run(["ansible-builder", "introspect", "--sanitize", str(root / "collections")], env=env, cwd=str(root),
                 check=True)
    data = yaml.safe_load(result.stdout)
    ours = "# from collection cloudburst.aws"
    return ([line.split("#")[0].strip() for line in data.get("python") or [] if ours in line],
            [line.split("#")[0].strip() for line in data.get("system") or [] if ours in line])


def test_every_third_party_import_of_the_plugins_is_a_declared_requirement(installed_tarball):
    root, _tarball, env = installed_tarball
    python, _system = introspected(root, env)
    declared = {line.split(">")[0].split("=")[0].split("<")[0].strip().lower() for line in python}
    missing = {top: files for top, files in plugin_imports().items() if DISTRIBUTION_OF.get(top) not in declared}
    assert not missing, f"imports without a line in meta/ee-requirements.txt: {missing}"
    for line in python:
        assert ">=" in line, f"{line}: name the oldest version that works, as a minimum"


def test_the_system_requirements_name_ssh_for_debian_and_rpm_platforms(installed_tarball):
    root, _tarball, env = installed_tarball
    _python, system = introspected(root, env)
    assert "openssh-client [platform:dpkg]" in system and "openssh-clients [platform:rpm]" in system


def test_ansible_builder_makes_a_build_context_for_the_tarball(installed_tarball):
    root, tarball, env = installed_tarball
    definition = root / "execution-environment.yml"
    definition.write_text(yaml.safe_dump({
        "version": 3,
        # Never pulled by create; a build would need a registry, which this machine does not reach.
        "images": {"base_image": {"name": "registry.invalid/ee-minimal:latest"}},
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core>=2.17"},
            "ansible_runner": {"package_pip": "ansible-runner"},
            "galaxy": {"collections": [{"name": str(tarball), "type": "file"}]},
        },
    }))
    run(["ansible-builder", "create", "-f", str(definition), "--context", str(root / "context")], env=env,
        cwd=str(root), check=True)
    containerfile = (root / "context" / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile or "check_galaxy" in containerfile
    requirements = yaml.safe_load((root / "context" / "_build" / "requirements.yml").read_text())
    assert requirements["collections"][0]["name"] == str(tarball)
