# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_access_key by ansible-playbook, run as root with owner: nobody (the seed-000 use: root
writes a user's keys into the user's own directories), while that user attacks its directories
(tests/rig/hostile_neighbour.py): no file outside the destinations changes, and a link on the way that the user
owns is refused before any key exists."""

from __future__ import annotations

import os

import pytest
from conftest import run_aws_tasks
from rig.hostile_neighbour import Neighbour, Playground, needs_root_reason
from test_iam_access_key import iam, user  # noqa: F401 # pylint: disable=unused-import

pytestmark = pytest.mark.skipif(needs_root_reason() is not None, reason=str(needs_root_reason()))


@pytest.fixture
def playground():
    ground = Playground()
    yield ground
    ground.cleanup()


def key_task(**options):
    return {"cloudburst.aws.iam_access_key": dict({"owner": "nobody", "group": "nogroup"}, **options),
            "register": "out", "ignore_errors": True}


def test_playbook_runs_for_a_hostile_owner_never_touch_root_files(tmp_path, moto_server, iam, user, playground):
    condor = os.path.join(playground.home, ".condor")
    credentials = os.path.join(playground.home, ".aws", "credentials")
    present = key_task(user_name=user, dest=condor, format="condor_annex", keep_previous="delete",
                       extra_destinations=[{"dest": credentials, "credentials_profile": "annex"}])
    absent = key_task(user_name=user, dest=condor, format="condor_annex", state="absent",
                      extra_destinations=[{"dest": credentials, "credentials_profile": "annex"}])
    before = playground.outside()
    watched = [playground.home, condor, os.path.dirname(credentials)]
    # The attacker goes mostly for the writer's temporary files, so that most tasks get as far as writing.
    with Neighbour(watched, playground.link_targets, seed=21, settled_rate=0.01, directory_every=2000):
        # Deliver, re-run (the mode and owner fix), remove, deliver again: every writer and reader of the module.
        results = run_aws_tasks(tmp_path, moto_server, [present, present, absent] * 3 + [present])
    assert playground.outside() == before
    for result in results:
        # The attacker may make a task fail (in its own directory); the failure is a message, never a traceback.
        assert "Traceback" not in result.get("exception", "") and "module_stderr" not in result, result
        if result.get("failed"):
            assert result["msg"], result
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) <= 2


def test_a_link_on_the_way_owned_by_the_user_is_refused_before_any_key(tmp_path, moto_server, iam, user,
                                                                       playground):
    real = os.path.join(playground.home, "real")
    linked = os.path.join(playground.home, "linked")
    os.mkdir(real)
    os.chown(real, playground.uid, playground.gid)
    os.symlink(real, linked)
    os.lchown(linked, playground.uid, playground.gid)
    (failed,) = run_aws_tasks(tmp_path, moto_server, [key_task(user_name=user, dest=os.path.join(linked, ".condor"),
                                                               format="condor_annex")])
    assert failed["failed"] is True
    assert f"{linked} is a symbolic link owned by nobody (uid 65534)" in failed["msg"], failed["msg"]
    assert "Give the real path" in failed["msg"]
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    assert os.listdir(real) == []
