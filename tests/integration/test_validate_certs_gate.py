# -*- coding: utf-8 -*-
"""validate_certs: false is refused, before any AWS call, by every module of this collection that takes it, unless
allow_insecure_url is set as well: given to the task, and (for the AWS modules) through module_defaults for the
action group, which is how a play usually sets it. The modules are found by their documentation, so a new module
that takes validate_certs is tried too."""

from __future__ import annotations

import json
import pathlib

import pytest
from conftest import REPO_ROOT, ansible_env, aws_play, run, run_playbook, task_results

MODULES = sorted(p.stem for p in pathlib.Path(REPO_ROOT, "plugins", "modules").glob("*.py") if p.stem != "__init__")
# Arguments that get each module past its own argument checks, where its required options are not enough.
ARGS = {
    "access_check": {"checkip_url": "https://checkip.invalid/"},
    "cloudformation_stack": {"name": "cb-tls-gate", "state": "absent"},
    "ec2_instance_group": {"cluster": "cb-tls-gate", "state": "absent", "launch_records": "/nonexistent/cb-tls-gate.json"},
    "ec2_instance_group_info": {"cluster": "cb-tls-gate", "launch_records": "/nonexistent/cb-tls-gate.json"},
    "events_retarget": {"moves": [{"from": "arn:aws:lambda:eu-west-1:123456789012:function:cb-tls-old",
                                   "to": "arn:aws:lambda:eu-west-1:123456789012:function:cb-tls-new"}]},
    "htcondor_annex_check": {},
    "htcondor_annex_reaper": {},
    "htcondor_annex_status": {},
    "iam_access_key": {"user_name": "cb-tls-gate"},
    "iam_access_key_info": {"user_name": "cb-tls-gate"},
    "iam_audit": {},
    "iam_managed_policy": {"name": "cb-tls-gate", "state": "absent"},
    "iam_mfa_device": {"user_name": "cb-tls-gate", "state": "absent"},
    "iam_user": {"name": "cb-tls-gate"},
    "iam_user_info": {},
    "s3_lambda_package": {"src": "/nonexistent/cb_tls_gate.py", "bucket": "cb-tls-gate"},
    "sts_session": {"session_profile": "cb-tls-gate"},
    "public_ip_info": {"url": "https://checkip.invalid/"},
    "spark_master_info": {"url": "https://spark-master.invalid:8080/json/"},
}
REFUSAL = "validate_certs is false"


@pytest.fixture(scope="module")
def gated():
    """The modules whose documentation has validate_certs, and whether they are in the AWS action group."""
    result = run(["ansible-doc", "--json", *[f"cloudburst.aws.{m}" for m in MODULES]], env=ansible_env(), check=True)
    docs = json.loads(result.stdout)
    runtime = (pathlib.Path(REPO_ROOT, "meta", "runtime.yml")).read_text()
    found = {}
    for name in MODULES:
        options = docs[f"cloudburst.aws.{name}"]["doc"]["options"]
        if "validate_certs" in options:
            assert "allow_insecure_url" in options, f"{name} takes validate_certs without allow_insecure_url"
            found[name] = f"    - {name}\n" in runtime
    return found


def test_the_gate_covers_every_module_that_takes_validate_certs(gated):
    assert set(gated) == set(MODULES), set(MODULES) - set(gated)
    assert set(gated) <= set(ARGS)


def tasks_for(gated, extra):
    return [{"name": name, f"cloudburst.aws.{name}": dict(ARGS[name], **extra(name)), "ignore_errors": True}
            for name in gated]


def test_validate_certs_false_is_refused_before_any_call(tmp_path, moto_server, gated):
    # The AWS modules get validate_certs through the action group's module_defaults; the two URL modules (not in
    # the group) through their own arguments.
    plays = aws_play(tasks_for(gated, lambda name: {} if gated[name] else {"validate_certs": False}), moto_server.url)
    plays[0]["module_defaults"]["group/cloudburst.aws.aws"]["validate_certs"] = False
    moto_server.reset_recording()
    result, parsed = run_playbook(tmp_path, plays, ansible_env(aws=moto_server.env))
    assert parsed is not None, result.output[-4000:]
    outcomes = dict(zip(gated, task_results(parsed)))
    for name, outcome in outcomes.items():
        message = " ".join(str(outcome.get("msg", "")).split())
        assert outcome.get("failed") and REFUSAL in message and "allow_insecure_url" in message, (name, outcome)
        assert "Traceback" not in str(outcome)
    assert moto_server.recorded_actions() == []


def test_a_task_that_sets_validate_certs_false_itself_is_refused_too(tmp_path, moto_server):
    moto_server.reset_recording()
    result, parsed = run_playbook(tmp_path, aws_play(
        [{"cloudburst.aws.iam_user_info": {"validate_certs": False}, "ignore_errors": True}], moto_server.url),
        ansible_env(aws=moto_server.env))
    (outcome,) = task_results(parsed)
    assert outcome.get("failed") and REFUSAL in outcome["msg"], outcome
    assert moto_server.recorded_actions() == []


def test_allow_insecure_url_lets_validate_certs_false_through(tmp_path, moto_server):
    # The moto endpoint is plain http, where no certificate is checked anyway: the module goes on and answers.
    plays = aws_play([{"cloudburst.aws.iam_user_info": {"allow_insecure_url": True}, "register": "users"}],
                     moto_server.url)
    plays[0]["module_defaults"]["group/cloudburst.aws.aws"]["validate_certs"] = False
    result, parsed = run_playbook(tmp_path, plays, ansible_env(aws=moto_server.env))
    (outcome,) = task_results(parsed)
    assert not outcome.get("failed") and "users" in outcome, outcome
