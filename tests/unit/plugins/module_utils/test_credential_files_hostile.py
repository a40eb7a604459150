# -*- coding: utf-8 -*-
"""Root writes keys for another user (owner: nobody) into that user's directories while the user attacks.

The attacker (tests/rig/hostile_neighbour.py) is a real unprivileged process that owns the destinations. It swaps
every entry it sees for a link to a root-only file, renames the destination directory away for a link to a
root-only directory, and tries hard links, during several hundred writes through credential_files' real
writers and readers. Nothing outside the destinations may change owner, mode or content.
"""
from __future__ import annotations

import os
import signal

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_access_key import AccessKeyManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import read_seed_file
from ansible_collections.cloudburst.aws.plugins.module_utils.sts_session import render_session_profile
from rig.hostile_neighbour import NOBODY_GID, NOBODY_UID, Neighbour, Playground, needs_root_reason

pytestmark = pytest.mark.skipif(needs_root_reason() is not None, reason=str(needs_root_reason()))

ROUNDS = 120
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SESSION = {"AccessKeyId": "ASIAHOSTILE", "SecretAccessKey": "session-secret", "SessionToken": "session-token"}


class StubModule:
    """What AccessKeyManager reads of its AnsibleModule, for its file-mode fix."""

    check_mode = False
    params = {"user_name": "alice", "mode": "0600"}


def key_file_fixer(condor):
    """iam_access_key's own fix of the key files' mode and owner, run as a rerun without rotation runs it."""
    manager = AccessKeyManager(StubModule(), client=None)
    manager.mode, manager.uid, manager.gid = 0o600, NOBODY_UID, NOBODY_GID
    manager.out["files"] = files.target_paths("condor_annex", condor)
    return manager.fix_file_modes


@pytest.fixture
def playground():
    ground = Playground()
    yield ground
    ground.cleanup()


def tidy(ground, neighbour):
    """With the attacker stopped, take away the links it left in the destinations, so that the next round
    writes again (instead of every write being refused at the first link)."""
    os.kill(neighbour.pid, signal.SIGSTOP)
    os.waitpid(neighbour.pid, os.WUNTRACED)
    try:
        for name in (".condor", ".aws"):
            path = os.path.join(ground.home, name)
            if os.path.islink(path):
                os.unlink(path)
            if os.path.isdir(path + ".moved") and not os.path.lexists(path):
                os.rename(path + ".moved", path)
            if os.path.isdir(path) and not os.path.islink(path):
                for entry in os.listdir(path):
                    if os.path.islink(os.path.join(path, entry)):
                        os.unlink(os.path.join(path, entry))
    finally:
        os.kill(neighbour.pid, signal.SIGCONT)


def one_round(ground, number, outcomes):
    """One key delivery the way iam_access_key makes it, as root for the attacker: directories, probe,
    condor files, a credentials profile, the record, the readers, and a profile's removal."""
    condor = os.path.join(ground.home, ".condor")
    aws = os.path.join(ground.home, ".aws")
    credentials = os.path.join(aws, "credentials")
    record = files.record_path(condor)
    seed = os.path.join(aws, "mfa-seed")
    key_id, secret = f"AKIDHOSTILE{number:09d}", f"hostile-secret-{number}"
    steps = [
        lambda: files.prepare_directory(condor, True, NOBODY_UID, NOBODY_GID, False),
        lambda: files.check_writable(condor, False),
        lambda: files.write_record(record, "alice", {"undelivered": [key_id], "retiring": []}, NOBODY_UID, NOBODY_GID),
        lambda: files.write_files(files.render("condor_annex", condor, None, key_id, secret), 0o600,
                                  NOBODY_UID, NOBODY_GID),
        lambda: files.prepare_directory(aws, True, NOBODY_UID, NOBODY_GID, False),
        lambda: files.write_files(files.render("aws_credentials", credentials, "annex", key_id, secret), 0o600,
                                  NOBODY_UID, NOBODY_GID),
        lambda: files.write_files(files.render("aws_credentials", credentials, "other", key_id, secret), 0o600,
                                  NOBODY_UID, NOBODY_GID),
        lambda: files.read_key_id("condor_annex", condor, None),
        lambda: files.read_key_id("aws_credentials", credentials, "annex"),
        lambda: files.read_record(record, "alice"),
        lambda: files.write_record(record, "alice", {"undelivered": [], "retiring": []}, NOBODY_UID, NOBODY_GID),
        lambda: files.write_files({credentials: files.without_profile(credentials, "other") or ""}, 0o600,
                                  NOBODY_UID, NOBODY_GID),
        key_file_fixer(condor),
        lambda: files.write_files({seed: SEED + "\n"}, 0o600, NOBODY_UID, NOBODY_GID),  # iam_mfa_device
        lambda: read_seed_file(seed),  # sts_session, iam_mfa_device
        lambda: files.write_files({credentials: render_session_profile(credentials, "mfa", SESSION, "2030-01-01")},
                                  0o600, NOBODY_UID, NOBODY_GID),  # sts_session
    ]
    outcomes["steps"] = len(steps)
    for step in steps:
        try:
            step()
            outcomes["done"] += 1
        except (files.CredentialFileError, IamInputError, OSError) as exc:
            # The attacker may make a write fail (that is its right in its own directory), never succeed elsewhere.
            outcomes["refused"] += 1
            outcomes.setdefault("examples", set()).add(type(exc).__name__ + ": " + str(exc)[:80])


def test_symlink_races_by_the_owner_never_touch_a_file_outside_the_destination(playground):
    before = playground.outside()
    outcomes = {"done": 0, "refused": 0}
    watched = [playground.home, os.path.join(playground.home, ".condor"), os.path.join(playground.home, ".aws")]
    with Neighbour(watched, playground.link_targets) as neighbour:
        for number in range(ROUNDS):
            one_round(playground, number, outcomes)
            if number % 5 == 4:
                tidy(playground, neighbour)
    after = playground.outside()
    changed = {path: (before[path], after.get(path)) for path in before if before[path] != after.get(path)}
    assert not changed, f"the attacker changed root's files through the writer: {changed}"
    assert after.keys() == before.keys()
    # Several hundred writes and reads went through the real code, and the attacker did get in the way.
    assert outcomes["done"] + outcomes["refused"] == ROUNDS * outcomes["steps"]
    assert outcomes["done"] >= ROUNDS, outcomes
    assert outcomes["refused"] > 0, outcomes


def test_a_linked_ancestor_owned_by_the_user_is_refused_and_nothing_is_left_behind(playground):
    real = os.path.join(playground.home, "real")
    linked = os.path.join(playground.home, "linked")
    os.mkdir(real)
    os.chown(real, NOBODY_UID, NOBODY_GID)
    os.symlink(real, linked)
    os.lchown(linked, NOBODY_UID, NOBODY_GID)
    condor = os.path.join(linked, ".condor")
    credentials = os.path.join(linked, "credentials")
    tree = playground.tree()
    message = f"{linked} is a symbolic link owned by nobody"
    refusals = [
        lambda: files.prepare_directory(condor, True, NOBODY_UID, NOBODY_GID, False),
        lambda: files.prepare_directory(condor, True, NOBODY_UID, NOBODY_GID, True),
        lambda: files.check_writable(condor, False),
        lambda: files.check_writable(linked + "/", True),
        lambda: files.write_files({credentials: "x\n"}, 0o600, NOBODY_UID, NOBODY_GID),
        lambda: files.render("aws_credentials", credentials, "annex", "AKIDX", "s"),
        lambda: files.read_key_id("aws_credentials", credentials, "annex"),
        lambda: files.read_key_id("condor_annex", condor, None),
        lambda: files.read_record(files.record_path(condor), "alice"),
        lambda: files.write_record(files.record_path(linked), "alice", {"undelivered": ["A"], "retiring": []},
                                   NOBODY_UID, NOBODY_GID),
        lambda: files.remove_files([credentials], False),
    ]
    for refusal in refusals:
        with pytest.raises(files.CredentialFileError, match=message):
            refusal()
    assert playground.tree() == tree  # no directory, no temporary file, nothing
    assert os.listdir(real) == []
