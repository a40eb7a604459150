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

Nothing is done by path inside a directory that someone else may control. A module run as root for another
user (`owner: alice`) writes into alice's directory, where alice can rename, replace or link any entry at
any moment; an operation by path there (chmod, chown, open, unlink) could land on a file of root's. So:
  * a directory is opened as a descriptor (SafeDirectory), walking its absolute path from "/" one name at a
    time with O_NOFOLLOW | O_DIRECTORY. A link on the way is followed only when nobody but root or the user
    running the module can have made or changed it (see _trusted); the destination directory itself and the
    files are never links;
  * files are created (O_CREAT | O_EXCL | O_NOFOLLOW), read, re-moded and re-owned (fchmod, fchown) through
    their own descriptors, and renamed and removed relative to the directory's descriptor;
  * a file that is read or re-owned must be a regular file with a single link: a hard link to a root-only
    file is never read, copied or re-owned.
"""

from __future__ import annotations

import configparser
import errno
import grp
import io
import json
import os
import pwd
import re
import secrets
import stat

FORMATS = ("aws_credentials", "condor_annex", "env")
CONDOR_PUBLIC = "publicKeyFile"
CONDOR_PRIVATE = "privateKeyFile"
TEMP_PREFIX = ".cloudburst-"

# The options that make a profile's credentials temporary. botocore takes aws_security_token (the old name)
# before aws_session_token; aws_session_expiration is sts_session's note of the expiry.
TOKEN_OPTIONS = ("aws_session_token", "aws_security_token")
EXPIRATION_OPTION = "aws_session_expiration"

# O_PATH: walking through a directory needs only search permission on it, as for a path lookup.
_WALK_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
# O_NONBLOCK: a FIFO planted in place of a file must not hang the module (it is refused after fstat).
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # as the kernel's own limit on links in one lookup
# No credential file, record or report comes near this; a bigger one planted by the directory's owner is
# refused rather than read into memory (and copied into a backup).
MAX_FILE_BYTES = 16 * 1024 * 1024


class CredentialFileError(Exception):
    pass


def target_paths(fmt, dest):
    if fmt == "condor_annex":
        return [os.path.join(dest, CONDOR_PUBLIC), os.path.join(dest, CONDOR_PRIVATE)]
    return [dest]


# --- directories, walked from "/" --------------------------------------------------------------------------

def _who(uid):
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _link_refused(path, info):
    return CredentialFileError(
        f"{path} is a symbolic link owned by {_who(info.st_uid)}; credential files and their directories must be "
        "real files and directories (links are never followed)")


def _trusted(link, directory):
    """Whether a link met on the way to a destination may be followed: nobody but root or the user running the
    module can have made it or can change it (it is theirs, in a directory of theirs that group and others
    cannot write, or that is sticky, like /tmp)."""
    mine = (0, os.geteuid())
    directory_safe = directory.st_uid in mine and (
        not directory.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or directory.st_mode & stat.S_ISVTX)
    return link.st_uid in mine and directory_safe


def _names(path):
    return [name for name in path.split("/") if name not in ("", ".")]


class SafeDirectory:
    """An open directory; every operation is relative to its descriptor, never by path."""

    def __init__(self, fd, path):
        self.fd, self.path = fd, path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def join(self, name):
        return os.path.join(self.path, name)

    def lstat(self, name):
        """The entry name's own status (a link's, not its target's), or None if there is none."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open_file(self, name):
        """(descriptor, status) of the regular file name, or (None, None) if there is none.

        Refused: a link, anything but a regular file (looked at before opening, so no FIFO or device is
        opened), and a file with more than one link (a hard link to another user's file).
        """
        path = self.join(name)
        seen = self.lstat(name)
        if seen is None:
            return None, None
        _check_regular(path, seen)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link_refused(path, self.lstat(name) or seen)
            raise CredentialFileError(f"cannot read {path}: {exc.strerror or exc}")
        info = os.fstat(fd)
        try:
            _check_regular(path, info)
            if (info.st_dev, info.st_ino) != (seen.st_dev, seen.st_ino):
                raise CredentialFileError(f"{path} was replaced while it was opened; run the task again")
        except CredentialFileError:
            os.close(fd)
            raise
        return fd, info

    def read(self, name):
        """(bytes, status) of the regular file name (see open_file), or (None, None) if there is none."""
        fd, info = self.open_file(name)
        if fd is None:
            return None, None
        try:
            with os.fdopen(fd, "rb") as stream:
                return stream.read(), info
        except OSError as exc:
            raise CredentialFileError(f"cannot read {self.join(name)}: {exc.strerror or exc}")

    def create(self, content, mode, uid, gid):
        """(name, status) of a new temporary file holding content, with mode and owner already final.

        Made with O_EXCL | O_NOFOLLOW under a random name; mode and owner are set on the descriptor, so a
        name swapped meanwhile changes nothing but the directory's own entries.
        """
        for _attempt in range(100):
            name = TEMP_PREFIX + secrets.token_hex(8)
            try:
                fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=self.fd)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(errno.EEXIST, "no free temporary name")
        try:
            with os.fdopen(fd, "wb", closefd=False) as stream:
                stream.write(content)
                stream.flush()
                os.fsync(fd)
            os.fchmod(fd, mode)
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
            info = os.fstat(fd)
        except BaseException:
            self.discard(name)
            raise
        finally:
            os.close(fd)
        return name, info

    def replace(self, source, target):
        os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def unlink(self, name):
        os.unlink(name, dir_fd=self.fd)

    def discard(self, name):
        """Remove the entry name if it is there (tidying up; errors do not matter)."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except OSError:
            pass

    def make_directory(self, name, uid, gid):
        """Create the subdirectory name (0700, owner uid/gid) and return it open."""
        os.mkdir(name, 0o700, dir_fd=self.fd)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except BaseException:
            self.remove_directory(name)
            raise
        made = SafeDirectory(fd, self.join(name))
        try:
            os.fchmod(fd, 0o700)  # mkdir's mode is filtered by the umask
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
        except BaseException:
            made.close()
            self.remove_directory(name)
            raise
        return made

    def remove_directory(self, name):
        try:
            os.rmdir(name, dir_fd=self.fd)
        except OSError:
            pass


def _check_regular(path, info):
    if stat.S_ISLNK(info.st_mode):
        raise _link_refused(path, info)
    if not stat.S_ISREG(info.st_mode):
        raise CredentialFileError(f"{path} is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise CredentialFileError(f"{path} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB; it is not a "
                                  "file this module wrote, so it is not read or replaced")
    if info.st_nlink != 1:
        raise CredentialFileError(
            f"{path} has {info.st_nlink} hard links; a credential file must have one (another link could be "
            "another user's file), so it is not read, replaced or re-owned. Remove it and run the task again")


def _walk(path):
    """(SafeDirectory of the deepest existing directory on path, [the names below it that do not exist]).

    path is walked from "/" one name at a time, each opened with O_NOFOLLOW | O_DIRECTORY relative to the
    one before. A link on the way is followed only if _trusted; the last name of path is never followed.
    """
    path = os.path.abspath(path)
    pending = _names(path)
    stack = [(os.open("/", _WALK_FLAGS), "/")]
    links = 0
    try:
        while pending:
            name = pending.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop()[0])
                continue
            fd, where = stack[-1]
            here = os.path.join(where, name)
            try:
                stack.append((os.open(name, _WALK_FLAGS, dir_fd=fd), here))
                continue
            except FileNotFoundError:
                if ".." in pending:
                    raise CredentialFileError(f"{path} cannot be reached: {here} does not exist")
                return SafeDirectory(*stack.pop()), [name] + pending
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise CredentialFileError(f"cannot open {here}: {exc.strerror or exc}")
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISLNK(info.st_mode):
                raise CredentialFileError(f"{here} exists and is not a directory")
            if not pending:
                raise _link_refused(here, info)
            parent = os.fstat(fd)
            if not _trusted(info, parent):
                raise CredentialFileError(
                    f"{here} is a symbolic link owned by {_who(info.st_uid)}, in {where} (owned by "
                    f"{_who(parent.st_uid)}, mode {stat.S_IMODE(parent.st_mode):04o}), on the way to {path}. "
                    "Another user could point it anywhere, so credential files are never read or written through "
                    "it: a link on the way is followed only when root or the user running the module owns it and "
                    "its directory (which group and others cannot write). Give the real path")
            links += 1
            if links > MAX_LINKS:
                raise CredentialFileError(f"{path} cannot be reached: more than {MAX_LINKS} links on the way")
            target = os.readlink(name, dir_fd=fd)
            if target.startswith("/"):
                while len(stack) > 1:
                    os.close(stack.pop()[0])
            pending = _names(target) + pending
        return SafeDirectory(*stack.pop()), []
    finally:
        for fd, _where in stack:
            os.close(fd)


def open_directory(path):
    """The existing directory path as a SafeDirectory (see _walk)."""
    found, missing = _walk(path)
    if missing:
        found.close()
        raise CredentialFileError(f"directory {path} does not exist")
    return found


def directory_exists(path):
    """Whether the directory path exists (reached as _walk reaches it: a link on the way may be refused)."""
    found, missing = _walk(path)
    found.close()
    return not missing


def _parent(path):
    """(SafeDirectory of path's directory, the file's name); (None, name) when the directory does not exist."""
    directory, name = os.path.split(os.path.abspath(path))
    found, missing = _walk(directory)
    if missing:
        found.close()
        return None, name
    return found, name


def read_file(path):
    """(text, status) of the credential file at path, or (None, None) when it or its directory does not
    exist. Read through descriptors as SafeDirectory.open_file says: links, other kinds of file and files
    with more than one link are refused."""
    folder, name = _parent(path)
    if folder is None:
        return None, None
    with folder:
        data, info = folder.read(name)
    if data is None:
        return None, None
    return data.decode("utf-8", "surrogateescape"), info


def _read(path):
    return read_file(path)[0]


def file_status(path):
    """The status of the entry at path itself (a link's own), or None when there is none."""
    folder, name = _parent(path)
    if folder is None:
        return None
    with folder:
        return folder.lstat(name)


# --- credentials files (INI), read the way botocore reads them ----------------------------------------------
#
# botocore reads ~/.aws/credentials with configparser.RawConfigParser() (botocore.configloader.raw_config_parse):
# strict (a repeated section or option is an error), "#" and ";" comment lines, "=" or ":" between name and
# value, names lower-cased, a [DEFAULT] section that every profile inherits, and values that continue on the
# following lines indented deeper than the option's own line. A profile's lines are found by classifying
# every line exactly as configparser does; every write is then read back by configparser and refused if any
# other profile would read differently.

def _lines(text):
    """text as lines with their endings, split at \\n, \\r\\n and \\r only: where Python's universal newlines
    split a file for configparser (str.splitlines would also split at \\x0b, \\x1c, \\u2028, ...)."""
    return list(io.StringIO(text, newline=""))


def _classify(lines):
    """configparser's reading of each line, as [(kind, section, option)].

    kind: "blank" (empty or a comment), "header", "option", "continuation" (of option, deeper indented than
    the option's line), or "error". This follows RawConfigParser._read with its default settings.
    """
    kinds = []
    section = option = None
    in_section = False
    indent_level = 0
    for line in lines:
        value = line.strip()
        if not value or value.startswith(("#", ";")):
            kinds.append(("blank", section, option))
            continue
        indent = re.search(r"\S", line).start()
        if in_section and option and indent > indent_level:
            kinds.append(("continuation", section, option))
            continue
        indent_level = indent
        header = configparser.RawConfigParser.SECTCRE.match(value)
        if header:
            section, option, in_section = header.group("header"), None, True
            kinds.append(("header", section, None))
            continue
        found = configparser.RawConfigParser.OPTCRE.match(value) if in_section else None
        if found:
            option = found.group("option").rstrip().lower()
            kinds.append(("option", section, option))
        else:
            kinds.append(("error", section, option))
    return kinds


def _parse(text, path, check_nested=True):
    """text read by configparser as botocore reads a credentials file; refused when botocore could not."""
    parser = configparser.RawConfigParser()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CredentialFileError(f"{path} is not UTF-8 text, so botocore cannot read it; fix it by hand")
    try:
        parser.read_file(io.StringIO(text, newline=None), source=path)
    except configparser.Error as exc:
        raise CredentialFileError(
            f"{path} is not a credentials file that botocore can read ({_parse_problem(exc)}), so no profile in "
            "it works; this module does not repair it. Fix it by hand and run the task again")
    if check_nested:
        _view(parser, path)  # botocore also refuses a nested value it cannot read
    return parser


def _parse_problem(exc):
    """What is wrong, by line number and name: the text of a bad line could hold a secret."""
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno}: section [{exc.section}] appears twice"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno}: option {exc.option} appears twice in section [{exc.section}]"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno} comes before the first [section] header"
    if isinstance(exc, configparser.ParsingError):
        numbers = ", ".join(str(number) for number, _line in exc.errors)
        return f"line {numbers}: neither a [section] header, a name = value option nor a comment"
    return type(exc).__name__


def _view(parser, path):
    """What botocore.configloader.raw_config_parse returns: {profile: {option: value}}, each profile with the
    [DEFAULT] section's options, a value that starts on the next line read as nested name = value lines."""
    view = {}
    for section in parser.sections():
        view[section] = {}
        for option in parser.options(section):
            value = parser.get(section, option)
            if value.startswith("\n"):
                nested = {}
                for line in value.splitlines():  # as botocore.configloader._parse_nested
                    name, sep, rest = line.strip().partition("=")
                    if line.strip() and not sep:
                        raise CredentialFileError(
                            f"{path} is not a credentials file that botocore can read (option {option} of [{section}] "
                            "holds a nested line without '='), so no profile in it works; this module does not "
                            "repair it. Fix it by hand and run the task again")
                    if sep:
                        nested[name.strip()] = rest.strip()
                value = nested
            view[section][option] = value
    return view


def profile_section(text, profile):
    """Where profile's section is in the text of a credentials file: (lines, start, end).

    lines are the text's lines with their endings (see _lines), so "".join(lines) == text. lines[start] is
    the profile's header and lines[start + 1:end] its options, comments and blank lines, up to the next
    section's header or the end of the file (start and end are None when the file has no such section).
    Headers are those that configparser reads as headers ("[annex] # note" is section "annex", "[ annex ]" is
    section " annex ", and an indented "[x]" under an option can be part of its value). This is the one
    reading of sections that every writer of credentials files uses.
    """
    lines = _lines(text)
    kinds = _classify(lines)
    headers = [index for index, (kind, _section, _option) in enumerate(kinds) if kind == "header"]
    start = next((index for index in headers if kinds[index][1] == profile), None)
    if start is None:
        return lines, None, None
    end = next((index for index in headers if index > start), len(lines))
    return lines, start, end


def profile_settings(text, profile, path="the credentials file"):
    """{option: value} of profile as botocore reads it from the text of a credentials file (with the options
    of [DEFAULT]), or None when it has no such section. A file botocore cannot read is refused."""
    view = _view(_parse(text, path), path)
    return view.get(profile)


def _line_ending(lines, index):
    for line in ([lines[index]] if index is not None else []) + lines:
        for ending in ("\r\n", "\n", "\r"):
            if line.endswith(ending):
                return ending
    return "\n"


def set_profile(text, profile, settings, drop=(), path="the credentials file"):
    """The text of a credentials file with profile holding settings ({option: value}).

    The options of settings and drop are taken out of the profile's section (each with its continuation
    lines), and settings are written right after its header, indented like the section's first option (so
    that no following line becomes part of their values); the profile's other lines and every other line of
    the file stay byte for byte. A new profile is added at the end. The result is read back: if any other
    profile would read differently to botocore, or the profile would not read as intended, nothing is written.
    """
    expected = _parse(text, path)
    lines, start, end = profile_section(text, profile)
    newline = _line_ending(lines, start)
    names = {name.lower() for name in list(settings) + list(drop)}
    if start is None:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        if lines and lines[-1].strip():
            lines.append(newline)
        lines += [f"[{profile}]{newline}"] + [f"{name} = {value}{newline}" for name, value in settings.items()]
    else:
        kinds = _classify(lines)
        kept = [line for index, line in enumerate(lines[start + 1:end], start + 1)
                if not (kinds[index][0] in ("option", "continuation") and kinds[index][2] in names)]
        first = next((line for line in kept + lines[end:end + 1] if line.strip() and not line.strip().startswith(
            ("#", ";"))), "")
        indent = first[:len(first) - len(first.lstrip())]
        header = lines[start] if lines[start].endswith(("\n", "\r")) else lines[start] + newline
        block = [f"{indent}{name} = {value}{newline}" for name, value in settings.items()]
        lines[start:end] = [header] + block + kept
    result = "".join(lines)
    if not expected.has_section(profile):
        expected.add_section(profile)
    for name in names:
        expected.remove_option(profile, name)
    for name, value in settings.items():
        expected.set(profile, name, value)
    written = _parse(result, path, check_nested=False)
    inherited = [name for name in drop if written.has_option(profile, name)]
    if inherited:
        raise CredentialFileError(
            f"[DEFAULT] in {path} sets {', '.join(inherited)} for every profile, so profile {profile} would still "
            "hold it beside the new credentials; remove it from [DEFAULT] and run the task again")
    try:
        view = _view(written, path)
    except CredentialFileError:
        # A new profile inherits [DEFAULT]'s values, and botocore reads them only in a profile.
        raise CredentialFileError(
            f"after writing profile {profile}, {path} would not be readable by botocore: a value in [DEFAULT] is a "
            "nested block with a line without '='. Nothing was written; fix [DEFAULT] by hand")
    if view != _view(expected, path):
        raise CredentialFileError(
            f"writing profile {profile} would change how botocore reads {path} beyond that profile; nothing was "
            "written. Please report this file's layout (not its keys)")
    return result


def without_profile(dest, profile):
    """The text of the credentials file dest with profile's section removed, or None if it has none."""
    return _without_profile(_read(dest) or "", profile, dest)


def _without_profile(text, profile, path):
    expected = _parse(text, path)
    lines, start, end = profile_section(text, profile)
    if start is None:
        return None
    del lines[start:end]
    remaining = "".join(lines)
    expected.remove_section(profile)
    try:
        same = _view(_parse(remaining, path), path) == _view(expected, path)
    except CredentialFileError:
        same = False
    if not same:
        # Only when the next section's header is indented deeper than the option before the removed section.
        raise CredentialFileError(
            f"removing profile {profile} from {path} would change how botocore reads the profile after it (its "
            "indented [header] would become part of the value before); nothing was changed. Remove the "
            "indentation of that header, or the profile, by hand")
    return remaining


def remove_profile(dest, profile, check_mode):
    """Remove profile's section from the credentials file dest, keeping the file's mode and owner (read from
    the same descriptor as its text). Returns whether there was one."""
    text, info = read_file(dest)
    remaining = _without_profile(text, profile, dest) if text is not None else None
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
        text = _read(os.path.join(dest, CONDOR_PUBLIC))
        # The secret is not read, only looked at: a missing or empty privateKeyFile means no key is held.
        private = file_status(os.path.join(dest, CONDOR_PRIVATE))
        if private is not None and (stat.S_ISREG(private.st_mode) or stat.S_ISLNK(private.st_mode)):
            _check_regular(os.path.join(dest, CONDOR_PRIVATE), private)
        if not text or not text.strip() or private is None or not stat.S_ISREG(private.st_mode) \
                or private.st_size == 0:
            return None
        return text.strip()
    text = _read(dest)
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
    return {dest: set_profile(_read(dest) or "", profile, settings, TOKEN_OPTIONS + (EXPIRATION_OPTION,), dest)}


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
    found, missing = _walk(directory)
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
    found, missing = _walk(directory)
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
                raise _link_refused(path, existing)
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
        folder, name = _parent(path)
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
    folder, name = _parent(path)
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
        remove_files([path], False)
        return
    record["version"] = 1
    write_files({path: json.dumps(record, indent=1, sort_keys=True) + "\n"}, 0o600, uid, gid)
