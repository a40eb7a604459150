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


def test_record_round_trip_keeps_other_users_and_goes_when_empty(tmp_path):
    path = files.record_path(str(tmp_path))
    assert files.read_record(path, "alice") == {"undelivered": [], "retiring": []}
    files.write_record(path, "alice", {"undelivered": ["AKIANEW"], "retiring": ["AKIAOLD"]}, -1, -1)
    files.write_record(path, "bob", {"undelivered": [], "retiring": ["AKIABOB"]}, -1, -1)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert files.read_record(path, "alice") == {"undelivered": ["AKIANEW"], "retiring": ["AKIAOLD"]}
    files.write_record(path, "alice", {"undelivered": [], "retiring": []}, -1, -1)
    assert files.read_record(path, "bob") == {"undelivered": [], "retiring": ["AKIABOB"]}
    files.write_record(path, "bob", {"undelivered": [], "retiring": []}, -1, -1)
    assert not os.path.exists(path)


def test_a_record_that_is_not_ours_fails_clearly(tmp_path):
    path = tmp_path / files.RECORD_NAME
    path.write_text("[not, a, record")
    with pytest.raises(files.CredentialFileError, match="is not a record this module wrote"):
        files.read_record(str(path), "alice")


def test_directory_on_a_read_only_file_system_is_a_clear_error(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "makedirs", read_only)
    with pytest.raises(files.CredentialFileError, match="cannot create directory .*: Read-only file system"):
        files.prepare_directory(str(tmp_path / "new"), True, -1, -1, check_mode=False)


def test_check_writable(tmp_path, monkeypatch):
    files.check_writable(str(tmp_path), check_mode=False)
    files.check_writable(str(tmp_path / "not" / "yet"), check_mode=True)
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(files.CredentialFileError, match="is not writable"):
        files.check_writable(str(tmp_path / "not" / "yet"), check_mode=False)


def test_links_are_never_followed(tmp_path):
    # A module running as root for another user must not read, copy or replace what a link points at.
    secret = tmp_path / "someone-elses-credentials"
    secret.write_text("[default]\naws_secret_access_key = not-yours\n")
    linked = tmp_path / "credentials"
    linked.symlink_to(secret)
    with pytest.raises(files.CredentialFileError, match="is a symbolic link"):
        files.read_key_id("aws_credentials", str(linked), "annex")
    with pytest.raises(files.CredentialFileError, match="is a symbolic link"):
        files.render("aws_credentials", str(linked), "annex", "AKIDEXAMPLE", "s3cr3t")
    with pytest.raises(files.CredentialFileError, match="is a symbolic link"):
        files.write_files({str(linked): "x\n"}, 0o600, -1, -1)
    assert os.path.islink(linked) and secret.read_text().startswith("[default]")

    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (tmp_path / "condor").symlink_to(real_dir)
    with pytest.raises(files.CredentialFileError, match="is a symbolic link"):
        files.prepare_directory(str(tmp_path / "condor"), True, -1, -1, False)
    with pytest.raises(files.CredentialFileError, match="is a symbolic link"):
        files.write_files({str(tmp_path / "condor" / "privateKeyFile"): "x\n"}, 0o600, -1, -1)
    assert list(real_dir.iterdir()) == []


@pytest.mark.parametrize("profile", ["x]\n[default", "", "a b", "x\r[default]", "p" * 65])
def test_profile_names_that_could_leave_their_section_are_refused(profile):
    with pytest.raises(files.CredentialFileError, match="profile name"):
        files.validate_profile_name(profile)


def test_a_destination_without_its_secret_holds_no_key(tmp_path):
    condor = tmp_path / "condor"
    condor.mkdir()
    (condor / "publicKeyFile").write_text("AKIDEXAMPLE\n")
    assert files.read_key_id("condor_annex", str(condor), None) is None
    (condor / "privateKeyFile").write_text("s3cr3t\n")
    assert files.read_key_id("condor_annex", str(condor), None) == "AKIDEXAMPLE"
    credentials = tmp_path / "credentials"
    credentials.write_text("[annex]\naws_access_key_id = AKIDEXAMPLE\n")
    assert files.read_key_id("aws_credentials", str(credentials), "annex") is None
    credentials.write_text("[annex]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s3cr3t\n")
    assert files.read_key_id("aws_credentials", str(credentials), "annex") == "AKIDEXAMPLE"


# --- the public reading of a profile's section (review item 3) -----------------------------------------

def test_profile_section_finds_the_profile_up_to_the_next_section():
    lines, start, end = files.profile_section(EXISTING, "annex")
    assert "".join(lines) == EXISTING
    assert lines[start] == "[annex]\n" and lines[end] == "[later]\n"
    assert lines[start + 1:end] == ["region = eu-west-1\n", "aws_access_key_id = OLDID\n",
                                    "aws_secret_access_key = old-secret\n", "output = json\n", "\n"]
    lines, start, end = files.profile_section(EXISTING, "later")
    assert (lines[start], end) == ("[later]\n", len(lines))
    assert files.profile_section(EXISTING, "missing")[1:] == (None, None)
    assert files.profile_section("", "annex") == ([], None, None)
    # A header is matched exactly (white space around the name aside), not as a prefix.
    assert files.profile_section("[annex-2]\nx = 1\n[ annex ]\ny = 2\n", "annex")[1] == 2


def test_profile_settings_reads_one_profile_and_skips_lines_without_a_value():
    assert files.profile_settings(EXISTING, "annex") == {
        "region": "eu-west-1", "aws_access_key_id": "OLDID", "aws_secret_access_key": "old-secret",
        "output": "json"}
    assert files.profile_settings("[a]\n# note\nkey =  spaced value \n", "a") == {"key": "spaced value"}
    assert files.profile_settings(EXISTING, "missing") is None


def test_no_module_reaches_into_credential_files_private_names():
    """sts_session once imported the private _profile_block: every user goes through the public functions."""
    import ast
    import pathlib

    private = {name for name in vars(files) if name.startswith("_") and not name.startswith("__")}
    plugins = pathlib.Path(files.__file__).parent.parent
    checked = 0
    for path in plugins.rglob("*.py"):
        if path.name == "credential_files.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "files":
                names = {node.attr}  # every user imports the module as "files"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("credential_files"):
                names = {alias.name for alias in node.names}
            else:
                continue
            checked += 1
            assert not private & names, f"{path} uses {private & names} of credential_files"
    assert checked > 20 and "_read" in private
