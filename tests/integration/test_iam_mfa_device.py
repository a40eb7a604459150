# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_mfa_device by ansible-playbook: enrol with a saved seed, re-run, delete, roll back.

moto does not check TOTP codes: EnableMFADevice and GetSessionToken accept any code, and ResyncMFADevice
is not implemented (moto answers HTTP 500). So these tests prove that the codes are computed from the seed
file and sent, not that AWS would accept them; the unit tests check the codes against RFC 6238's vectors.
"""

from __future__ import annotations

import pyotp
from conftest import ansible_env, aws_play, run, run_aws_refusals, run_aws_tasks, write_calls
# The same boto3 IAM client, per-test user and file mode helper as the access key tests.
from test_iam_access_key import iam, mode_of, user  # noqa: F401 # pylint: disable=unused-import


def mfa_task(**options):
    return {"cloudburst.aws.iam_mfa_device": options, "register": "out"}


def enabled_serials(iam, user):
    return [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]]


def virtual_serials(iam):
    return [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]]


def test_enrol_saves_the_seed_and_rerun_changes_nothing(tmp_path, moto_server, iam, user, boto3_session):
    seed_file, qr_file = tmp_path / "mfa-seed", tmp_path / "mfa-seed.svg"
    task = mfa_task(user_name=user, seed_file=str(seed_file), qr_code_file=str(qr_file))
    (checked,) = run_aws_tasks(tmp_path, moto_server, [task], extra_args=["--check", "--diff"])
    assert checked["changed"] is True and not seed_file.exists()
    assert enabled_serials(iam, user) == []

    results = run_aws_tasks(tmp_path, moto_server, [task, task], extra_args=["--diff"])
    (created, rerun) = results
    serial = f"arn:aws:iam::123456789012:mfa/{user}"
    assert created["changed"] is True and rerun["changed"] is False, (created, rerun)
    assert created["device"]["enabled"] is True and created["device"]["serial_number"] == serial
    assert created["diff"]["before"]["enabled"] is False and created["diff"]["after"]["enabled"] is True
    assert enabled_serials(iam, user) == [serial]
    assert mode_of(seed_file) == mode_of(qr_file) == 0o600
    seed = seed_file.read_text().strip()
    assert len(seed) >= 16 and seed not in results.completed.output
    assert qr_file.read_text().startswith("<?xml") and "<svg" in qr_file.read_text()

    # A code from the seed file is what a person types at `aws sts get-session-token`. moto does not check
    # it (any 6 digits pass), so this shows only that the seed file gives a well-formed code for the device.
    code = pyotp.TOTP(seed).now()
    sts = boto3_session.client("sts", endpoint_url=moto_server.url)
    assert sts.get_session_token(SerialNumber=serial, TokenCode=code)["Credentials"]["SessionToken"]


def test_deactivate_reenable_from_the_seed_and_delete(tmp_path, moto_server, iam, user):
    seed_file = tmp_path / "seed"
    serial = f"arn:aws:iam::123456789012:mfa/cb/{user}-phone"
    common = dict(user_name=user, name=f"{user}-phone", path="/cb/", seed_file=str(seed_file))
    (made, off, off_again) = run_aws_tasks(tmp_path, moto_server, [
        mfa_task(**common), mfa_task(state="deactivated", **common), mfa_task(state="deactivated", **common)])
    assert made["changed"] and off["changed"] and not off_again["changed"]
    assert enabled_serials(iam, user) == [] and serial in virtual_serials(iam)

    # The device still exists and the seed file holds its seed: enabled again with codes from the file.
    (again,) = run_aws_tasks(tmp_path, moto_server, [mfa_task(**common)])
    assert again["changed"] and any("codes from" in change for change in again["changes"])
    assert enabled_serials(iam, user) == [serial]

    moto_server.reset_recording()
    (checked,) = run_aws_tasks(tmp_path, moto_server, [mfa_task(state="absent", **common)], extra_args=["--check"])
    assert checked["changed"] and write_calls(moto_server.recorded_actions()) == []
    (gone, rerun) = run_aws_tasks(tmp_path, moto_server, [mfa_task(state="absent", **common)] * 2)
    assert gone["changed"] and not rerun["changed"]
    assert enabled_serials(iam, user) == [] and serial not in virtual_serials(iam)
    assert not seed_file.exists()


def test_write_failure_deletes_the_new_device_again(tmp_path, moto_server, iam, user):
    seed_file, qr_file = tmp_path / "seed", tmp_path / "seed.svg"
    qr_file.mkdir()  # the QR code cannot be renamed into place after the seed was
    (qr_file / "in-the-way").write_text("")
    (failed,) = run_aws_tasks(tmp_path, moto_server, [
        mfa_task(user_name=user, seed_file=str(seed_file), qr_code_file=str(qr_file))])
    assert failed["failed"] is True
    assert f"cannot write {qr_file}" in failed["msg"] and "was deleted again" in failed["msg"], failed["msg"]
    assert enabled_serials(iam, user) == []
    assert f"arn:aws:iam::123456789012:mfa/{user}" not in virtual_serials(iam)
    assert not seed_file.exists()


def test_resync_in_check_mode(tmp_path, moto_server, iam, user):
    # moto does not implement ResyncMFADevice, so only the decision is checked here, in check mode.
    seed_file = tmp_path / "seed"
    run_aws_tasks(tmp_path, moto_server, [mfa_task(user_name=user, seed_file=str(seed_file))])
    moto_server.reset_recording()
    (by_seed, by_codes) = run_aws_tasks(tmp_path, moto_server, [
        mfa_task(user_name=user, seed_file=str(seed_file), resync=True),
        mfa_task(user_name=user, resync=True, authentication_codes=["123456", "654321"])],
        extra_args=["--check"])
    assert by_seed["changed"] and "two codes from" in by_seed["changes"][0]
    assert by_codes["changed"] and "the given codes" in by_codes["changes"][0]
    assert write_calls(moto_server.recorded_actions()) == []


BAD_INPUT = [
    ({"user_name": "no-such-iam-user"}, "IAM user 'no-such-iam-user' does not exist"),
    ({"seed_file": "{tmp}/missing/seed"}, "the directory of seed_file {tmp}/missing/seed does not exist"),
    ({"resync": True, "authentication_codes": ["12345", "123456"]}, "must be exactly 6 digits (got 5"),
    ({"seed_file": "{tmp}/loose-seed"}, "has mode 0644: other users may have read the MFA secret"),
    ({"qr_code_file": "{tmp}/qr.png"}, "must end in .svg"),
    ({"seed_file": None}, "seed_file is required to create an MFA device"),
]


def test_bad_input_fails_clearly_and_changes_nothing(tmp_path, moto_server, iam, user):
    """Every case a task of one run (ignore_errors, so each is tried): each fails with its message, none writes."""
    loose = tmp_path / "loose-seed"
    loose.write_text(pyotp.random_base32() + "\n")
    loose.chmod(0o644)
    tasks = []
    for options, _message in BAD_INPUT:
        options = dict({"user_name": user, "seed_file": str(tmp_path / "seed")}, **options)
        options = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in options.items() if v is not None}
        tasks.append(mfa_task(**options))
    moto_server.reset_recording()
    results = run_aws_refusals(tmp_path, moto_server, tasks)
    for (options, message), failed in zip(BAD_INPUT, results):
        assert message.format(tmp=tmp_path) in failed["msg"], (options, failed["msg"])
    assert write_calls(moto_server.recorded_actions()) == []
    assert enabled_serials(iam, user) == [] and not (tmp_path / "seed").exists()


def test_seed_never_appears_in_verbose_output(tmp_path, moto_server, user):
    seed_file = tmp_path / "seed"
    tasks = [mfa_task(user_name=user, seed_file=str(seed_file), qr_code_file=str(tmp_path / "qr.svg"))]
    playbook = tmp_path / "mfa.yml"
    import json
    playbook.write_text(json.dumps(aws_play(tasks, moto_server.url)))
    env = ansible_env(aws=moto_server.env, extra={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    result = run(["ansible-playbook", "-vvv", "--diff", str(playbook)], env=env)
    assert result.rc == 0, result.output[-3000:]
    seed = seed_file.read_text().strip()
    assert seed not in result.output and seed[:16] not in result.output
