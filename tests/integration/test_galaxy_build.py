# -*- coding: utf-8 -*-
"""The built collection tarball, installed into an empty collections path beside the ansible package's
collections, works from outside the repository as a user would use it: FQCN names, documented options,
no ansible.cfg of ours, nothing in the environment pointing at the endpoint or holding credentials."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import stat
import sys
import tarfile

import pytest
import yaml

import ansible_collections

import rig
from conftest import REPO_ROOT, VENV_BIN, run


def galaxy_version():
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as stream:
        return yaml.safe_load(stream)["version"]


def declared_dependencies():
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as stream:
        return sorted(yaml.safe_load(stream)["dependencies"])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment, project dir) with the built collection installed into an empty path, beside only the
    collections galaxy.yml declares: the ansible package's other collections are out of sight
    (ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false), so a role that calls an undeclared collection fails here."""
    root = tmp_path_factory.mktemp("galaxy")
    build_dir, install_dir, project = root / "build", root / "collections", root / "project"
    project.mkdir()
    env = rig.clean_aws_environment(dict(os.environ))
    for name in list(env):
        if name.startswith(("AWS_", "ANSIBLE_", "CLOUDBURST_")):
            del env[name]
    env.update(PATH=VENV_BIN + os.pathsep + env["PATH"], ANSIBLE_NOCOLOR="1", HOME=str(root / "home"),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")

    run(["ansible-galaxy", "collection", "build", "--output-path", str(build_dir), REPO_ROOT], env=env, check=True)
    tarball = build_dir / f"cloudburst-aws-{galaxy_version()}.tar.gz"
    assert tarball.exists()
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/modules/public_ip_info.py" in names
    assert "meta/runtime.yml" in names
    assert "LICENSE" in names
    assert "roles/iam_restricted_user/meta/argument_specs.yml" in names
    assert not [n for n in names if n.startswith((".venv", ".build", "tests/output", ".git/", "roles/local_hosts"))]
    assert tarball.stat().st_size < 5 * 1024 * 1024

    # Galaxy is out of reach, so the declared dependencies come from the ansible package's copies, placed in the
    # install path first; the install then resolves them offline as it would from Galaxy.
    for dependency in declared_dependencies():
        namespace, name = dependency.split(".")
        bundled = next(pathlib.Path(base, namespace, name) for base in ansible_collections.__path__
                       if pathlib.Path(base, namespace, name, "MANIFEST.json").exists())
        shutil.copytree(bundled, install_dir / "ansible_collections" / namespace / name)
    installing = run(["ansible-galaxy", "collection", "install", "--offline", "-p", str(install_dir), str(tarball)],
                     env=env, cwd=str(project), check=True)
    for dependency in declared_dependencies():
        assert f"'{dependency}:" in installing.stdout and "already installed" in installing.stdout
    assert (install_dir / "ansible_collections" / "cloudburst" / "aws" / "MANIFEST.json").exists()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(install_dir)
    listed = run(["ansible-galaxy", "collection", "list"], env=env, cwd=str(project), check=True).stdout
    assert str(install_dir) in listed
    assert "community.general" not in listed and "containers.podman" not in listed
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


def test_installed_collection_describes_a_spark_cluster_by_fqcn(installed, moto_server, checkip):
    """The collection's own playbook, run by its FQCN with only the declared dependencies: the EC2 layer's roles
    (community.crypto for the cluster key) resolve, and describe of a cluster that does not exist says so."""
    env, project = installed
    env = dict(env, AWS_ACCESS_KEY_ID=moto_server.credentials["aws_access_key_id"],
               AWS_SECRET_ACCESS_KEY=moto_server.credentials["aws_secret_access_key"],
               CLOUDBURST_AWS_ENDPOINT_URL=moto_server.url, CLOUDBURST_CHECKIP_URL=checkip.url)
    checkip.set_answers([(200, "93.184.215.14\n", 0)])
    played = run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                  f"ansible_python_interpreter={sys.executable}", "-e", "spark_ec2_cluster=nowhere",
                  "-e", "spark_ec2_region=eu-west-1", "-e", "spark_ec2_action=describe",
                  "-e", f"spark_ec2_key_path={project}/nowhere_ed25519",
                  "-e", "cloudburst_strategy=ansible.builtin.linear", "cloudburst.aws.spark_ec2"],
                 env=env, cwd=str(project))
    assert "couldn't resolve module/action" not in played.output, played.output[-3000:]
    assert "Cluster nowhere does not exist in this region" in played.output, played.output[-3000:]
    assert "Nothing was changed" in played.output


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
            # The shipped requirements file, not the repository's pin list (not in the tarball).
            assert "meta/ee-requirements.txt" in played.output
