# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_access_key by ansible-playbook: files that parse back, rotation, rollback, no leaks."""

from __future__ import annotations

import configparser
import contextlib
import datetime
import hashlib
import os
import stat

import boto3
import pytest
from conftest import ansible_env, run_aws_refusals, run_aws_tasks, write_calls

import rig


def key_task(**options):
    return {"cloudburst.aws.iam_access_key": options, "register": "out"}


@pytest.fixture
def iam(boto3_session, moto_server):
    return boto3_session.client("iam", endpoint_url=moto_server.url)


@pytest.fixture
def user(iam, request):
    name = "k-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    iam.create_user(UserName=name)
    return name


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def active_keys(iam, user):
    return sorted(k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
                  if k["Status"] == "Active")


def test_written_profile_and_condor_files_work_and_rerun_changes_nothing(tmp_path, moto_server, iam, user,
                                                                         monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    credentials = home / ".aws" / "credentials"
    credentials.parent.mkdir()
    credentials.write_text("[other]\naws_access_key_id = kept\naws_secret_access_key = kept-too\n")
    task = key_task(user_name=user, dest=str(home / ".condor"), format="condor_annex",
                    extra_destinations=[{"dest": str(credentials), "credentials_profile": "annex"}])
    (created, rerun) = run_aws_tasks(tmp_path, moto_server, [task, task])
    assert created["changed"] is True and rerun["changed"] is False, (created, rerun)
    key_id = created["access_key"]["access_key_id"]
    assert "secret_access_key" not in created["access_key"]

    public, private = home / ".condor" / "publicKeyFile", home / ".condor" / "privateKeyFile"
    assert public.read_text() == key_id + "\n"
    assert len(private.read_text().splitlines()) == 1 and len(private.read_text().strip()) == 40
    assert mode_of(public) == mode_of(private) == mode_of(credentials) == 0o600
    assert mode_of(home / ".condor") == 0o700

    parsed = configparser.ConfigParser()
    parsed.read(credentials)
    assert parsed["other"]["aws_access_key_id"] == "kept"
    assert parsed["annex"]["aws_access_key_id"] == key_id
    assert parsed["annex"]["aws_secret_access_key"] == private.read_text().strip()

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    session = boto3.session.Session(profile_name="annex", region_name=rig.DEFAULT_REGION)
    identity = session.client("sts", endpoint_url=moto_server.url).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::123456789012:user/{user}"


def test_env_format_and_check_mode(tmp_path, moto_server, iam, user):
    dest = tmp_path / "creds.env"
    moto_server.reset_recording()
    (checked,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=str(dest), format="env")],
                               extra_args=["--check", "--diff"])
    assert checked["changed"] is True and not dest.exists()
    assert write_calls(moto_server.recorded_actions()) == []
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    (made,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=str(dest), format="env")],
                            extra_args=["--diff"])
    lines = dest.read_text().splitlines()
    assert lines[0] == f"export AWS_ACCESS_KEY_ID={made['access_key']['access_key_id']}"
    assert lines[1].startswith("export AWS_SECRET_ACCESS_KEY=") and len(lines) == 2
    assert made["diff"] == {"before": {"access_key_id": None}, "after": {"access_key_id": made["access_key"]["access_key_id"]}}


def test_write_failure_deletes_the_new_key_again_and_leaves_no_file(tmp_path, moto_server, iam, user):
    condor = tmp_path / "condor"
    (condor / "privateKeyFile").mkdir(parents=True)  # the secret's file cannot be replaced
    (condor / "privateKeyFile" / "in-the-way").write_text("")
    (failed,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=str(condor),
                                                               format="condor_annex")])
    assert failed["failed"] is True
    assert f"cannot write {condor}/privateKeyFile" in failed["msg"] and "was deleted again" in failed["msg"]
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    # publicKeyFile was renamed into place first; it is taken back, so no file names a deleted key.
    assert sorted(p.name for p in condor.iterdir()) == ["privateKeyFile"]


BAD_INPUT = [
    ({"format": "yaml"}, "value of format must be one of"),
    ({"create_dirs": False, "dest": "{tmp}/missing/creds"}, "does not exist and create_dirs is false"),
    ({"mode": "0644"}, "would let other users on the host read the secret"),
    ({"mode": "rw"}, "is not an octal file mode"),
    ({"owner": "no-such-user-here"}, "owner 'no-such-user-here' is not a user"),
    ({"rotate_after_days": 0}, "must be a positive number of days"),
    ({"user_name": "no-such-iam-user"}, "IAM user 'no-such-iam-user' does not exist"),
]


def test_bad_input_fails_clearly_and_creates_no_key(tmp_path, moto_server, iam, user):
    """Every case a task of one run (ignore_errors, so each is tried): each fails with its message, none writes."""
    tasks = []
    for options, _message in BAD_INPUT:
        options = dict({"user_name": user, "dest": str(tmp_path / "creds")}, **options)
        options["dest"] = options["dest"].format(tmp=tmp_path)
        tasks.append(key_task(**options))
    moto_server.reset_recording()
    results = run_aws_refusals(tmp_path, moto_server, tasks)
    for (options, message), failed in zip(BAD_INPUT, results):
        assert message in failed["msg"], (options, failed["msg"])
    assert write_calls(moto_server.recorded_actions()) == []
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    assert not (tmp_path / "creds").exists() and not (tmp_path / "missing").exists()


def test_two_active_keys_not_in_dest_are_never_deleted(tmp_path, moto_server, iam, user):
    kept = sorted(iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for attempt in range(2))
    (failed,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=str(tmp_path / "c"))])
    assert failed["failed"] is True
    assert "already has 2 access keys" in failed["msg"] and "the most AWS allows" in failed["msg"]
    assert active_keys(iam, user) == kept


def test_lost_dest_replaces_the_key_and_deletes_an_inactive_one_to_make_room(tmp_path, moto_server, iam, user):
    dest = tmp_path / "creds"
    task = key_task(user_name=user, dest=str(dest), credentials_profile="annex")
    (first,) = run_aws_tasks(tmp_path, moto_server, [task])
    old_inactive = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=user, AccessKeyId=old_inactive, Status="Inactive")
    dest.unlink()
    (second,) = run_aws_tasks(tmp_path, moto_server, [task])
    assert second["changed"] is True
    assert old_inactive in second["deleted_access_key_ids"]
    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert keys == {first["access_key"]["access_key_id"]: "Active", second["access_key"]["access_key_id"]: "Active"}


def test_state_absent_and_deactivating_one_key(tmp_path, moto_server, iam, user):
    condor = tmp_path / "condor"
    (made,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=str(condor), format="condor_annex")])
    key_id = made["access_key"]["access_key_id"]
    (off, absent) = run_aws_tasks(tmp_path, moto_server, [
        key_task(user_name=user, id=key_id, active=False),
        key_task(user_name=user, dest=str(condor), format="condor_annex", state="absent")])
    assert off["changed"] and off["access_key"]["status"] == "Inactive"
    assert absent["deleted_access_key_ids"] == [key_id]
    assert not (condor / "publicKeyFile").exists() and not (condor / "privateKeyFile").exists()
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []


def test_state_absent_is_ok_once_the_user_is_gone(tmp_path, moto_server, iam, user):
    dest = tmp_path / "creds"
    (made,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=str(dest))])
    (absent,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=str(dest), state="absent")])
    assert absent["deleted_access_key_ids"] == [made["access_key"]["access_key_id"]]
    iam.delete_user(UserName=user)
    (rerun, checked) = run_aws_tasks(tmp_path, moto_server, [
        key_task(user_name=user, dest=str(dest), state="absent"),
        dict(key_task(user_name=user, dest=str(dest), state="absent"), check_mode=True)])
    for result in (rerun, checked):
        assert result.get("failed") is not True and result["changed"] is False, result
        assert result["deleted_access_key_ids"] == []


def test_rotate_after_days_and_extra_destinations_require_dest(tmp_path, moto_server, user):
    results = run_aws_refusals(tmp_path, moto_server, [
        key_task(user_name=user, rotate_after_days=30),
        key_task(user_name=user, extra_destinations=[{"dest": str(tmp_path / "x")}])])
    assert "missing parameter(s) required by 'rotate_after_days': dest" in results[0]["msg"]
    assert "missing parameter(s) required by 'extra_destinations': dest" in results[1]["msg"]


def test_secret_never_appears_in_verbose_output(tmp_path, moto_server, user):
    dest = tmp_path / "condor"
    tasks = [
        key_task(user_name=user, dest=str(dest), format="condor_annex"),
        {"cloudburst.aws.iam_user": {"name": f"{user}-2"}},
        {"cloudburst.aws.iam_access_key": {"user_name": f"{user}-2"}, "register": "made"},
        {"ansible.builtin.copy": {"content": "{{ made.access_key.secret_access_key }}", "dest": str(tmp_path / "s2"),
                                  "mode": "0600"}, "no_log": True},
    ]
    env = ansible_env(aws=moto_server.env, extra={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    from conftest import aws_play, run
    import json
    playbook = tmp_path / "leak.yml"
    playbook.write_text(json.dumps(aws_play(tasks, moto_server.url)))
    result = run(["ansible-playbook", "-vvv", "--diff", str(playbook)], env=env)
    assert result.rc == 0, result.output[-3000:]
    secrets = [(dest / "privateKeyFile").read_text().strip(), (tmp_path / "s2").read_text().strip()]
    assert all(len(secret) == 40 for secret in secrets)
    for secret in secrets:
        assert secret not in result.output
    assert "the output has been hidden" in result.output


# --- rotation by age needs keys created in the past: an in-process moto server with a shifted clock ---

@pytest.fixture
def clocked_moto(monkeypatch):
    """A moto server (real HTTP, in this process) whose IAM clock tests can move back."""
    from moto.server import ThreadedMotoServer
    import moto.iam.models

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=rig.free_port(), verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._port}"
    credentials = rig.bootstrap_credentials(url)
    real_utcnow = moto.iam.models.utcnow
    shift = {"days": 0}
    monkeypatch.setattr(moto.iam.models, "utcnow", lambda: real_utcnow() - datetime.timedelta(days=shift["days"]))

    @contextlib.contextmanager
    def days_ago(days):
        shift["days"] = days
        try:
            yield
        finally:
            shift["days"] = 0

    class Clocked:
        pass

    clocked = Clocked()
    clocked.url, clocked.env, clocked.days_ago = url, rig.aws_environment(url, credentials), days_ago
    clocked.iam = boto3.client("iam", endpoint_url=url, region_name=rig.DEFAULT_REGION, **credentials)
    yield clocked
    server.stop()


def test_rotation_by_age_across_the_two_key_limit(tmp_path, clocked_moto):
    iam = clocked_moto.iam
    iam.create_user(UserName="rotating")
    dest = tmp_path / "creds"
    task = key_task(user_name="rotating", dest=str(dest), rotate_after_days=90)
    with clocked_moto.days_ago(100):
        (old,) = run_aws_tasks(tmp_path, clocked_moto, [task])
        spare = iam.create_access_key(UserName="rotating")["AccessKey"]["AccessKeyId"]
        iam.update_access_key(UserName="rotating", AccessKeyId=spare, Status="Inactive")
    old_id = old["access_key"]["access_key_id"]
    assert old["access_key"]["age_days"] >= 99

    (checked,) = run_aws_tasks(tmp_path, clocked_moto, [task], extra_args=["--check"])
    assert checked["changed"] is True and f"key {old_id} is 100 days old" in " ".join(checked["changes"])
    assert f"aws_access_key_id = {old_id}" in dest.read_text()

    (rotated, rerun) = run_aws_tasks(tmp_path, clocked_moto, [task, task])
    new_id = rotated["access_key"]["access_key_id"]
    assert rotated["previous_access_key_id"] == old_id and spare in rotated["deleted_access_key_ids"]
    assert rerun["changed"] is False
    assert f"aws_access_key_id = {new_id}" in dest.read_text()
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="rotating")["AccessKeyMetadata"]}
    assert statuses == {new_id: "Active", old_id: "Inactive"}

    # Next rotation with keep_previous=delete: the inactive old key makes room, the replaced one goes.
    with clocked_moto.days_ago(100):
        iam.delete_access_key(UserName="rotating", AccessKeyId=new_id)
        (aged,) = run_aws_tasks(tmp_path, clocked_moto, [dict(task, **{"cloudburst.aws.iam_access_key": dict(
            user_name="rotating", dest=str(dest), rotate_after_days=90)})])
    (deleting,) = run_aws_tasks(tmp_path, clocked_moto, [key_task(
        user_name="rotating", dest=str(dest), rotate_after_days=90, keep_previous="delete", max_age_days=120)])
    remaining = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="rotating")["AccessKeyMetadata"]]
    assert remaining == [deleting["access_key"]["access_key_id"]]
