# -*- coding: utf-8 -*-
"""cloudburst.aws.sts_session by ansible-playbook: a temporary profile that boto3 uses, others untouched.

moto does not check MFA codes in GetSessionToken (any 6 digits pass), and the session credentials it hands
out are not tied to the user who asked: get-caller-identity answers with moto's default identity for them.
So these tests prove the profile is written and usable, not that AWS would accept a given code.
"""

from __future__ import annotations

import configparser
import os
import stat

import boto3
import pyotp
from conftest import run_aws_refusals, run_aws_tasks

import rig

SERIAL = "arn:aws:iam::123456789012:mfa/cloudburst-rig-admin"
# Not a substring of moto's account id: Ansible masks a no_log value wherever it appears in the output.
CODE = "246802"

OTHERS_BEFORE = ("# team profiles, kept exactly as written\n[annex]\naws_access_key_id=kept-id\n"
                 "aws_secret_access_key   =   kept-secret\n\n")
OTHERS_AFTER = "\n[b]\n; a comment\nregion = eu-west-1\n"


def session_task(**options):
    return {"cloudburst.aws.sts_session": options, "register": "out"}


def profile(path, name):
    parsed = configparser.ConfigParser()
    parsed.read(path)
    return parsed[name]


def caller_arn(credentials_file, name, url, monkeypatch):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials_file))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(credentials_file) + ".no-config")
    session = boto3.session.Session(profile_name=name, region_name=rig.DEFAULT_REGION)
    return session.client("sts", endpoint_url=url).get_caller_identity()["Arn"]


def test_temporary_profile_works_and_other_profiles_stay_byte_for_byte(tmp_path, moto_server, monkeypatch):
    credentials = tmp_path / "aws" / "credentials"
    credentials.parent.mkdir()
    credentials.write_text(OTHERS_BEFORE + OTHERS_AFTER)
    credentials.chmod(0o644)  # the module writes 0600 whatever the file had
    task = session_task(session_profile="mfa", credentials_file=str(credentials), mfa_code=CODE,
                        serial_number=SERIAL, duration_seconds=3600)
    moto_server.reset_recording()
    (checked,) = run_aws_tasks(tmp_path, moto_server, [task], extra_args=["--check", "--diff"])
    assert checked["changed"] is True and credentials.read_text() == OTHERS_BEFORE + OTHERS_AFTER
    assert "sts:GetSessionToken" not in moto_server.recorded_actions()

    results = run_aws_tasks(tmp_path, moto_server, [task, task])
    (made, rerun) = results
    assert made["changed"] is True and rerun["changed"] is False, (made, rerun)
    assert made["session"]["renewed"] is True and rerun["session"]["renewed"] is False
    text = credentials.read_text()
    assert text.startswith(OTHERS_BEFORE + OTHERS_AFTER)
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
    written = profile(credentials, "mfa")
    assert written["aws_access_key_id"] == made["session"]["access_key_id"]
    assert written["aws_session_expiration"] == made["session"]["expiration"]
    for secret in (written["aws_secret_access_key"], written["aws_session_token"]):
        assert secret not in results.completed.output
    # moto's answer for session credentials (see the module docstring); a real account names the user.
    assert caller_arn(credentials, "mfa", moto_server.url, monkeypatch).startswith("arn:aws:sts::123456789012:")


def test_renewal_in_the_middle_of_the_file_keeps_the_profile_settings(tmp_path, moto_server):
    credentials = tmp_path / "credentials"
    middle = ("[mfa]\nregion = eu-west-1\naws_access_key_id = ASIAOLD\naws_secret_access_key = old\n"
              "aws_session_token = old-token\naws_session_expiration = 2020-01-01T00:00:00+00:00\n")
    credentials.write_text(OTHERS_BEFORE + middle + OTHERS_AFTER)
    seed = tmp_path / "seed"
    seed.write_text(pyotp.random_base32() + "\n")
    seed.chmod(0o600)
    (renewed,) = run_aws_tasks(tmp_path, moto_server, [session_task(
        session_profile="mfa", credentials_file=str(credentials), seed_file=str(seed), serial_number=SERIAL)],
        extra_args=["--diff"])
    assert renewed["changed"] is True and "the session expires" in renewed["changes"][0]
    assert renewed["diff"]["before"]["expiration"] == "2020-01-01T00:00:00+00:00"
    text = credentials.read_text()
    assert text.startswith(OTHERS_BEFORE + "[mfa]\n") and text.endswith(OTHERS_AFTER)
    written = profile(credentials, "mfa")
    assert written["region"] == "eu-west-1" and written["aws_session_token"] != "old-token"
    assert "ASIAOLD" not in text


def test_serial_number_defaults_to_the_callers_only_device(tmp_path, moto_server, boto3_session):
    iam = boto3_session.client("iam", endpoint_url=moto_server.url)
    iam.create_virtual_mfa_device(VirtualMFADeviceName="cloudburst-rig-admin")
    iam.enable_mfa_device(UserName="cloudburst-rig-admin", SerialNumber=SERIAL,
                          AuthenticationCode1="123456", AuthenticationCode2="654321")
    try:
        credentials = tmp_path / "credentials"
        (made,) = run_aws_tasks(tmp_path, moto_server, [session_task(
            session_profile="mfa", credentials_file=str(credentials), mfa_code=CODE)])
        assert made["changed"] is True and made["session"]["serial_number"] == SERIAL
    finally:
        iam.deactivate_mfa_device(UserName="cloudburst-rig-admin", SerialNumber=SERIAL)
        iam.delete_virtual_mfa_device(SerialNumber=SERIAL)


BAD_INPUT = [
    ({"mfa_code": "12345"}, "an MFA code must be exactly 6 digits (got 5"),
    ({"mfa_code": None, "seed_file": "{tmp}/loose-seed"}, "has mode 0644: other users may have read"),
    ({"duration_seconds": 100}, "duration_seconds must be between 900 and 129600"),
    ({"session_profile": "annex"}, "holds a long-term access key"),
    ({"mfa_code": None}, "give mfa_code or seed_file"),
]


def test_bad_input_fails_clearly_and_changes_nothing(tmp_path, moto_server):
    """Every case a task of one run (ignore_errors, so each is tried): each fails with its message, none asks STS for a
    session, and the credentials file keeps its other profiles as they were."""
    credentials = tmp_path / "credentials"
    credentials.write_text(OTHERS_BEFORE)
    loose = tmp_path / "loose-seed"
    loose.write_text(pyotp.random_base32() + "\n")
    loose.chmod(0o644)
    tasks = []
    for options, _message in BAD_INPUT:
        options = dict({"session_profile": "mfa", "credentials_file": str(credentials), "mfa_code": CODE,
                        "serial_number": SERIAL}, **options)
        options = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in options.items() if v is not None}
        tasks.append(session_task(**options))
    moto_server.reset_recording()
    results = run_aws_refusals(tmp_path, moto_server, tasks)
    for (options, message), failed in zip(BAD_INPUT, results):
        assert message in failed["msg"], (options, failed["msg"])
    assert "sts:GetSessionToken" not in moto_server.recorded_actions()
    assert credentials.read_text() == OTHERS_BEFORE
