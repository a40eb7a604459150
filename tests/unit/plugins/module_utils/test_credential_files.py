# -*- coding: utf-8 -*-
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files

EXISTING = """# team credentials
[default]
aws_access_key_id = DEFAULTID
aws_secret_access_key = default-secret

[annex]
region = eu-west-1
aws_access_key_id = OLDID
aws_secret_access_key = old-secret
output = json

[later]
aws_access_key_id = LATERID
"""


def test_aws_credentials_replaces_only_the_profiles_keys(tmp_path):
    dest = tmp_path / "credentials"
    dest.write_text(EXISTING)
    assert files.read_key_id("aws_credentials", str(dest), "annex") == "OLDID"
    content = files.render("aws_credentials", str(dest), "annex", "NEWID", "new-secret")[str(dest)]
    assert content.startswith("# team credentials\n[default]\naws_access_key_id = DEFAULTID\n")
    assert "[annex]\naws_access_key_id = NEWID\naws_secret_access_key = new-secret\nregion = eu-west-1\n" in content
    assert "output = json" in content and "OLDID" not in content and "old-secret" not in content
    assert content.endswith("[later]\naws_access_key_id = LATERID\n")


def test_aws_credentials_appends_a_new_profile(tmp_path):
    dest = tmp_path / "credentials"
    dest.write_text("[default]\naws_access_key_id = A")  # no final newline
    content = files.render("aws_credentials", str(dest), "annex", "NEWID", "s")[str(dest)]
    assert content == "[default]\naws_access_key_id = A\n\n[annex]\naws_access_key_id = NEWID\naws_secret_access_key = s\n"
    assert files.read_key_id("aws_credentials", str(dest), "missing") is None


def test_condor_and_env_formats(tmp_path):
    rendered = files.render("condor_annex", str(tmp_path), "ignored", "KEYID", "SECRET")
    assert rendered == {str(tmp_path / "publicKeyFile"): "KEYID\n", str(tmp_path / "privateKeyFile"): "SECRET\n"}
    env = files.render("env", str(tmp_path / "env"), "ignored", "KEYID", "SECRET")
    assert env[str(tmp_path / "env")] == "export AWS_ACCESS_KEY_ID=KEYID\nexport AWS_SECRET_ACCESS_KEY=SECRET\n"


def test_write_files_sets_mode_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out"
    target.write_text("old")
    os.chmod(target, 0o644)
    files.write_files({str(target): "new\n"}, 0o600, -1, -1)
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_write_files_restores_what_it_replaced_when_a_later_file_fails(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("kept")
    second.mkdir()
    (second / "x").write_text("")
    with pytest.raises(files.CredentialFileError, match="cannot write .*second"):
        files.write_files({str(first): "new", str(second): "new"}, 0o600, -1, -1)
    assert first.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "second"]


def test_prepare_directory(tmp_path):
    created = tmp_path / "a" / "b"
    assert files.prepare_directory(str(created), True, -1, -1, check_mode=False) is True
    assert stat.S_IMODE(created.stat().st_mode) == 0o700
    with pytest.raises(files.CredentialFileError, match="create_dirs is false"):
        files.prepare_directory(str(tmp_path / "c"), False, -1, -1, check_mode=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(files.CredentialFileError, match="not a directory"):
        files.prepare_directory(str(tmp_path / "file"), True, -1, -1, check_mode=False)


def test_unknown_owner_and_group():
    with pytest.raises(files.CredentialFileError, match="not a user"):
        files.resolve_owner("no-such-user-xyz", None)
    with pytest.raises(files.CredentialFileError, match="not a group"):
        files.resolve_owner(None, "no-such-group-xyz")
    assert files.resolve_owner("root", "root") == (0, 0)


def test_without_profile_keeps_the_rest_byte_for_byte(tmp_path):
    dest = tmp_path / "credentials"
    dest.write_text(EXISTING)
    remaining = files.without_profile(str(dest), "annex")
    assert "[annex]" not in remaining and "OLDID" not in remaining
    assert remaining == EXISTING.replace(EXISTING[EXISTING.index("[annex]"):EXISTING.index("[later]")], "")
    assert files.without_profile(str(dest), "missing") is None
