# -*- coding: utf-8 -*-
"""The lease reaper's pure logic: which instances have passed their lease, and how lease ends are read."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils import annex_lease
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import LeaseError
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import expired_instances
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import format_lease_end
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import object_prefix
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import to_datetime

NOW = datetime.datetime(2026, 11, 25, 14, 0, 0, tzinfo=datetime.timezone.utc)


def instance(instance_id, state="running", annex="a1", lease="2026-11-25T13:59:59Z"):
    tags = []
    if annex is not None:
        tags.append({"Key": "htcondor:AnnexName", "Value": annex})
    if lease is not None:
        tags.append({"Key": "cloudburst:lease-end", "Value": lease})
    return {"InstanceId": instance_id, "State": {"Name": state}, "Tags": tags}


def ids(instances):
    return [i["InstanceId"] for i in instances]


@pytest.mark.parametrize("state", ["pending", "running", "stopping", "stopped"])
def test_a_live_annex_instance_past_its_lease_is_expired(state):
    assert ids(expired_instances([instance("i-1", state=state)], NOW)) == ["i-1"]


@pytest.mark.parametrize("state", ["shutting-down", "terminated"])
def test_instances_already_going_are_left_alone(state):
    assert expired_instances([instance("i-1", state=state)], NOW) == []


def test_only_annex_instances_with_a_passed_readable_lease_count():
    instances = [
        instance("i-past"),
        instance("i-now", lease="2026-11-25T14:00:00Z"),
        instance("i-future", lease="2026-11-25T14:00:01Z"),
        instance("i-no-annex", annex=None),
        instance("i-no-lease", lease=None),
        instance("i-garbage", lease="soon"),
        instance("i-epoch", lease=str(int(NOW.timestamp()) - 1)),
        instance("i-offset", lease="2026-11-25T15:59:00+02:00"),
    ]
    assert ids(expired_instances(instances, NOW)) == ["i-past", "i-now", "i-epoch", "i-offset"]


def test_now_may_be_epoch_seconds():
    assert ids(expired_instances([instance("i-1")], NOW.timestamp())) == ["i-1"]


@pytest.mark.parametrize("value,expected", [
    ("2026-11-25T14:05:00Z", "2026-11-25T14:05:00Z"),
    ("2026-11-25T16:05:00.5+02:00", "2026-11-25T14:05:00Z"),
    ("2026-11-25T14:05:00", "2026-11-25T14:05:00Z"),
    ("1795615500", "2026-11-25T14:05:00Z"),
    (1795615500, "2026-11-25T14:05:00Z"),
])
def test_lease_ends_are_written_as_iso_8601_utc(value, expected):
    assert format_lease_end(value) == expected


@pytest.mark.parametrize("value", ["soon", "", None, True, [], "2026-13-01T00:00:00Z"])
def test_unreadable_times_are_refused(value):
    with pytest.raises(LeaseError):
        to_datetime(value)


@pytest.mark.parametrize("name", ["", "x" * 28, "a/b", "-a", "a b", None])
def test_annex_names_are_checked_before_making_a_prefix(name):
    with pytest.raises(LeaseError, match="annex name"):
        object_prefix(name)


def test_object_prefix_is_inside_condor_annexs_pattern():
    assert object_prefix("seed-000") == "config-seed-000/"


def test_the_file_runs_without_ansible_as_lambda_code(tmp_path):
    # The Lambda gets this one file: it must import with the standard library (and boto3) alone.
    source = annex_lease.__file__
    code = ("import importlib.util, sys\n"
            "sys.modules['ansible'] = None\n"
            f"spec = importlib.util.spec_from_file_location('annex_lease', {source!r})\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
            "assert callable(module.handler) and callable(module.reap)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_annex_names_map_to_clusters_one_to_one():
    import itertools

    from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import annex_cluster

    # Every name of up to four characters over an alphabet that holds the characters the escape uses.
    alphabet = "ad_.-1"
    names = [first + "".join(rest) for first in "ad1" for size in range(4)
             for rest in itertools.product(alphabet, repeat=size)]
    clusters = [annex_cluster(name, "annex-") for name in names]
    assert len(set(clusters)) == len(names)
    assert annex_cluster("a.b", "annex-") != annex_cluster("a_b", "annex-")
    # Names without '.' keep the cluster they were launched in before.
    assert all(annex_cluster(n, "annex-") == "annex-" + n for n in names if "." not in n)
    # Every cluster is one the EC2 layer takes, up to the longest name.
    longest = annex_cluster("a" + "._" * 13, "annex-")
    assert len(longest) <= 63
    assert all(re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z", c) for c in clusters + [longest])


@pytest.mark.parametrize("name", ["", "a" * 28, "a\n", "-a", "a b"])
def test_a_bad_annex_name_has_no_cluster(name):
    from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import annex_cluster

    with pytest.raises(LeaseError):
        annex_cluster(name, "annex-")


def test_now_is_taken_only_for_a_dry_run():
    from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import judging_time

    assert judging_time("2099-01-01T00:00:00Z", dry_run=True).year == 2099
    with pytest.raises(LeaseError, match="for planning only"):
        judging_time("2099-01-01T00:00:00Z", dry_run=False)
    before = datetime.datetime.now(datetime.timezone.utc)
    assert before <= judging_time(None) <= datetime.datetime.now(datetime.timezone.utc)
