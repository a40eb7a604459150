# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_access_key under faults injected between the module and AWS (tests/rig/faultproxy.py).

The promise under test: never an Active key whose secret nobody holds. After every injected fault and
after a re-run, exactly the wanted key is Active and its secret is in every destination. The secret is
proved by signing sts:GetCallerIdentity with what the files hold, against a moto server that checks
signatures (INITIAL_NO_AUTH_ACTION_COUNT), since AWS never lists a secret.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import json
import os
import subprocess

import boto3
import botocore.exceptions
import pytest
from conftest import run_aws_tasks

import rig
from rig.faultproxy import FaultProxy
from rig.faultproxy import Rule

RECORD = ".cloudburst-access-keys.json"
# Enough for sts:GetCallerIdentity, which moto's access control checks like any other call.
WHOAMI_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]})


class Endpoint:
    """What run_aws_tasks needs: a url for module_defaults and an environment with the credentials."""

    def __init__(self, url, credentials):
        self.url = url
        self.env = rig.aws_environment(url, credentials)


@pytest.fixture(scope="module")
def signed_moto(tmp_path_factory):
    """A moto server that checks every request's signature and IAM permissions once the rig's admin exists."""
    workdir = tmp_path_factory.mktemp("signed-moto")
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  # the bootstrap's CreateUser, AttachUserPolicy, CreateAccessKey
    try:
        server = rig.MotoServer(log_path=str(workdir / "moto.log")).start()
    finally:
        del os.environ["INITIAL_NO_AUTH_ACTION_COUNT"]
    server.credentials = rig.bootstrap_credentials(server.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(signed_moto):
    with FaultProxy(signed_moto.url) as running:
        running.endpoint = Endpoint(running.url, signed_moto.credentials)
        yield running


@pytest.fixture
def faults(proxy):
    proxy.clear()
    yield proxy
    proxy.clear()


@pytest.fixture
def iam(signed_moto):
    """The admin's IAM client, straight to moto (no faults)."""
    return boto3.client("iam", endpoint_url=signed_moto.url, region_name=rig.DEFAULT_REGION, **signed_moto.credentials)


@pytest.fixture
def user(iam, request):
    name = "f-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="whoami", PolicyDocument=WHOAMI_POLICY)
    return name


def key_task(**options):
    return {"cloudburst.aws.iam_access_key": options, "register": "out", "ignore_errors": True}


def key_statuses(iam, user):
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def held_credentials(condor, credentials, profile):
    """(key id, secret) from the condor_annex files and from the profile of the credentials file."""
    held = []
    if (condor / "publicKeyFile").exists():
        held.append(((condor / "publicKeyFile").read_text().strip(), (condor / "privateKeyFile").read_text().strip()))
    parsed = configparser.ConfigParser()
    parsed.read(credentials)
    if parsed.has_section(profile):
        held.append((parsed[profile]["aws_access_key_id"], parsed[profile]["aws_secret_access_key"]))
    return held


def caller_arn(moto_url, key_id, secret):
    sts = boto3.client("sts", endpoint_url=moto_url, region_name=rig.DEFAULT_REGION, aws_access_key_id=key_id,
                       aws_secret_access_key=secret)
    return sts.get_caller_identity()["Arn"]


def assert_only_held_keys_active(signed_moto, iam, user, condor, credentials, profile="annex"):
    """Exactly one Active key; every destination holds it; its secret signs requests as the user."""
    active = sorted(k for k, status in key_statuses(iam, user).items() if status == "Active")
    held = held_credentials(condor, credentials, profile)
    assert len(active) == 1, (active, held)
    assert {pair[0] for pair in held} == set(active) and len(held) == 2, (active, held)
    for key_id, secret in held:
        assert caller_arn(signed_moto.url, key_id, secret) == f"arn:aws:iam::123456789012:user/{user}"
    return active[0]


def both_destinations(user, home, **options):
    return key_task(user_name=user, dest=str(home / ".condor"), format="condor_annex",
                    extra_destinations=[{"dest": str(home / ".aws" / "credentials"), "credentials_profile": "annex"}],
                    **options)


def run(tmp_path, proxy, task, *more):
    return run_aws_tasks(tmp_path, proxy.endpoint, [task, *more])


def test_secret_proof_refuses_a_wrong_secret(signed_moto, iam, user):
    key = iam.create_access_key(UserName=user)["AccessKey"]
    assert caller_arn(signed_moto.url, key["AccessKeyId"], key["SecretAccessKey"]).endswith(f"user/{user}")
    with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch"):
        caller_arn(signed_moto.url, key["AccessKeyId"], "x" * 40)


def test_throttling_and_503_on_a_fraction_of_requests_converges(tmp_path, signed_moto, faults, iam, user):
    home = tmp_path / "home"
    task = both_destinations(user, home)
    faults.set_rules(Rule("throttle", times=None, fraction=0.2), Rule("unavailable", times=None, fraction=0.2), seed=7)
    (first,) = run(tmp_path, faults, task)
    assert not first.get("failed"), first.get("msg")
    first_key = assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials")
    # A destination that lost the key: rotation, the old key deactivated, all under the same faults.
    for name in ("publicKeyFile", "privateKeyFile"):
        (home / ".condor" / name).unlink()
    (rotated, rerun) = run(tmp_path, faults, task, task)
    assert not rotated.get("failed"), rotated.get("msg")
    assert rotated["previous_access_key_id"] == first_key and rerun["changed"] is False
    new_key = assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials")
    assert key_statuses(iam, user) == {first_key: "Inactive", new_key: "Active"}
    injected = faults.injected()
    print(f"\nthrottling/503 on a fraction: {len(injected)} faults injected in {len(faults.actions)} requests, "
          f"{len(faults.injected(action='CreateAccessKey'))} of them on CreateAccessKey")
    assert len(injected) >= 5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_answers_lost_after_aws_acted_on_a_fraction_of_requests_converge(
        tmp_path, signed_moto, faults, iam, user, seed):
    """Throttling, 503 before and 503 after AWS acted, each on 15 % of requests: first converge, a rotation
    with keep_previous: delete, and a re-run. A run that fails must say why; the next one finishes."""
    home = tmp_path / "home"
    task = both_destinations(user, home, keep_previous="delete")
    faults.set_rules(Rule("throttle", times=None, fraction=0.15), Rule("unavailable", times=None, fraction=0.15),
                     Rule("lose", times=None, fraction=0.15), seed=seed)
    runs = failed = 0
    for phase in ("converge", "rotate"):
        if phase == "rotate":
            (home / ".condor" / "publicKeyFile").unlink()
        for attempt in range(4):
            (result,) = run(tmp_path, faults, task)
            runs += 1
            if not result.get("failed"):
                break
            failed += 1
            assert result["msg"], result
        assert not result.get("failed"), result["msg"]
        assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials")
    (rerun,) = run(tmp_path, faults, task)
    assert rerun["changed"] is False, rerun
    assert len(key_statuses(iam, user)) == 1
    print(f"\nseed {seed}: {len(faults.injected())} faults ({len(faults.injected('lose'))} lost answers) in "
          f"{len(faults.actions)} requests; {runs} runs, {failed} of them failed and were finished by the next")


@pytest.mark.parametrize("keep_previous, denied", [("inactive", "UpdateAccessKey"), ("delete", "DeleteAccessKey")])
def test_failed_retirement_after_create_is_finished_by_the_rerun(tmp_path, signed_moto, faults, iam, user,
                                                                 keep_previous, denied):
    home = tmp_path / "home"
    task = both_destinations(user, home, keep_previous=keep_previous)
    (first,) = run(tmp_path, faults, task)
    old = first["access_key"]["access_key_id"]
    (home / ".condor" / "publicKeyFile").unlink()  # not every destination holds the key: rotate it

    faults.set_rules(Rule("deny", action=denied, times=None))
    (failed,) = run(tmp_path, faults, task)
    assert failed["failed"] is True and faults.injected(action=denied)
    statuses = key_statuses(iam, user)
    new = next(k for k in statuses if k != old)
    assert f"the new key {new} is written to" in failed["msg"]
    assert f"retiring the old key {old} failed (AccessDenied" in failed["msg"]
    assert "the next run of this task finishes the rotation" in failed["msg"]
    assert statuses == {old: "Active", new: "Active"}
    assert json.loads((home / ".condor" / RECORD).read_text())["users"][user] == {"retiring": [old]}
    assert oct(os.stat(home / ".condor" / RECORD).st_mode & 0o777) == "0o600"

    faults.clear()
    (finished, rerun) = run(tmp_path, faults, task, task)
    assert finished["changed"] is True and "finishing the rotation an earlier run began" in " ".join(finished["changes"])
    assert rerun["changed"] is False
    assert assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials") == new
    assert key_statuses(iam, user) == ({new: "Active", old: "Inactive"} if keep_previous == "inactive" else {new: "Active"})
    assert not (home / ".condor" / RECORD).exists()


@pytest.mark.parametrize("fault", ["lose", "drop"])
def test_lost_create_response_deletes_the_key_nobody_holds(tmp_path, signed_moto, faults, iam, user, fault):
    home = tmp_path / "home"
    task = both_destinations(user, home)
    faults.set_rules(Rule(fault, action="CreateAccessKey"))
    (made, rerun) = run(tmp_path, faults, task, task)
    assert not made.get("failed"), made.get("msg")
    assert faults.injected(fault, "CreateAccessKey") == [("CreateAccessKey", fault)]
    assert faults.actions.count("CreateAccessKey") == 2
    (lost,) = made["deleted_access_key_ids"]
    assert any(f"delete access key {lost} (CreateAccessKey's response was lost" in c for c in made["changes"])
    assert any("nobody holds its secret" in w for w in made.get("warnings", []))
    assert rerun["changed"] is False
    kept = assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials")
    assert kept == made["access_key"]["access_key_id"] != lost
    assert list(key_statuses(iam, user)) == [kept]


def test_a_503_with_no_key_listed_makes_no_try_that_could_be_a_third_key(tmp_path, signed_moto, faults, iam, user):
    """A 503 before AWS acted looks like a lost answer: the keys are listed with backoff (7 s), and as no key
    shows up, one may still appear (on real AWS, which lists new keys late). With one key already there,
    another try could be a third: none is made, and the task says why. Without keys, one more try fits."""
    home = tmp_path / "home"
    task = both_destinations(user, home)
    (first,) = run(tmp_path, faults, task)
    old = first["access_key"]["access_key_id"]
    (home / ".condor" / "publicKeyFile").unlink()  # rotate
    faults.set_rules(Rule("unavailable", action="CreateAccessKey"))
    (stopped,) = run(tmp_path, faults, task)
    assert stopped["failed"] is True
    assert "listed for 7 seconds since, show no key that it made" in stopped["msg"]
    assert "another try could be a third key: none is made" in stopped["msg"]
    assert faults.actions.count("CreateAccessKey") == 1
    assert faults.actions[faults.actions.index("CreateAccessKey"):].count("ListAccessKeys") == 4
    assert key_statuses(iam, user) == {old: "Active"}
    assert held_credentials(home / ".condor", home / ".aws" / "credentials", "annex")[0][0] == old

    faults.set_rules(Rule("unavailable", action="CreateAccessKey"))
    other = tmp_path / "other"
    iam.delete_access_key(UserName=user, AccessKeyId=old)
    (made,) = run(tmp_path, faults, both_destinations(user, other))
    assert not made.get("failed"), made["msg"]
    assert faults.actions.count("CreateAccessKey") == 2
    assert_only_held_keys_active(signed_moto, iam, user, other / ".condor", other / ".aws" / "credentials")


def test_every_create_response_lost_fails_with_no_key_left(tmp_path, signed_moto, faults, iam, user):
    home = tmp_path / "home"
    task = both_destinations(user, home)
    faults.set_rules(Rule("lose", action="CreateAccessKey", times=None))
    (failed,) = run(tmp_path, faults, task)
    assert failed["failed"] is True
    assert "CreateAccessKey for user" in failed["msg"] and "no new key is left behind" in failed["msg"]
    assert sum("CreateAccessKey's response was lost" in c for c in failed["changes"]) == 4 == len(faults.injected())
    assert key_statuses(iam, user) == {} and not (home / ".condor" / "publicKeyFile").exists()
    faults.clear()
    (made,) = run(tmp_path, faults, task)
    assert made["changed"] is True
    assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials")


def test_lost_create_response_and_denied_delete_is_named_and_cleaned_up_next_run(tmp_path, signed_moto, faults,
                                                                                 iam, user):
    home = tmp_path / "home"
    task = both_destinations(user, home)
    faults.set_rules(Rule("lose", action="CreateAccessKey"), Rule("deny", action="DeleteAccessKey", times=None))
    (failed,) = run(tmp_path, faults, task)
    (orphan,) = key_statuses(iam, user)
    assert failed["failed"] is True and f"deleting key {orphan} failed too (AccessDenied" in failed["msg"]
    assert "the next run of this task deletes it" in failed["msg"]
    faults.clear()
    (made,) = run(tmp_path, faults, task)
    assert orphan in made["deleted_access_key_ids"]
    assert assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials") != orphan


def test_failed_write_and_denied_rollback_names_both_and_the_rerun_deletes_the_key(tmp_path, signed_moto, faults,
                                                                                   iam, user):
    home = tmp_path / "home"
    task = both_destinations(user, home)
    blocker = home / ".condor" / "privateKeyFile"
    blocker.mkdir(parents=True)  # the secret's file cannot be replaced
    (blocker / "in-the-way").write_text("")
    faults.set_rules(Rule("deny", action="DeleteAccessKey", times=None))
    (failed,) = run(tmp_path, faults, task)
    (left,) = key_statuses(iam, user)
    assert failed["failed"] is True
    assert f"cannot write {blocker}" in failed["msg"]
    assert f"deleting the new access key {left} again failed too (AccessDenied" in failed["msg"]
    assert f"Key {left} of user {user} is left behind" in failed["msg"]
    assert json.loads((home / ".condor" / RECORD).read_text())["users"][user] == {"undelivered": [left]}

    faults.clear()
    (blocker / "in-the-way").unlink()
    blocker.rmdir()
    (made, rerun) = run(tmp_path, faults, task, task)
    assert left in made["deleted_access_key_ids"]
    assert any("never wrote it, so nobody holds its secret" in c for c in made["changes"])
    assert rerun["changed"] is False
    assert assert_only_held_keys_active(signed_moto, iam, user, home / ".condor", home / ".aws" / "credentials") != left


def test_keys_the_module_did_not_make_are_never_touched(tmp_path, signed_moto, faults, iam, user):
    home = tmp_path / "home"
    task = both_destinations(user, home)
    (made,) = run(tmp_path, faults, task)
    foreign = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    (rerun,) = run(tmp_path, faults, task)
    assert rerun["changed"] is False
    assert any(f"another active access key, {foreign}, that this module did not make" in w
               for w in rerun.get("warnings", []))
    assert key_statuses(iam, user) == {made["access_key"]["access_key_id"]: "Active", foreign: "Active"}


@contextlib.contextmanager
def read_only_tmpfs(path):
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a read-only tmpfs here: {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@pytest.mark.parametrize("where", ["creds", "missing/creds"])
def test_read_only_destination_costs_no_key(tmp_path, faults, iam, user, where):
    with read_only_tmpfs(tmp_path / "ro") as ro:
        dest = ro / where
        results = run(tmp_path, faults, key_task(user_name=user, dest=str(dest)), dict(
            key_task(user_name=user, dest=str(dest)), check_mode=True))
        for result in results:
            assert result["failed"] is True and "no access key was created" in result["msg"], result["msg"]
            assert "Read-only file system" in result["msg"] or "is not writable" in result["msg"], result["msg"]
        assert "CreateAccessKey" not in faults.actions
        assert key_statuses(iam, user) == {}
