# -*- coding: utf-8 -*-
"""Gate: ansible-test sanity, run offline on a copy of the collection under ansible_collections/."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess

import ansible_test
from conftest import REPO_ROOT, ansible_env, run

SANITY_ROOT = pathlib.Path(REPO_ROOT, ".build", "sanity")


def pip_bootstrap_version(ansible_test_dir):
    source = pathlib.Path(ansible_test_dir) / "_internal" / "python_requirements.py"
    return re.search(r"pip='([0-9.]+)'", source.read_text()).group(1)


def install_offline_pip_bootstrap(ansible_test_dir=os.path.dirname(ansible_test.__file__)):
    cache = pathlib.Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"get_pip_{pip_bootstrap_version(ansible_test_dir).replace('.', '_')}.py"
    shutil.copyfile(pathlib.Path(REPO_ROOT, "tools", "get-pip-offline.py"), target)


def copy_collection(sanity_root=SANITY_ROOT):
    """ansible-test wants the collection at .../ansible_collections/<namespace>/<name>/ as a real path;
    copy what git would commit (tracked files and untracked ones that are not ignored)."""
    copy = sanity_root / "ansible_collections" / "cloudburst" / "aws"
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    shutil.rmtree(copy, ignore_errors=True)
    for name in filter(None, listed):
        source = pathlib.Path(REPO_ROOT, name)
        if not source.is_file():
            continue  # deleted in the working tree
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    # Dependencies must sit beside the collection under the same ansible_collections/ root.
    import ansible_collections.amazon.aws as amazon_aws  # from the ansible bundle in the venv

    dependency = sanity_root / "ansible_collections" / "amazon" / "aws"
    dependency.parent.mkdir(parents=True, exist_ok=True)
    if not dependency.exists():
        dependency.symlink_to(pathlib.Path(amazon_aws.__path__[0]))
    # ansible-test lists files through git when it finds a repository.
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    subprocess.run(["git", "add", "-A"], cwd=copy, check=True)
    return copy


def run_sanity(ansible_test_bin="ansible-test", sanity_root=SANITY_ROOT, env_path=None):
    """ansible-test sanity of one ansible-core (the main venv's, or the venv env_path of the support matrix)."""
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")
    ansible_test_dir = os.path.dirname(ansible_test.__file__)
    if env_path is not None:
        env["PATH"] = os.pathsep.join([str(pathlib.Path(env_path, "bin")), env["PATH"]])
        ansible_test_dir = next(pathlib.Path(env_path, "lib").glob("python3*/site-packages/ansible_test"))
    install_offline_pip_bootstrap(ansible_test_dir)
    copy = copy_collection(sanity_root)
    result = run([ansible_test_bin, "sanity", "--venv", "--requirements", "--python", "3.11", "--color", "no"],
                 env=env, cwd=str(copy), timeout=1800)
    # pip's install chatter hides the findings; show the lines ansible-test marks as errors.
    findings = [line for line in result.output.splitlines() if line.startswith(("ERROR", "FATAL"))]
    assert result.rc == 0, "ansible-test sanity failed:\n" + "\n".join(findings or [result.output[-8000:]])


def test_ansible_test_sanity():
    run_sanity()
