# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The controller's own record of the instances it launched for one cluster.

Tags say what an instance claims to be; anyone allowed to launch with the cluster's tags can claim it. What this
controller launched is known only here: the ids RunInstances returned, and the client token of every RunInstances
written down before the call, so that the instances of a call whose answer was lost are still recognised.

One JSON file per cluster, mode 0600, in a directory of the controller's user with mode 0700; it is replaced
atomically (a temporary file in the same directory, fsync, rename) under an exclusive lock (``<file>.lock``), so that
two runs on the same cluster never lose each other's records. A file or directory that others may write, that
belongs to someone else or that is a symbolic link is refused: whoever can write the records decides what is
trusted.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import tempfile
import time

from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError

VERSION = 1
# A client token written down before a RunInstances whose instances were never seen is dropped after this long: EC2
# keeps a token's idempotency for at least a day after the instances terminate, not for ever.
PENDING_TTL = 24 * 3600
# How far before the token was written down an instance under that token may have been launched (clock skew).
CLOCK_SKEW = 300


class LaunchRecordsError(CloudburstError):
    """The records cannot be trusted or used (ownership, mode, content); nothing was changed."""


def _mode(st):
    return f"{stat.S_IMODE(st.st_mode):04o}"


class LaunchRecords:
    """The launch records of one cluster at path; write=False opens them read-only (check mode, _info modules).

    data is {"version": 1, "cluster": NAME, "instances": {ID: RECORD}, "pending": {TOKEN: RECORD}}, where a
    RECORD holds role, image_id, key_name, client_token, tags (as launched) and, for pending ones, count and
    recorded_at (epoch seconds).
    """

    def __init__(self, path, cluster, write=True, lock_timeout=600, sleep=time.sleep, clock=time.monotonic):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.directory = os.path.dirname(self.path)
        self.cluster = cluster
        self.write = write
        self.exists = False
        self.dirty = False
        self.data = {"version": VERSION, "cluster": cluster, "instances": {}, "pending": {}}
        self._lock_timeout = lock_timeout
        self._lock_fd = None
        self._sleep = sleep
        self._clock = clock

    # --- opening -----------------------------------------------------------------------------------------

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        if not self._check_directory():
            return self
        if self.write:
            self._lock()
        try:
            self._load()
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _check_directory(self):
        """Check (or, when writing, create 0700) the directory; False when it is missing and may not be created."""
        try:
            st = os.lstat(self.directory)
        except FileNotFoundError:
            if not self.write:
                return False
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            os.chmod(self.directory, 0o700)
            st = os.lstat(self.directory)
        if not stat.S_ISDIR(st.st_mode):
            raise LaunchRecordsError(f"{self.directory}, the directory of the launch records, is not a directory "
                                     "(a symbolic link is refused too); nothing was changed.")
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise LaunchRecordsError(
                f"{self.directory}, the directory of the launch records, must belong to you (uid {os.geteuid()}) "
                f"with mode 0700, as anyone who can write there decides which instances get the cluster's secrets; it "
                f"belongs to uid {st.st_uid} with mode {_mode(st)}. Fix it (chmod 700) or choose another place; "
                "nothing was changed.")
        return True

    def _lock(self):
        lock_path = self.path + ".lock"
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        deadline = self._clock() + self._lock_timeout
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or self._clock() >= deadline:
                    self.close()
                    raise LaunchRecordsError(
                        f"another run holds the launch records of cluster {self.cluster} ({lock_path}) and did not "
                        f"let go within {self._lock_timeout} s; nothing was changed.") from exc
                self._sleep(1)

    def _load(self):
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LaunchRecordsError(f"launch records {self.path} is a symbolic link; "
                                         "nothing was changed.") from exc
            raise
        with os.fdopen(fd, "r", encoding="utf-8") as stream:
            st = os.fstat(stream.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
                raise LaunchRecordsError(
                    f"launch records {self.path} must be a file of yours (uid {os.geteuid()}) with mode 0600; it "
                    f"belongs to uid {st.st_uid} with mode {_mode(st)}. Nothing was changed.")
            try:
                data = json.load(stream)
            except ValueError as exc:
                raise LaunchRecordsError(f"launch records {self.path} is not JSON ({exc}); "
                                         "nothing was changed.") from exc
        if not (isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("instances"), dict)
                and isinstance(data.get("pending"), dict)
                and all(isinstance(r, dict) for part in ("instances", "pending") for r in data[part].values())):
            raise LaunchRecordsError(f"{self.path} is not a cloudburst.aws launch records file (version {VERSION}); "
                                     "nothing was changed.")
        if data.get("cluster") != self.cluster:
            raise LaunchRecordsError(f"{self.path} holds the launch records of cluster {data.get('cluster')!r}, not "
                                     f"{self.cluster!r}: give each cluster its own file. Nothing was changed.")
        self.data = data
        self.exists = True

    # --- the records -------------------------------------------------------------------------------------

    @property
    def instances(self):
        return self.data["instances"]

    @property
    def pending(self):
        return self.data["pending"]

    def expect(self, token, record, now):
        """Write down a client token before the RunInstances that carries it (saved at once)."""
        self.pending[token] = dict(record, recorded_at=now)
        self.dirty = True
        self.save()

    def confirm(self, token, instances):
        """The RunInstances under token answered: its instances are ours, the token is no longer pending."""
        record = self.pending.pop(token)
        for instance in instances:
            self.add(instance, record)
        self.dirty = True
        self.save()

    def add(self, instance, record, **extra):
        kept = {k: record.get(k) for k in ("role", "image_id", "key_name", "tags")}
        kept.update(client_token=instance.get("ClientToken") or record.get("client_token"), **extra)
        self.instances[instance["InstanceId"]] = kept
        self.dirty = True
        return kept

    def forget(self, ids):
        for instance_id in ids:
            if self.instances.pop(instance_id, None) is not None:
                self.dirty = True

    def drop_pending(self, token):
        self.pending.pop(token, None)
        self.dirty = True

    def save(self):
        """Replace the file atomically with the records, when they changed and may be written."""
        if not self.write or not self.dirty:
            return
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(self.data, stream, indent=1, sort_keys=True)
                stream.write("\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self.exists = True
        self.dirty = False
