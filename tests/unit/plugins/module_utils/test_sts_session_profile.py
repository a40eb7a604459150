# -*- coding: utf-8 -*-
"""The temporary profile's rendering: other sections byte for byte, the profile's own settings kept."""
from __future__ import annotations

from ansible_collections.cloudburst.aws.plugins.module_utils.credentials_ini import profile_settings
from ansible_collections.cloudburst.aws.plugins.module_utils.sts_session import render_session_profile

SESSION = {"AccessKeyId": "ASIA-new", "SecretAccessKey": "new-secret", "SessionToken": "new-token"}
EXPIRES = "2030-01-01T00:00:00+00:00"


def render(tmp_path, text):
    path = tmp_path / "credentials"
    path.write_text(text)
    return render_session_profile(str(path), "mfa", SESSION, EXPIRES)


def test_a_new_profile_is_appended_after_a_file_without_final_newline(tmp_path):
    before = "[a]\naws_access_key_id=x\n  aws_secret_access_key =y"
    after = render(tmp_path, before)
    assert after == before + "\n\n[mfa]\naws_access_key_id = ASIA-new\naws_secret_access_key = new-secret\n" \
        "aws_session_token = new-token\naws_session_expiration = " + EXPIRES + "\n"


def test_a_renewed_profile_keeps_its_place_and_settings(tmp_path):
    head, tail = "# mine\n[a]\nx = 1\n\n", "[b]\ny = 2\n"
    middle = ("[mfa]\nregion = eu-west-1\naws_access_key_id = ASIA-old\naws_secret_access_key = old\n"
              "aws_session_token = old-token\naws_session_expiration = 2020-01-01T00:00:00+00:00\n\n")
    after = render(tmp_path, head + middle + tail)
    assert after.startswith(head) and after.endswith(tail)
    settings = profile_settings(after, "mfa")
    assert settings == {"aws_access_key_id": "ASIA-new", "aws_secret_access_key": "new-secret",
                        "aws_session_token": "new-token", "aws_session_expiration": EXPIRES,
                        "region": "eu-west-1"}
    assert "old" not in after.replace("# mine", "")
