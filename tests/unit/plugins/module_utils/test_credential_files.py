# -*- coding: utf-8 -*-
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils import credentials_ini
from ansible_collections.cloudburst.aws.plugins.module_utils import safe_directory

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

    monkeypatch.setattr(os, "mkdir", read_only)  # directories are made one by one, relative to their parent
    with pytest.raises(files.CredentialFileError, match="cannot create directory .*: Read-only file system"):
        files.prepare_directory(str(tmp_path / "new"), True, -1, -1, check_mode=False)


def test_check_writable(tmp_path, monkeypatch):
    files.check_writable(str(tmp_path), check_mode=False)
    files.check_writable(str(tmp_path / "not" / "yet"), check_mode=True)
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False)  # asked by the directory's descriptor
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
    lines, start, end = credentials_ini.profile_section(EXISTING, "annex")
    assert "".join(lines) == EXISTING
    assert lines[start] == "[annex]\n" and lines[end] == "[later]\n"
    assert lines[start + 1:end] == ["region = eu-west-1\n", "aws_access_key_id = OLDID\n",
                                    "aws_secret_access_key = old-secret\n", "output = json\n", "\n"]
    lines, start, end = credentials_ini.profile_section(EXISTING, "later")
    assert (lines[start], end) == ("[later]\n", len(lines))
    assert credentials_ini.profile_section(EXISTING, "missing")[1:] == (None, None)
    assert credentials_ini.profile_section("", "annex") == ([], None, None)
    # A header is matched exactly, not as a prefix, and as botocore's configparser reads it: "[ annex ]" is
    # section " annex " (botocore finds no profile "annex" there), and "[annex] # note" is section "annex".
    assert credentials_ini.profile_section("[annex-2]\nx = 1\n[ annex ]\ny = 2\n", "annex")[1] is None
    assert credentials_ini.profile_section("[annex-2]\nx = 1\n[annex] # note\ny = 2\n", "annex")[1] == 2


def test_profile_settings_reads_one_profile_and_skips_lines_without_a_value():
    assert credentials_ini.profile_settings(EXISTING, "annex") == {
        "region": "eu-west-1", "aws_access_key_id": "OLDID", "aws_secret_access_key": "old-secret",
        "output": "json"}
    assert credentials_ini.profile_settings("[a]\n# note\nkey =  spaced value \n", "a") == {"key": "spaced value"}
    assert credentials_ini.profile_settings(EXISTING, "missing") is None


def test_no_module_reaches_into_credential_files_private_names():
    """sts_session once imported the private _profile_block: every user goes through the public functions, of
    credential_files and of the two modules it was split from (safe_directory, credentials_ini)."""
    import ast
    import pathlib

    modules = {"files": files, "credentials_ini": credentials_ini, "safe_directory": safe_directory}
    private = {alias: {name for name in vars(module) if name.startswith("_") and not name.startswith("__")}
               for alias, module in modules.items()}
    homes = {module.__name__.rsplit(".", 1)[-1]: alias for alias, module in modules.items()}
    plugins = pathlib.Path(files.__file__).parent.parent
    checked = 0
    for path in plugins.rglob("*.py"):
        if path.stem in homes:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in private:
                alias, names = node.value.id, {node.attr}  # every user imports them as "files" or by their name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").rsplit(".", 1)[-1] in homes:
                alias, names = homes[node.module.rsplit(".", 1)[-1]], {a.name for a in node.names}
            else:
                continue
            checked += 1
            assert not private[alias] & names, f"{path} uses {private[alias] & names} of {alias}"
    assert checked > 20 and "_trusted" in private["safe_directory"] and "_parse" in private["credentials_ini"]


# --- the credentials file as botocore reads it (security issue 21, item 8) ------------------------------

def botocore_reads(path):
    import botocore.configloader

    return botocore.configloader.raw_config_parse(str(path))


@pytest.mark.parametrize("annex", [
    "[annex] # the annex's key\naws_access_key_id = OLDID\naws_secret_access_key = old-secret\n",
    "[annex]\naws_access_key_id: OLDID\naws_secret_access_key : old-secret\n",
    "[annex]\nAWS_ACCESS_KEY_ID = OLDID\nAws_Secret_Access_Key = old-secret\n",
    "[annex]\n  region = eu-west-1\n  aws_access_key_id = OLDID\n  aws_secret_access_key = old-secret\n",
    "[annex]\naws_access_key_id = OLDID\naws_secret_access_key = old\n    -secret\nregion = eu-west-1\n",
])
def test_a_key_write_keeps_every_profile_botocore_reads(tmp_path, annex):
    dest = tmp_path / "credentials"
    dest.write_text("[default]\nregion: us-east-1\n\n" + annex + "[later]\nS3 =\n  max_concurrent_requests = 4\n")
    before = botocore_reads(dest)
    assert files.read_key_id("aws_credentials", str(dest), "annex") == "OLDID"
    dest.write_text(files.render("aws_credentials", str(dest), "annex", "NEWID", "new-secret")[str(dest)])
    after = botocore_reads(dest)
    assert after["annex"] == dict({k: v for k, v in before["annex"].items() if not k.startswith("aws_")},
                                  aws_access_key_id="NEWID", aws_secret_access_key="new-secret")
    assert {k: v for k, v in after.items() if k != "annex"} == {k: v for k, v in before.items() if k != "annex"}
    assert dest.read_text().startswith("[default]\nregion: us-east-1\n\n")
    assert dest.read_text().endswith("[later]\nS3 =\n  max_concurrent_requests = 4\n")


def test_crlf_files_keep_their_line_endings_and_other_profiles_their_bytes(tmp_path):
    dest = tmp_path / "credentials"
    other = b"[other]\r\naws_access_key_id = KEPT\r\naws_secret_access_key = kept\x0bsecret\r\n"
    dest.write_bytes(other + b"\r\n[annex]\r\naws_access_key_id = OLDID\r\naws_secret_access_key = old\r\n")
    content = files.render("aws_credentials", str(dest), "annex", "NEWID", "new-secret")[str(dest)]
    files.write_files({str(dest): content}, 0o600, -1, -1)
    assert dest.read_bytes() == other + (b"\r\n[annex]\r\naws_access_key_id = NEWID\r\n"
                                         b"aws_secret_access_key = new-secret\r\n")
    assert botocore_reads(dest)["other"]["aws_secret_access_key"] == "kept\x0bsecret"


def test_a_long_term_key_takes_the_place_of_a_session_and_its_token(tmp_path):
    dest = tmp_path / "credentials"
    dest.write_text("[annex]\naws_access_key_id = ASIAOLD\naws_secret_access_key = old\naws_session_token = tok\n"
                    "aws_security_token = tok\naws_session_expiration = 2020-01-01T00:00:00+00:00\nregion = x\n")
    content = files.render("aws_credentials", str(dest), "annex", "AKIANEW", "new")[str(dest)]
    assert content == "[annex]\naws_access_key_id = AKIANEW\naws_secret_access_key = new\nregion = x\n"


def test_files_botocore_cannot_read_are_refused_not_repaired(tmp_path):
    dest = tmp_path / "credentials"
    for text, problem in [
        ("[annex]\na = 1\n[annex]\nb = 2\n", "line 3: section [annex] appears twice"),
        ("[annex]\nregion = x\nREGION = y\n", "line 3: option region appears twice in section [annex]"),
        ("aws_secret_access_key = s3cr3t-before-any-header\n[annex]\n", "line 1 comes before the first"),
        ("[annex]\naws_secret_access_key s3cr3t-without-delimiter\n", "line 2: neither a [section] header"),
        ("[annex]\ns3 =\n  no-equals-sign\n", "option s3 of [annex] holds a nested line without '='"),
    ]:
        dest.write_text(text)
        for attempt in (lambda: files.render("aws_credentials", str(dest), "annex", "NEWID", "s"),
                        lambda: files.read_key_id("aws_credentials", str(dest), "annex"),
                        lambda: files.remove_profile(str(dest), "annex", False)):
            with pytest.raises(files.CredentialFileError, match="botocore can read") as refused:
                attempt()
            assert problem in str(refused.value) and "s3cr3t" not in str(refused.value)
        assert dest.read_text() == text


def test_a_profile_named_DEFAULT_is_refused():
    with pytest.raises(files.CredentialFileError, match="gives the options of a \\[DEFAULT\\] section to every"):
        files.validate_profile_name("DEFAULT")
    files.validate_profile_name("default")


def test_DEFAULT_that_would_give_the_profile_a_token_or_an_unreadable_value_is_refused(tmp_path):
    dest = tmp_path / "credentials"
    dest.write_text("[DEFAULT]\naws_session_token = shared-token\n[other]\nregion = x\n")
    with pytest.raises(files.CredentialFileError, match=r"^\[DEFAULT\] in .* sets aws_session_token for every"):
        files.render("aws_credentials", str(dest), "annex", "NEWID", "s")
    dest.write_text("[DEFAULT]\ns3 =\n  no-equals-sign\n")  # botocore reads [DEFAULT] only through a profile
    assert botocore_reads(dest) == {}
    with pytest.raises(files.CredentialFileError, match="would not be readable by botocore"):
        files.render("aws_credentials", str(dest), "annex", "NEWID", "s")


def test_removing_a_profile_that_would_merge_the_next_one_into_the_one_before_is_refused(tmp_path):
    dest = tmp_path / "credentials"
    text = "[a]\nx = 1\n[annex]\n  [b]\ny = 2\n"  # "  [b]" is a header only because [annex] has no option
    dest.write_text(text)
    assert set(botocore_reads(dest)) == {"a", "annex", "b"}
    with pytest.raises(files.CredentialFileError, match="indented \\[header\\] would become part of the value"):
        files.remove_profile(str(dest), "annex", False)
    assert dest.read_text() == text


# --- files planted by the destination's owner: hard links and FIFOs ----------------------------------------

def test_a_hard_link_to_another_file_is_never_read_copied_or_re_owned(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("[default]\naws_access_key_id = ROOTS\naws_secret_access_key = roots-secret\n")
    outside.chmod(0o640)
    before = (outside.read_text(), outside.stat().st_mode, outside.stat().st_uid, outside.stat().st_gid)
    dest = tmp_path / "dest"
    dest.mkdir()
    for name in ("credentials", "publicKeyFile", files.RECORD_NAME):
        os.link(outside, dest / name)
    credentials = str(dest / "credentials")
    attempts = [
        lambda: files.read_key_id("aws_credentials", credentials, "default"),
        lambda: files.read_key_id("condor_annex", str(dest), None),
        lambda: files.render("aws_credentials", credentials, "annex", "NEWID", "s"),
        lambda: files.write_files({credentials: "[annex]\n"}, 0o600, -1, -1),
        lambda: files.fix_file(credentials, 0o600, 65534, 65534, False),
        lambda: files.remove_profile(credentials, "default", False),
        lambda: files.read_record(files.record_path(str(dest)), "alice"),
        lambda: safe_directory.read_file(credentials),
    ]
    for attempt in attempts:
        with pytest.raises(files.CredentialFileError, match="has 4 hard links"):
            attempt()
    assert (outside.read_text(), outside.stat().st_mode, outside.stat().st_uid, outside.stat().st_gid) == before
    assert sorted(p.name for p in dest.iterdir()) == sorted(["credentials", "publicKeyFile", files.RECORD_NAME])


def test_a_fifo_in_place_of_a_file_is_refused_at_once(tmp_path):
    import signal

    def hung(*args):
        raise AssertionError("a reader opened the FIFO and waited for a writer")

    dest = tmp_path / "dest"
    dest.mkdir()
    for name in ("credentials", "publicKeyFile", files.RECORD_NAME):
        os.mkfifo(dest / name)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        for attempt in [
            lambda: files.read_key_id("aws_credentials", str(dest / "credentials"), "annex"),
            lambda: files.read_key_id("condor_annex", str(dest), None),
            lambda: files.render("aws_credentials", str(dest / "credentials"), "annex", "NEWID", "s"),
            lambda: files.read_record(files.record_path(str(dest)), "alice"),
            lambda: files.fix_file(str(dest / "credentials"), 0o600, -1, -1, False),
        ]:
            with pytest.raises(files.CredentialFileError, match="is not a regular file"):
                attempt()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- links on the way: followed only when nobody else can have made them --------------------------------

def test_a_link_on_the_way_that_only_root_or_this_user_controls_is_followed(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")  # ours, in a directory of ours
    condor = str(tmp_path / "alias" / "condor")
    assert files.prepare_directory(condor, True, -1, -1, False) is True
    files.write_files(files.render("condor_annex", condor, None, "KEYID", "SECRET"), 0o600, -1, -1)
    assert files.read_key_id("condor_annex", condor, None) == "KEYID"
    assert (tmp_path / "real" / "condor" / "privateKeyFile").read_text() == "SECRET\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a link owned by another user")
def test_a_link_on_the_way_that_another_user_could_change_is_refused(tmp_path):
    shared = tmp_path / "shared"  # like /tmp: world-writable and sticky
    shared.mkdir()
    shared.chmod(0o1777)
    (tmp_path / "real").mkdir()
    (shared / "roots").symlink_to(tmp_path / "real")
    (shared / "theirs").symlink_to(tmp_path / "real")
    os.lchown(shared / "theirs", 65534, 65534)
    assert files.prepare_directory(str(shared / "roots" / "condor"), True, -1, -1, False) is True
    with pytest.raises(files.CredentialFileError, match="theirs is a symbolic link owned by nobody"):
        files.prepare_directory(str(shared / "theirs" / "other"), True, -1, -1, False)
    # A link of root's in a directory that another user can write is refused too: it could be swapped.
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (open_dir / "link").symlink_to(tmp_path / "real")
    with pytest.raises(files.CredentialFileError, match="link is a symbolic link owned by root"):
        files.read_key_id("condor_annex", str(open_dir / "link" / "condor"), None)
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["condor"]


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a writer as another user")
def test_a_users_own_link_works_when_the_module_runs_as_that_user():
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="cloudburst-own-link-", dir="/tmp")  # pytest's tmp_path is root's alone
    try:
        os.chmod(base, 0o755)
        home = os.path.join(base, "home")
        os.makedirs(os.path.join(home, "dotfiles"))
        os.symlink(os.path.join(home, "dotfiles"), os.path.join(home, "config"))
        for path in (home, os.path.join(home, "dotfiles")):
            os.chown(path, 65534, 65534)
        os.lchown(os.path.join(home, "config"), 65534, 65534)
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                condor = os.path.join(home, "config", "condor")
                files.prepare_directory(condor, True, -1, -1, False)
                files.write_files(files.render("condor_annex", condor, None, "KEYID", "SECRET"), 0o600, -1, -1)
                os._exit(0 if files.read_key_id("condor_annex", condor, None) == "KEYID" else 1)
            except BaseException as exc:
                os.write(2, f"{exc!r}\n".encode())
                os._exit(2)
        assert os.waitpid(pid, 0)[1] == 0
        with open(os.path.join(home, "dotfiles", "condor", "publicKeyFile")) as stream:
            assert stream.read() == "KEYID\n"
    finally:
        shutil.rmtree(base)
