# -*- coding: utf-8 -*-
"""The built collection tarball, installed into an empty collections path beside the ansible package's
collections, works from outside the repository as a user would use it: FQCN names, documented options,
no ansible.cfg of ours, nothing in the environment pointing at the endpoint or holding credentials."""

from __future__ import annotations

import json
import os
import stat
import sys
import tarfile

import pytest

import rig
from conftest import REPO_ROOT, VENV_BIN, run


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment, project dir) with the built collection installed into an empty path."""
    root = tmp_path_factory.mktemp("galaxy")
    build_dir, install_dir, project = root / "build", root / "collections", root / "project"
    project.mkdir()
    env = rig.clean_aws_environment(dict(os.environ))
    for name in list(env):
        if name.startswith(("AWS_", "ANSIBLE_", "CLOUDBURST_")):
            del env[name]
    env.update(PATH=VENV_BIN + os.pathsep + env["PATH"], ANSIBLE_NOCOLOR="1", HOME=str(root / "home"))

    run(["ansible-galaxy", "collection", "build", "--output-path", str(build_dir), REPO_ROOT], env=env, check=True)
    tarball = build_dir / "cloudburst-aws-0.1.0.tar.gz"
    assert tarball.exists()
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/modules/public_ip_info.py" in names
    assert "meta/runtime.yml" in names
    assert "roles/iam_restricted_user/meta/argument_specs.yml" in names
    assert not [n for n in names if n.startswith((".venv", ".build", "tests/output", ".git/"))]
    assert tarball.stat().st_size < 5 * 1024 * 1024

    # Galaxy is out of reach, so dependencies come from the ansible bundle already installed.
    run(["ansible-galaxy", "collection", "install", "--no-deps", "-p", str(install_dir), str(tarball)],
        env=env, cwd=str(project), check=True)
    assert (install_dir / "ansible_collections" / "cloudburst" / "aws" / "MANIFEST.json").exists()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(install_dir)
    assert str(install_dir) in run(["ansible-galaxy", "collection", "list", "cloudburst.aws"], env=env,
                                   cwd=str(project), check=True).stdout
    return env, project


def test_installed_collection_documents_its_plugins(installed):
    env, project = installed
    doc = run(["ansible-doc", "--json", "cloudburst.aws.public_ip_info"], env=env, cwd=str(project), check=True)
    assert json.loads(doc.stdout)["cloudburst.aws.public_ip_info"]["doc"]["module"] == "public_ip_info"
    role = run(["ansible-doc", "-t", "role", "--json", "cloudburst.aws.iam_restricted_user"], env=env,
               cwd=str(project), check=True)
    assert "iam_restricted_user_name" in role.stdout


def test_installed_collection_runs_the_restricted_user_flow(installed, moto_server, checkip, boto3_session):
    env, project = installed
    env = dict(env, RIG_KEY_ID=moto_server.credentials["aws_access_key_id"],
               RIG_SECRET=moto_server.credentials["aws_secret_access_key"])
    checkip.set_answers([(200, "93.184.215.14\n", 0)])
    condor_dir = project / "condor"
    (project / "restricted_user.yml").write_text(f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/cloudburst.aws.aws:
      endpoint_url: {moto_server.url}
      region: eu-west-1
      access_key: "{{{{ lookup('ansible.builtin.env', 'RIG_KEY_ID') }}}}"
      secret_key: "{{{{ lookup('ansible.builtin.env', 'RIG_SECRET') }}}}"
  roles:
    - role: cloudburst.aws.iam_restricted_user
      vars:
        iam_restricted_user_name: outside-user
        # Its own policy name: the role test expects to create cloudburst-launch in this session's moto.
        iam_restricted_user_policy_name: cloudburst-launch-outside
        iam_restricted_user_checkip_url: {checkip.url}
        iam_restricted_user_condor_dir: {condor_dir}
  tasks:
    - name: The restriction names the controller's address
      ansible.builtin.assert:
        that: iam_restricted_user_user.user.source_ip_allowlist == ['93.184.215.14/32']
""")
    # The interpreter is named because discovery may find a pyenv shim without boto3 or even a Python.
    played = run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                  f"ansible_python_interpreter={sys.executable}", "restricted_user.yml"],
                 env=env, cwd=str(project), check=True)
    assert "failed=0" in played.stdout

    public = (condor_dir / "publicKeyFile").read_text().strip()
    private = condor_dir / "privateKeyFile"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(condor_dir).st_mode) == 0o700
    iam = boto3_session.client("iam", endpoint_url=moto_server.url)
    keys = iam.list_access_keys(UserName="outside-user")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [public]
    assert private.read_text().strip() not in played.output
    # The written key is a working credential (moto does not evaluate the source-IP condition).
    sts = boto3_session.__class__(aws_access_key_id=public, aws_secret_access_key=private.read_text().strip(),
                                  region_name="eu-west-1").client("sts", endpoint_url=moto_server.url)
    assert sts.get_caller_identity()["Arn"].endswith(":user/cloudburst/outside-user")


# The parent process of a task's command: Mitogen names its per-host interpreter "python(mitogen:...)"; the stock
# strategy runs each task in a Python of its own (AnsiballZ_command.py, or a piped one with pipelining).
STRATEGY_PLAY = """
- name: Which process runs a task
  hosts: localhost
  gather_facts: false
  strategy: "{{ cloudburst_strategy | default('cloudburst.aws.mitogen_linear') }}"
  tasks:
    - name: The task's parent process
      ansible.builtin.shell: tr '\\0' ' ' < /proc/$PPID/cmdline
      register: parent
      changed_when: false
    - name: Show it
      ansible.builtin.debug:
        msg: "parent={{ parent.stdout }}"

- name: A second play with the same strategy (the fallback warns once per run, not per play)
  hosts: localhost
  gather_facts: false
  strategy: "{{ cloudburst_strategy | default('cloudburst.aws.mitogen_linear') }}"
  tasks:
    - name: Nothing
      ansible.builtin.debug:
        msg: second
"""


@pytest.mark.parametrize("case", ["mitogen", "mitogen missing", "linear chosen"])
def test_installed_strategy_runs_through_mitogen_or_says_why_not(installed, tmp_path, case):
    """cloudburst.aws.mitogen_linear by FQCN: through Mitogen when it loads; else stock linear, with one warning
    that names the reason; cloudburst_strategy=ansible.builtin.linear chooses the stock strategy silently."""
    env, project = installed
    # Named, not left to an /etc/ansible/ansible.cfg: the checks below read the deprecation warning.
    env = dict(env, ANSIBLE_DEPRECATION_WARNINGS="1")
    playbook = tmp_path / "strategy.yml"
    playbook.write_text(STRATEGY_PLAY)
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
            str(playbook)]
    if case == "mitogen missing":
        hidden = tmp_path / "hide" / "ansible_mitogen"
        hidden.mkdir(parents=True)
        (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
        env["PYTHONPATH"] = str(hidden.parent)
    if case == "linear chosen":
        argv += ["-e", "cloudburst_strategy=ansible.builtin.linear"]
    played = run(argv, env=env, cwd=str(project), check=True)
    assert "ok=3" in played.stdout and "failed=0" in played.stdout
    parent = [line for line in played.stdout.splitlines() if "parent=" in line]
    assert parent, played.stdout
    warned = played.output.count("runs as ansible.builtin.linear: Mitogen could not be loaded")
    assert warned <= 1, played.output
    # ansible-core 2.19 marks every strategy plugin outside ansible.builtin deprecated, with no removal version.
    deprecated = "strategy plugins not included in ansible.builtin are deprecated" in played.output
    assert deprecated == (case != "linear chosen"), played.output
    if case == "mitogen":
        assert "(mitogen:" in parent[0] and not warned, played.output
    else:
        assert "(mitogen:" not in parent[0], played.output
        assert warned == (1 if case == "mitogen missing" else 0), played.output
        if warned:
            assert "hidden by the test" in played.output
