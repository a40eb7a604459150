# -*- coding: utf-8 -*-
"""The built collection tarball installs into an empty path and works by FQCN outside the repo."""

from __future__ import annotations

import json
import os
import sys
import tarfile

import rig
from conftest import REPO_ROOT, VENV_BIN, run


def test_built_collection_installs_and_runs_by_fqcn(tmp_path, checkip):
    build_dir, install_dir, project = tmp_path / "build", tmp_path / "collections", tmp_path / "project"
    project.mkdir()
    env = rig.clean_aws_environment(dict(os.environ))
    env.pop("ANSIBLE_CONFIG", None)
    env.update(PATH=VENV_BIN + os.pathsep + env["PATH"], ANSIBLE_NOCOLOR="1")

    run(["ansible-galaxy", "collection", "build", "--output-path", str(build_dir), REPO_ROOT], env=env, check=True)
    tarball = build_dir / "cloudburst-aws-0.1.0.tar.gz"
    assert tarball.exists()
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/modules/public_ip_info.py" in names
    assert "meta/runtime.yml" in names
    assert not [n for n in names if n.startswith((".venv", ".build", "tests/output", ".git/"))]
    assert tarball.stat().st_size < 5 * 1024 * 1024

    # Galaxy is out of reach, so dependencies come from the ansible bundle already installed.
    run(["ansible-galaxy", "collection", "install", "--no-deps", "-p", str(install_dir), str(tarball)],
        env=env, cwd=str(project), check=True)
    assert (install_dir / "ansible_collections" / "cloudburst" / "aws" / "MANIFEST.json").exists()

    env["ANSIBLE_COLLECTIONS_PATH"] = str(install_dir)
    doc = run(["ansible-doc", "--json", "cloudburst.aws.public_ip_info"], env=env, cwd=str(project), check=True)
    assert json.loads(doc.stdout)["cloudburst.aws.public_ip_info"]["doc"]["module"] == "public_ip_info"

    checkip.set_answers([(200, "93.184.215.14\n", 0)])
    (project / "use.yml").write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - cloudburst.aws.public_ip_info:\n"
        f"        url: {checkip.url}\n"
        "      register: found\n"
        "    - ansible.builtin.assert:\n"
        "        that: found.cidr == '93.184.215.14/32'\n"
    )
    # The interpreter is named because discovery may find a pyenv shim without boto3 or even a Python.
    played = run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                  f"ansible_python_interpreter={sys.executable}", "use.yml"], env=env, cwd=str(project), check=True)
    assert "failed=0" in played.stdout
    assert str(install_dir) in run(["ansible-galaxy", "collection", "list", "cloudburst.aws"], env=env,
                                   cwd=str(project), check=True).stdout
