# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Credential files for an access key, written so that the secret is never world-readable, and so that a user
who controls the destination cannot turn the writer against any other file.

Formats:
  aws_credentials  one profile in an INI credentials file (~/.aws/credentials); other profiles are kept
                   as they are, byte for byte, and botocore reads them as it did before.
  condor_annex     the two files condor_annex reads, in the directory `dest` (~/.condor):
                   publicKeyFile holds only the key id, privateKeyFile only the secret.
  env              `export` lines for a shell.

Every file is written to a temporary file created with the final mode in the same directory and then
renamed over the old one, so a reader never sees a half-written or briefly readable file.


The files and their directories are reached through descriptors only (safe_directory.py).
"""

from __future__ import annotations

import collections
import configparser
import errno
import grp
import json
import os
import pwd
import re
import stat

from ansible_collections.cloudburst.aws.plugins.module_utils.credentials_ini import EXPIRATION_OPTION
from ansible_collections.cloudburst.aws.plugins.module_utils.credentials_ini import TOKEN_OPTIONS
from ansible_collections.cloudburst.aws.plugins.module_utils.credentials_ini import profile_settings
from ansible_collections.cloudburst.aws.plugins.module_utils.credentials_ini import set_profile
from ansible_collections.cloudburst.aws.plugins.module_utils.credentials_ini import text_without_profile
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import CredentialFileError
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import check_regular
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import file_status
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import link_refused
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import open_directory
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import parent_directory
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import read_file
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import read_text
from ansible_collections.cloudburst.aws.plugins.module_utils.safe_directory import walk

FORMATS = ("aws_credentials", "condor_annex", "env")
CONDOR_PUBLIC = "publicKeyFile"
CONDOR_PRIVATE = "privateKeyFile"


def target_paths(fmt, dest):
    if fmt == "condor_annex":
        return [os.path.join(dest, CONDOR_PUBLIC), os.path.join(dest, CONDOR_PRIVATE)]
    return [dest]


def without_profile(dest, profile):
    """The text of the credentials file dest with profile's section removed, or None if it has none."""
    return text_without_profile(read_text(dest) or "", profile, dest)


def remove_profile(dest, profile, check_mode):
    """Remove profile's section from the credentials file dest, keeping the file's mode and owner (read from
    the same descriptor as its text). Returns whether there was one."""
    text, info = read_file(dest)
    remaining = text_without_profile(text, profile, dest) if text is not None else None
    if remaining is None:
        return False
    if not check_mode:
        write_files({dest: remaining}, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    return True


# --- access-key destinations -------------------------------------------------------------------------------

# A profile name becomes a "[name]" line of an INI file: "]" or a line break in it would start another section
# (a key meant for [x] landing in [default]). The same characters IAM allows in names.
PROFILE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.+=,@-]{1,64}\Z")


def validate_profile_name(profile):
    """Raise CredentialFileError unless profile is a safe profile name."""
    if not isinstance(profile, str) or not PROFILE_NAME_PATTERN.match(profile):
        raise CredentialFileError(
            f"profile name {profile!r} is not allowed: use 1 to 64 letters, digits and the characters _.+=,@-")
    if profile == configparser.DEFAULTSECT:
        raise CredentialFileError(
            f"profile name {profile!r} is not allowed: botocore gives the options of a [{profile}] section to every "
            "profile of the file; choose another name")


def read_key_id(fmt, dest, profile):
    """The access key id recorded in dest, or None. A destination whose secret is missing or empty holds no
    key: the key must be delivered again (rotated), never taken as current without its secret."""
    if fmt == "condor_annex":
        text = read_text(os.path.join(dest, CONDOR_PUBLIC))
        # The secret is not read, only looked at: a missing or empty privateKeyFile means no key is held.
        private = file_status(os.path.join(dest, CONDOR_PRIVATE))
        if private is not None and (stat.S_ISREG(private.st_mode) or stat.S_ISLNK(private.st_mode)):
            check_regular(os.path.join(dest, CONDOR_PRIVATE), private)
        if not text or not text.strip() or private is None or not stat.S_ISREG(private.st_mode) \
                or private.st_size == 0:
            return None
        return text.strip()
    text = read_text(dest)
    if not text:
        return None
    if fmt == "env":
        match = re.search(r"^export AWS_ACCESS_KEY_ID=(\S+)$", text, re.M)
        has_secret = re.search(r"^export AWS_SECRET_ACCESS_KEY=\S+$", text, re.M)
        return match.group(1) if match and has_secret else None
    settings = profile_settings(text, profile, dest)
    if not settings or not settings.get("aws_secret_access_key"):
        return None
    key_id = settings.get("aws_access_key_id")
    return key_id if isinstance(key_id, str) and key_id else None


def render(fmt, dest, profile, key_id, secret):
    """{path: content} for the files of this format.

    A long-term key written into a profile that held temporary credentials takes their session token and
    expiry out: botocore would send the stale token with the new key, and every call would fail.
    """
    if fmt == "condor_annex":
        return {os.path.join(dest, CONDOR_PUBLIC): key_id + "\n", os.path.join(dest, CONDOR_PRIVATE): secret + "\n"}
    if fmt == "env":
        return {dest: f"export AWS_ACCESS_KEY_ID={key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}\n"}
    settings = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    return {dest: set_profile(read_text(dest) or "", profile, settings, TOKEN_OPTIONS + (EXPIRATION_OPTION,), dest)}


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
    """Make sure the directory exists; every directory this creates gets mode 0700 and owner uid/gid.

    Returns True if it would be created. A failure part way removes the directories this call made.
    """
    found, missing = walk(directory)
    opened, made = [found], []
    try:
        if not missing:
            return False
        if not create_dirs:
            raise CredentialFileError(f"directory {directory} does not exist and create_dirs is false")
        if check_mode:
            return True
        for name in missing:
            try:
                opened.append(opened[-1].make_directory(name, uid, gid))
            except OSError as exc:
                for parent, made_name in reversed(made):
                    parent.remove_directory(made_name)
                raise CredentialFileError(f"cannot create directory {directory}: {exc.strerror or exc}")
            made.append((opened[-2], name))
        return True
    finally:
        for folder in reversed(opened):
            folder.close()


def check_writable(directory, check_mode):
    """Raise CredentialFileError unless new files can be made in directory.

    Outside check mode a file is really created and removed (the only test that also holds for root and
    for read-only file systems). In check mode, and for a directory still to be made, the nearest existing
    directory is asked with access(2), which reports a read-only file system even to root.
    """
    found, missing = walk(directory)
    with found:
        if check_mode or missing:
            if not os.access(".", os.W_OK | os.X_OK, dir_fd=found.fd):
                raise CredentialFileError(f"cannot write in {directory}: {found.path} is not writable")
            return
        try:
            probe, _info = found.create(b"", 0o600, -1, -1)
            found.unlink(probe)
        except OSError as exc:
            raise CredentialFileError(f"cannot write in {directory}: {exc.strerror or exc}")


def _owner_of(info):
    """The owner to give a copy of the file: its own when this runs as root (anyone else cannot give one)."""
    return (info.st_uid, info.st_gid) if os.geteuid() == 0 else (-1, -1)


def write_files(files, mode, uid, gid):
    """Write {path: content} all or nothing; raise CredentialFileError naming the file that failed.

    Every temporary file is made first, and a copy of each file it replaces; then each is renamed into
    place. If a rename fails, or a renamed file is not the one written (its name was swapped meanwhile), the
    files already replaced get their old content back (or are removed if they did not exist).
    """
    folders = {}
    try:
        targets = []
        for path, content in files.items():
            directory, name = os.path.split(os.path.abspath(path))
            if directory not in folders:
                try:
                    folders[directory] = open_directory(directory)
                except CredentialFileError as exc:
                    raise CredentialFileError(f"cannot write {path}: {exc}")
            if isinstance(content, str):
                content = content.encode("utf-8", "surrogateescape")
            targets.append((path, folders[directory], name, content))
        _write_all(targets, mode, uid, gid)
    finally:
        for folder in folders.values():
            folder.close()


def _write_all(targets, mode, uid, gid):
    temps, backups, replaced = {}, {}, []
    try:
        for path, folder, name, content in targets:
            existing = folder.lstat(name)
            if existing is not None and stat.S_ISLNK(existing.st_mode):
                raise link_refused(path, existing)
            try:
                temps[path] = folder.create(content, mode, uid, gid)
                if existing is not None and not stat.S_ISDIR(existing.st_mode):
                    old, info = folder.read(name)
                    if old is not None:
                        backups[path] = folder.create(old, stat.S_IMODE(info.st_mode), *_owner_of(info))[0]
            except OSError as exc:
                raise CredentialFileError(f"cannot write {path}: {exc.strerror or exc}")
        for path, folder, name, _content in targets:
            temp, written = temps[path]
            try:
                folder.replace(temp, name)
                del temps[path]
                replaced.append((path, folder, name))
                now = folder.lstat(name)
                if now is None or (now.st_dev, now.st_ino) != (written.st_dev, written.st_ino):
                    raise OSError(errno.ESTALE, "its temporary file was replaced before the rename")
            except OSError as exc:
                for done, done_folder, done_name in reversed(replaced):
                    try:
                        if done in backups:
                            done_folder.replace(backups.pop(done), done_name)
                        else:
                            done_folder.unlink(done_name)
                    except OSError:
                        pass
                raise CredentialFileError(f"cannot write {path}: {exc.strerror or exc}")
    finally:
        for path, folder, _name, _content in targets:
            if path in temps:
                folder.discard(temps[path][0])
            if path in backups:
                folder.discard(backups[path])


def remove_files(paths, check_mode):
    """Remove the files at paths (each by its directory's descriptor); returns those that were there."""
    removed = []
    for path in paths:
        folder, name = parent_directory(path)
        if folder is None:
            continue
        with folder:
            if folder.lstat(name) is None:
                continue
            if not check_mode:
                try:
                    folder.unlink(name)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise CredentialFileError(f"cannot remove {path}: {exc.strerror or exc}")
        removed.append(path)
    return removed


def fix_file(path, mode, uid, gid, check_mode):
    """Give the existing file at path this mode and owner (uid/gid, -1 to leave), through its descriptor.

    Returns what differed ("mode", "owner"); outside check mode it is fixed. A link, another kind of file or
    a file with more than one link is refused (chmod or chown of a planted link would reach another file).
    """
    folder, name = parent_directory(path)
    fd = None
    if folder is not None:
        with folder:
            fd, info = folder.open_file(name)
    if fd is None:
        raise CredentialFileError(f"{path} disappeared while the task ran; run it again")
    try:
        fixes = []
        if stat.S_IMODE(info.st_mode) != mode:
            fixes.append("mode")
            if not check_mode:
                os.fchmod(fd, mode)
        if (uid != -1 and info.st_uid != uid) or (gid != -1 and info.st_gid != gid):
            fixes.append("owner")
            if not check_mode:
                os.fchown(fd, uid, gid)
    finally:
        os.close(fd)
    return fixes


class Destination(collections.namedtuple("Destination", "dest format profile directory")):
    """One place the key writer writes a key to: a credentials file's profile (aws_credentials), a directory
    of condor_annex files, or a file of export lines (env). directory is where its files are made."""

    __slots__ = ()

    @classmethod
    def of(cls, dest, fmt, profile):
        """The destination for a task's dest, format and credentials_profile; a bad profile name is refused."""
        if fmt == "aws_credentials":
            validate_profile_name(profile)
        dest = os.path.abspath(os.path.expanduser(dest))
        return cls(dest, fmt, profile, dest if fmt == "condor_annex" else os.path.dirname(dest))

    def paths(self):
        return target_paths(self.format, self.dest)

    def read_key_id(self):
        return read_key_id(self.format, self.dest, self.profile)

    def render(self, key_id, secret):
        return render(self.format, self.dest, self.profile, key_id, secret)


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
    text = read_text(path)
    entry = {}
    if text:
        try:
            entry = json.loads(text).get("users", {}).get(user, {})
        except (ValueError, AttributeError):
            raise CredentialFileError(f"{path} is not a record this module wrote; move it away and run again")
    return {"undelivered": list(entry.get("undelivered", [])), "retiring": list(entry.get("retiring", []))}


def write_record(path, user, entry, uid, gid):
    """Store user's entry in the record at path (mode 0600), removing the entry, or the file, when empty."""
    text = read_text(path)
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
        remove_files([path], False)
        return
    record["version"] = 1
    write_files({path: json.dumps(record, indent=1, sort_keys=True) + "\n"}, 0o600, uid, gid)
