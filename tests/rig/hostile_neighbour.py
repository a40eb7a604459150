# -*- coding: utf-8 -*-
"""A hostile local user for the credential-file tests: an unprivileged process that owns a destination
directory and, while root writes keys into it for that user, swaps every entry it sees for a link to a
root-only file, renames the directory itself away for a link to a root-only directory, and tries hard links.

Used by tests/unit/plugins/module_utils/test_credential_files_hostile.py and
tests/integration/test_iam_access_key_hostile_owner.py. Needs root (the tests skip otherwise).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import random
import select
import signal
import stat
import struct
import tempfile
import time

NOBODY_UID = NOBODY_GID = 65534
RECORD = ".cloudburst-access-keys.json"


def is_temporary(name):
    """The writer's temporary files, backups and probes (its record has the same prefix)."""
    return name.startswith(".cloudburst-") and name != RECORD


def needs_root_reason():
    """Why these tests cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the attack needs root to write for another user and an unprivileged attacker uid"
    return None


class Playground:
    """A world-traversable base under /tmp: root-only canaries beside a home owned by the attacker uid.

    base/            root 0755
      canary         root 0640, a root-only file outside the destination
      vault/         root 0700, root-only directory (a link target for the destination directory)
        secret       root 0600
      home/          attacker 0755 (the user's home; its .condor and .aws are the destinations)
    """

    def __init__(self, uid=NOBODY_UID, gid=NOBODY_GID):
        self.uid, self.gid = uid, gid
        self.base = tempfile.mkdtemp(prefix="cloudburst-hostile-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.canary = os.path.join(self.base, "canary")
        self.vault = os.path.join(self.base, "vault")
        self.vault_secret = os.path.join(self.vault, "secret")
        self.home = os.path.join(self.base, "home")
        with open(self.canary, "w") as stream:
            stream.write("[default]\naws_access_key_id = ROOTS-OWN\naws_secret_access_key = roots-own-secret\n")
        os.chmod(self.canary, 0o640)
        os.mkdir(self.vault, 0o700)
        os.chmod(self.vault, 0o700)
        with open(self.vault_secret, "w") as stream:
            stream.write("root's secret\n")
        os.chmod(self.vault_secret, 0o600)
        os.mkdir(self.home, 0o755)
        os.chmod(self.home, 0o755)
        os.chown(self.home, uid, gid)
        # Only the playground's own canaries: run against a vulnerable writer, a system file would really be
        # handed to the attacker.
        self.link_targets = [self.canary, self.vault_secret, self.vault]

    def outside(self):
        """{path: (type, uid, gid, mode, nlink, digest)} of everything root owns here outside the home: none of
        it may change while the attacker plays."""
        found = {}
        for path in [self.base, self.canary, self.vault] + [
                os.path.join(self.vault, name) for name in sorted(os.listdir(self.vault))]:
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                digest = ",".join(sorted(os.listdir(path)))
            else:
                with open(path, "rb") as stream:
                    digest = hashlib.sha256(stream.read()).hexdigest()
            found[path] = (stat.S_IFMT(info.st_mode), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode),
                           info.st_nlink, digest)
        return found

    def tree(self, top=None):
        """Every path under top (the home by default), for "nothing left behind" checks."""
        top = top or self.home
        paths = []
        for directory, subdirs, names in os.walk(top):
            paths.extend(os.path.join(directory, name) for name in subdirs + names)
        return sorted(paths)

    def cleanup(self):
        for directory, subdirs, names in os.walk(self.base, topdown=False):
            for name in names + subdirs:
                path = os.path.join(directory, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                else:
                    os.unlink(path)
        os.rmdir(self.base)


class Neighbour:
    """The attacker: a forked child that drops to uid/gid 65534 and races in watched directories until stopped.

    Woken by inotify the moment the writer creates a name, and in a pass over each watched directory every
    few milliseconds, it replaces the entries (temporary files, key files, the record) with a symbolic link to
    a root-only target (an atomic rename of a fresh link over the name), or loosens the mode of its own files
    (so that root's mode fix runs), tries to plant hard links to root-only files, and now and then renames a
    watched directory away and puts a link to a root-only directory in its place, putting it back a moment
    later.
    """

    def __init__(self, watched, targets, uid=NOBODY_UID, gid=NOBODY_GID, seed=0, settled_rate=1.0,
                 directory_every=50):
        """settled_rate: the share of passes in which names other than the writer's temporary ones (the key
        files, the record) are swapped too; below 1 the writer gets further between its failures.
        directory_every: how many passes apart the watched directories themselves are swapped."""
        self.watched, self.targets, self.uid, self.gid, self.seed = list(watched), list(targets), uid, gid, seed
        self.settled_rate, self.directory_every = settled_rate, directory_every
        self.pid = None

    def __enter__(self):
        self.pid = os.fork()
        if self.pid == 0:  # the attacker
            try:
                os.setgroups([])
                os.setgid(self.gid)
                os.setuid(self.uid)
                self._race()
            finally:
                os._exit(0)
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return False

    def _race(self):
        rng = random.Random(self.seed)
        events = _Inotify()
        counter = 0
        while True:
            counter += 1
            # Woken by the kernel as soon as the writer creates or renames a name: the fastest attacker there is.
            for directory in self.watched:
                events.watch(directory)
            for directory, name in events.read(timeout=0.002):
                if is_temporary(name) or rng.random() < self.settled_rate:
                    self._swap(directory, name, rng, counter)
            if counter % 5:
                continue
            for directory in self.watched:  # and a look at everything now and then
                try:
                    names = os.listdir(directory)
                except OSError:
                    continue
                settled_too = rng.random() < self.settled_rate
                for name in names:
                    if settled_too or is_temporary(name):
                        self._swap(directory, name, rng, counter)
                if counter % self.directory_every == 0:
                    self._swap_directory(directory, rng)

    def _swap(self, directory, name, rng, counter):
        """Replace the entry name by a link (or a hard link) to a root-only file, or loosen its mode."""
        if name.startswith(".swap-"):
            return
        path = os.path.join(directory, name)
        spare = os.path.join(directory, f".swap-{counter}")
        try:
            if rng.random() < 0.2:
                os.chmod(path, 0o644)  # its own file: so that root's mode fix has work to do
                return
            if rng.random() < 0.1:
                os.link(rng.choice(self.targets[:2]), spare)  # refused by protected_hardlinks here
            else:
                os.symlink(rng.choice(self.targets), spare)
            os.rename(spare, path)
        except OSError:
            _quietly(os.unlink, spare)

    def _swap_directory(self, directory, rng):
        moved = directory + ".moved"
        try:
            os.rename(directory, moved)
        except OSError:
            return
        try:
            os.symlink(rng.choice([self.targets[2], os.path.dirname(self.targets[0])]), directory)
            time.sleep(0.002)
            os.unlink(directory)
        except OSError:
            pass
        _quietly(os.rename, moved, directory)


class _Inotify:
    """Linux inotify through ctypes: the names created in, or renamed into, watched directories."""

    IN_MOVED_TO, IN_CREATE, IN_ONLYDIR, IN_DONT_FOLLOW = 0x80, 0x100, 0x01000000, 0x02000000

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self.paths = {}

    def watch(self, directory):
        mask = self.IN_CREATE | self.IN_MOVED_TO | self.IN_ONLYDIR | self.IN_DONT_FOLLOW
        wd = self.libc.inotify_add_watch(self.fd, directory.encode(), mask)
        if wd >= 0:
            self.paths[wd] = directory

    def read(self, timeout):
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        found, offset = [], 0
        while offset < len(data):
            wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode()
            offset += 16 + length
            if wd in self.paths and name:
                found.append((self.paths[wd], name))
        return found


def _quietly(call, *args):
    try:
        call(*args)
    except OSError:
        pass
