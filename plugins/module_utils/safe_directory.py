# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Files and directories reached through descriptors, so that a user who controls a directory cannot turn
the writer against any other file.

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

import errno
import os
import pwd
import secrets
import stat

from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError

TEMP_PREFIX = ".cloudburst-"

# O_PATH: walking through a directory needs only search permission on it, as for a path lookup.
_WALK_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
# O_NONBLOCK: a FIFO planted in place of a file must not hang the module (it is refused after fstat).
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # as the kernel's own limit on links in one lookup
# No credential file, record or report comes near this; a bigger one planted by the directory's owner is
# refused rather than read into memory (and copied into a backup).
MAX_FILE_BYTES = 16 * 1024 * 1024


class CredentialFileError(CloudburstError):
    """A credential file, its directory or its owner cannot be used as asked; nothing was changed."""


def _who(uid):
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def link_refused(path, info):
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
        check_regular(path, seen)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise link_refused(path, self.lstat(name) or seen)
            raise CredentialFileError(f"cannot read {path}: {exc.strerror or exc}")
        info = os.fstat(fd)
        try:
            check_regular(path, info)
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


def check_regular(path, info):
    if stat.S_ISLNK(info.st_mode):
        raise link_refused(path, info)
    if not stat.S_ISREG(info.st_mode):
        raise CredentialFileError(f"{path} is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise CredentialFileError(f"{path} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB; it is not a "
                                  "file this module wrote, so it is not read or replaced")
    if info.st_nlink != 1:
        raise CredentialFileError(
            f"{path} has {info.st_nlink} hard links; a credential file must have one (another link could be "
            "another user's file), so it is not read, replaced or re-owned. Remove it and run the task again")


def walk(path):
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
                raise link_refused(here, info)
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
    found, missing = walk(path)
    if missing:
        found.close()
        raise CredentialFileError(f"directory {path} does not exist")
    return found


def directory_exists(path):
    """Whether the directory path exists (reached as _walk reaches it: a link on the way may be refused)."""
    found, missing = walk(path)
    found.close()
    return not missing


def parent_directory(path):
    """(SafeDirectory of path's directory, the file's name); (None, name) when the directory does not exist."""
    directory, name = os.path.split(os.path.abspath(path))
    found, missing = walk(directory)
    if missing:
        found.close()
        return None, name
    return found, name


def read_file(path):
    """(text, status) of the credential file at path, or (None, None) when it or its directory does not
    exist. Read through descriptors as SafeDirectory.open_file says: links, other kinds of file and files
    with more than one link are refused."""
    folder, name = parent_directory(path)
    if folder is None:
        return None, None
    with folder:
        data, info = folder.read(name)
    if data is None:
        return None, None
    return data.decode("utf-8", "surrogateescape"), info


def read_text(path):
    return read_file(path)[0]


def file_status(path):
    """The status of the entry at path itself (a link's own), or None when there is none."""
    folder, name = parent_directory(path)
    if folder is None:
        return None
    with folder:
        return folder.lstat(name)
