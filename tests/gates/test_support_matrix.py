# -*- coding: utf-8 -*-
"""The support matrix the README states: the collection works on every ansible-core from requires_ansible
(meta/runtime.yml) to the newest, with the oldest Python requirements it declares (meta/ee-requirements.txt).

The main venv (the newest ansible-core) runs the whole suite. Each older ansible-core gets a venv of its own
(tools/matrix-venv, pinned by the `#matrix` lines of requirements.txt) in which ansible-test sanity, the unit tests
and one playbook per module family run against the session's moto. `make test` runs the oldest; `make test-matrix`
(CLOUDBURST_MATRIX=all) runs every one.
"""

from __future__ import annotations

import os
import pathlib
import re

import pytest
import yaml
from conftest import REPO_ROOT, ansible_env, run, run_playbook, task_results
from test_sanity import run_sanity

MATRIX = [line.split(":")[0].split()[1] for line in pathlib.Path(REPO_ROOT, "requirements.txt").read_text().splitlines()
          if line.startswith("#matrix ")]
OLDEST = min(MATRIX, key=lambda core: tuple(int(part) for part in core.split(".")))
CORES = MATRIX if os.environ.get("CLOUDBURST_MATRIX") == "all" else [OLDEST]
MATRIX_COLLECTIONS = pathlib.Path(REPO_ROOT, ".build", "matrix", "collections")


def test_requires_ansible_is_the_oldest_core_tested():
    runtime = yaml.safe_load(pathlib.Path(REPO_ROOT, "meta", "runtime.yml").read_text())
    assert runtime["requires_ansible"] == f">={OLDEST}.0", "requires_ansible must name the oldest ansible-core tested"
    readme = pathlib.Path(REPO_ROOT, "README.md").read_text()
    for core in MATRIX + ["2.19"]:
        assert f"ansible-core {core}" in readme, f"the README's support matrix does not name ansible-core {core}"


@pytest.fixture(scope="module", params=CORES)
def matrix_venv(request):
    venv = run([os.path.join(REPO_ROOT, "tools", "matrix-venv"), request.param], timeout=1200, check=True).stdout
    venv = pathlib.Path(venv.strip().splitlines()[-1])
    version = run([str(venv / "bin" / "ansible"), "--version"], check=True).stdout
    assert re.search(rf"core {re.escape(request.param)}\.\d+", version), version
    return request.param, venv


def matrix_env(venv, aws=None):
    """ansible_env() with the matrix venv first on PATH and only the collections that galaxy.yml declares."""
    env = ansible_env(aws=aws)
    env.update(PATH=os.pathsep.join([str(venv / "bin"), env["PATH"]]),
               ANSIBLE_COLLECTIONS_PATH=str(MATRIX_COLLECTIONS), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               PYTHONPATH=str(MATRIX_COLLECTIONS))
    env.pop("ANSIBLE_CONFIG", None)
    return env


def test_sanity_on_the_matrix_core(matrix_venv):
    core, venv = matrix_venv
    run_sanity(str(venv / "bin" / "ansible-test"), pathlib.Path(REPO_ROOT, ".build", f"sanity-{core}"), env_path=venv)


def test_unit_tests_on_the_matrix_core(matrix_venv):
    _core, venv = matrix_venv
    result = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                  "tests/unit"], env=matrix_env(venv), timeout=900)
    assert result.rc == 0, result.output[-6000:]
    assert re.search(r"\d+ passed", result.stdout) and " failed" not in result.stdout


def family_plays(tmp_path, checkip_url):
    """One playbook's tasks per module family: each family's modules as a user calls them, then the same again,
    which must change nothing."""
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(event, context):\n    return event\n")
    return {
        "checkip": [
            {"cloudburst.aws.public_ip_info": {"url": checkip_url, "allow_insecure_url": True}},
        ],
        "iam": [
            {"cloudburst.aws.iam_managed_policy": {"name": "cb-matrix-policy", "policy": policy}},
            {"cloudburst.aws.iam_user": {"name": "cb-matrix-user", "source_ip_allowlist": ["203.0.113.0/24"],
                                         "controller_ip": "203.0.113.7"}},
            {"cloudburst.aws.iam_access_key": {"user_name": "cb-matrix-user", "dest": str(tmp_path / "condor"),
                                               "format": "condor_annex"}},
            {"cloudburst.aws.iam_mfa_device": {"user_name": "cb-matrix-user", "seed_file": str(tmp_path / "seed")}},
            {"cloudburst.aws.sts_session": {"session_profile": "cb-matrix-mfa", "seed_file": str(tmp_path / "seed"),
                                            "credentials_file": str(tmp_path / "credentials"),
                                            "serial_number": "arn:aws:iam::123456789012:mfa/cb-matrix-user"}},
            {"cloudburst.aws.iam_user_info": {"name": "cb-matrix-user"}},
            {"cloudburst.aws.iam_access_key_info": {"user_name": "cb-matrix-user"}},
        ],
        "annex": [
            {"cloudburst.aws.cloudformation_stack": {
                "name": "cb-matrix-stack", "capabilities": [],
                "template_body": "Resources: {Bucket: {Type: AWS::S3::Bucket, Properties: {BucketName: cb-matrix}}}"}},
            {"cloudburst.aws.s3_lambda_package": {"src": str(handler), "bucket": "cb-matrix"}},
            {"cloudburst.aws.htcondor_annex_status": {"annex_name": "cb-matrix-annex"}},
            {"cloudburst.aws.htcondor_annex_reaper": {"annex_name": "cb-matrix-annex"}},
            {"cloudburst.aws.htcondor_annex_check": {"config_file": str(tmp_path / "user_config")}},
        ],
        "ec2": [
            {"amazon.aws.ec2_ami_info": {"owners": ["amazon"]}, "register": "images"},
            {"cloudburst.aws.ec2_instance_group": {"cluster": "cb-matrix", "role": "worker", "count": 1,
                                                   "image_id": "{{ images.images[0].image_id }}",
                                                   "instance_type": "t3.micro", "key_name": "",
                                                   "launch_records": str(tmp_path / "launched" / "cb-matrix.json")}},
            {"cloudburst.aws.ec2_instance_group_info": {"cluster": "cb-matrix",
                                                        "launch_records": str(tmp_path / "launched" / "cb-matrix.json")}},
        ],
    }


FAMILIES = ["checkip", "iam", "annex", "ec2"]


@pytest.mark.parametrize("family", FAMILIES)
def test_module_family_playbook_on_the_matrix_core(matrix_venv, family, tmp_path, moto_server, checkip):
    core, venv = matrix_venv
    checkip.set_answers([(200, "93.184.215.14\n", 0)] * 4)
    tasks = family_plays(tmp_path, checkip.url)[family]
    named = [dict(task, name=f"{family} {index}") for index, task in enumerate(tasks)]
    plays = [{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": moto_server.url, "region": "eu-west-1"}},
        "tasks": named,
    }]
    env = matrix_env(venv, aws=moto_server.env)
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    local = ["-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={venv}/bin/python"]
    first, parsed = run_playbook(tmp_path, plays, env, extra_args=local, name=f"{family}-{core}.yml")
    assert first.rc == 0 and parsed, first.output[-6000:]
    # Each family but the read-only one makes something the first time, so the second run proves idempotence.
    assert family == "checkip" or any(result.get("changed") for result in task_results(parsed)), first.output[-3000:]
    again, parsed_again = run_playbook(tmp_path, plays, env, extra_args=local, name=f"{family}-{core}-again.yml")
    assert again.rc == 0 and parsed_again, again.output[-6000:]
    changed = [task["name"] for task, result in zip(named, task_results(parsed_again)) if result.get("changed")]
    assert not changed, f"ansible-core {core}: a second run changed {changed}"
    assert f"core {core}" in run([str(venv / "bin" / "ansible-playbook"), "--version"], env=env).stdout
    if family == "ec2":
        plays[0]["tasks"] = [{"cloudburst.aws.ec2_instance_group": {
            "cluster": "cb-matrix", "state": "absent", "launch_records": str(tmp_path / "launched" / "cb-matrix.json")}}]
        gone, _parsed = run_playbook(tmp_path, plays, env, extra_args=local, name=f"{family}-{core}-absent.yml")
        assert gone.rc == 0, gone.output[-6000:]
