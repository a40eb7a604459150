# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Credential files for an access key, written so that the secret is never world-readable.

Formats:
  aws_credentials  one profile in an INI credentials file (~/.aws/credentials); other profiles are kept
                   as they are, byte for byte.
  condor_annex     the two files condor_annex reads, in the directory `dest` (~/.condor):
                   publicKeyFile holds only the key id, privateKeyFile only the secret.
  env              `export` lines for a shell.

Every file is written to a temporary file created with the final mode in the same directory and then
renamed over the old one, so a reader never sees a half-written or briefly readable file.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import stat
import tempfile

FORMATS = ("aws_credentials", "condor_annex", "env")
CONDOR_PUBLIC = "publicKeyFile"
CONDOR_PRIVATE = "privateKeyFile"


class CredentialFileError(Exception):
    pass


def target_paths(fmt, dest):
    if fmt == "condor_annex":
        return [os.path.join(dest, CONDOR_PUBLIC), os.path.join(dest, CONDOR_PRIVATE)]
    return [dest]


def refuse_symlink(path):
    """Raise CredentialFileError if path is a symbolic link.

    Credential files and their directories are never followed through links: a module running as root for
    another user would otherwise read (and copy into that user's file) or chmod/chown whatever the link
    points at, such as root's own credentials.
    """
    if os.path.islink(path):
        raise CredentialFileError(f"{path} is a symbolic link; credential files and their directories must be "
                                  "real files and directories (links are never followed)")


def _read(path):
    refuse_symlink(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialFileError(f"cannot read {path}: {exc.strerror}")
    try:
        with os.fdopen(fd) as stream:
            return stream.read()
    except OSError as exc:
        raise CredentialFileError(f"cannot read {path}: {exc.strerror}")


_SECTION = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*$")


# A profile name becomes a "[name]" line of an INI file: "]" or a line break in it would start another section
# (a key meant for [x] landing in [default]). The same characters IAM allows in names.
PROFILE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.+=,@-]{1,64}\Z")


def validate_profile_name(profile):
    """Raise CredentialFileError unless profile is a safe profile name."""
    if not isinstance(profile, str) or not PROFILE_NAME_PATTERN.match(profile):
        raise CredentialFileError(
            f"profile name {profile!r} is not allowed: use 1 to 64 letters, digits and the characters _.+=,@-")


def profile_section(text, profile):
    """Where profile's section is in the text of a credentials file: (lines, start, end).

    lines is text.splitlines(keepends=True), so "".join(lines) == text. lines[start] is the profile's
    "[profile]" header and lines[start + 1:end] its settings, up to the next section or the end of the file
    (start and end are None when the file has no such section). A header is a line with only "[name]" and
    white space, matched exactly; the first such section is the profile's. This is the one reading of
    sections that every writer of credentials files uses (render, without_profile, sts_session), so that
    they never disagree on where a profile ends.
    """
    lines = text.splitlines(keepends=True)
    start = None
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        if match:
            if start is not None:
                return lines, start, index
            if match.group(1) == profile:
                start = index
    return (lines, start, len(lines)) if start is not None else (lines, None, None)


def read_key_id(fmt, dest, profile):
    """The access key id recorded in dest, or None. A destination whose secret is missing or empty holds no
    key: the key must be delivered again (rotated), never taken as current without its secret."""
    if fmt == "condor_annex":
        text = _read(os.path.join(dest, CONDOR_PUBLIC))
        # The secret is not read, only looked at: a missing or empty privateKeyFile means no key is held.
        private = os.path.join(dest, CONDOR_PRIVATE)
        refuse_symlink(private)
        if not text or not text.strip() or not os.path.isfile(private) or os.path.getsize(private) == 0:
            return None
        return text.strip()
    text = _read(dest)
    if not text:
        return None
    if fmt == "env":
        match = re.search(r"^export AWS_ACCESS_KEY_ID=(\S+)$", text, re.M)
        has_secret = re.search(r"^export AWS_SECRET_ACCESS_KEY=\S+$", text, re.M)
        return match.group(1) if match and has_secret else None
    settings = profile_settings(text, profile)
    if not settings or not settings.get("aws_secret_access_key"):
        return None
    return settings.get("aws_access_key_id") or None


def profile_settings(text, profile):
    """{key: value} of profile's section in the text of a credentials file, or None when it has none.

    Keys and values are stripped of white space; lines without "=" (comments, blank lines) are left out.
    """
    lines, start, end = profile_section(text, profile)
    if start is None:
        return None
    settings = {}
    for line in lines[start + 1:end]:
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip()
    return settings


def render(fmt, dest, profile, key_id, secret):
    """{path: content} for the files of this format."""
    if fmt == "condor_annex":
        return {os.path.join(dest, CONDOR_PUBLIC): key_id + "\n", os.path.join(dest, CONDOR_PRIVATE): secret + "\n"}
    if fmt == "env":
        return {dest: f"export AWS_ACCESS_KEY_ID={key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}\n"}
    block = [f"[{profile}]\n", f"aws_access_key_id = {key_id}\n", f"aws_secret_access_key = {secret}\n"]
    existing = _read(dest) or ""
    lines, start, end = profile_section(existing, profile)
    if start is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        if lines and lines[-1].strip():
            lines.append("\n")
        lines.extend(block)
    else:
        # Keep other settings of the profile (region, output, ...), replace only the key lines.
        kept = [line for line in lines[start + 1:end]
                if line.partition("=")[0].strip() not in ("aws_access_key_id", "aws_secret_access_key")]
        lines[start:end] = block + kept
    return {dest: "".join(lines)}


def without_profile(dest, profile):
    """The text of the credentials file dest with profile's section removed, or None if it has none."""
    lines, start, end = profile_section(_read(dest) or "", profile)
    if start is None:
        return None
    del lines[start:end]
    return "".join(lines)


def resolve_owner(owner, group):
    """(uid, gid) for owner and group names (-1 where not given); fail clearly on unknown names."""
    uid = gid = -1
    if owner:
        try:
            entry = pwd.getpwnam(owner)
        except KeyError:
            raise CredentialFileError(f"owner {owner!r} is not a user on this host")
        uid, gid = entry.pw_uid, entry.pw_gid
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise CredentialFileError(f"group {group!r} is not a group on this host")
    return uid, gid


def prepare_directory(directory, create_dirs, uid, gid, check_mode):
    """Make sure the directory exists (0700 when this creates it). Returns True if it would be created."""
    refuse_symlink(directory)
    if os.path.isdir(directory):
        return False
    if os.path.exists(directory):
        raise CredentialFileError(f"{directory} exists and is not a directory")
    if not create_dirs:
        raise CredentialFileError(f"directory {directory} does not exist and create_dirs is false")
    if not check_mode:
        try:
            os.makedirs(directory, mode=0o700)
            os.chmod(directory, 0o700)  # makedirs' mode is filtered by the umask
            if uid != -1 or gid != -1:
                os.chown(directory, uid, gid)
        except OSError as exc:
            raise CredentialFileError(f"cannot create directory {directory}: {exc.strerror or exc}")
    return True


def check_writable(directory, check_mode):
    """Raise CredentialFileError unless new files can be made in directory.

    Outside check mode a file is really created and removed (the only test that also holds for root and
    for read-only file systems). In check mode, and for a directory still to be made, the nearest existing
    directory is asked with access(2), which reports a read-only file system even to root.
    """
    existing = directory
    while not os.path.isdir(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if check_mode or existing != directory:
        if not os.access(existing, os.W_OK | os.X_OK):
            raise CredentialFileError(f"cannot write in {directory}: {existing} is not writable")
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=".cloudburst-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CredentialFileError(f"cannot write in {directory}: {exc.strerror or exc}")


def _temp_file(path, content, mode, uid, gid):
    """A temporary file beside path with content, mode and owner already final."""
    directory = os.path.dirname(path) or "."
    fd, temp_path = tempfile.mkstemp(prefix=".cloudburst-", dir=directory)  # created 0600
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_path, mode)
        if uid != -1 or gid != -1:
            os.chown(temp_path, uid, gid)
    except BaseException:
        os.unlink(temp_path)
        raise
    return temp_path


def write_files(files, mode, uid, gid):
    """Write {path: content} all or nothing; raise CredentialFileError naming the file that failed.

    Every temporary file is made first; then each is renamed into place. If a rename fails, the files
    already replaced get their old content back (or are removed if they did not exist).
    """
    for path in files:
        refuse_symlink(path)
        refuse_symlink(os.path.dirname(path))
    temps, backups, replaced = {}, {}, []
    try:
        for path, content in files.items():
            try:
                temps[path] = _temp_file(path, content, mode, uid, gid)
                if os.path.isfile(path):
                    backups[path] = _temp_file(path, _read(path), stat.S_IMODE(os.lstat(path).st_mode), -1, -1)
            except OSError as exc:
                raise CredentialFileError(f"cannot write {path}: {exc.strerror or exc}")
        for path, temp_path in temps.items():
            try:
                os.replace(temp_path, path)
            except OSError as exc:
                for done in reversed(replaced):
                    if done in backups:
                        os.replace(backups.pop(done), done)
                    else:
                        os.unlink(done)
                raise CredentialFileError(f"cannot write {path}: {exc.strerror or exc}")
            replaced.append(path)
    finally:
        for leftover in list(temps.values()) + list(backups.values()):
            if os.path.lexists(leftover):
                os.unlink(leftover)


def remove_files(paths, check_mode):
    removed = [path for path in paths if os.path.lexists(path)]
    if not check_mode:
        for path in removed:
            os.unlink(path)
    return removed


# --- the record of keys in flight ------------------------------------------------------------------------

RECORD_NAME = ".cloudburst-access-keys.json"


def record_path(directory):
    """The record beside the first destination: one small JSON file per directory, one entry per IAM user."""
    return os.path.join(directory, RECORD_NAME)


def read_record(path, user):
    """{"undelivered": [...], "retiring": [...]} for user from the record at path (empty lists if none).

    undelivered: keys this module created whose secret was not (yet) written to the destinations.
    retiring: keys this module rotated out whose deactivation or deletion has not finished.
    """
    text = _read(path)
    entry = {}
    if text:
        try:
            entry = json.loads(text).get("users", {}).get(user, {})
        except (ValueError, AttributeError):
            raise CredentialFileError(f"{path} is not a record this module wrote; move it away and run again")
    return {"undelivered": list(entry.get("undelivered", [])), "retiring": list(entry.get("retiring", []))}


def write_record(path, user, entry, uid, gid):
    """Store user's entry in the record at path (mode 0600), removing the entry, or the file, when empty."""
    text = _read(path)
    try:
        record = json.loads(text) if text else {}
    except ValueError:
        record = {}
    users = record.setdefault("users", {})
    if any(entry.values()):
        users[user] = {name: sorted(ids) for name, ids in entry.items() if ids}
    else:
        users.pop(user, None)
    if not users:
        if os.path.lexists(path):
            try:
                os.unlink(path)
            except OSError as exc:
                raise CredentialFileError(f"cannot remove {path}: {exc.strerror or exc}")
        return
    record["version"] = 1
    write_files({path: json.dumps(record, indent=1, sort_keys=True) + "\n"}, 0o600, uid, gid)
