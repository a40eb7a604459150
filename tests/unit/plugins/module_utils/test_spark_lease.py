# -*- coding: utf-8 -*-
"""A Spark cluster's lease: the reaper's cluster mode (reap_clusters, what the lease function runs for a schedule's
{"cluster": NAME}) against in-process moto, and the nodes' backstop script (roles/spark_ec2/files) with a fake clock."""

from __future__ import annotations

import datetime
import importlib.machinery
import importlib.util
import json
import pathlib

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils import annex_lease
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import LeaseError

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
PAST = (NOW - datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
FUTURE = (NOW + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
MANAGED = {"managed-by": "cloudburst.aws"}
BACKSTOP = pathlib.Path(__file__).parents[4] / "roles" / "spark_ec2" / "files" / "cloudburst-spark-lease"


@pytest.fixture
def ec2(monkeypatch):
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("ec2")


def launch(ec2, tags):
    # Any image id does: moto does not check it (reading moto's image list takes seconds every time).
    answer = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return answer["Instances"][0]["InstanceId"]


def cluster_tags(cluster, end=PAST, action="terminate", **more):
    return dict(MANAGED, **{"cloudburst:cluster": cluster, "cloudburst:lease-end": end,
                            "cloudburst:lease-action": action}, **more)


def states(ec2, ids):
    found = ec2.describe_instances(InstanceIds=list(ids.values()))["Reservations"]
    by_id = {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}
    return {name: by_id[i] for name, i in ids.items()}


def test_a_passed_lease_ends_its_cluster_as_its_action_says_and_nothing_else(ec2):
    ids = {
        "ended": launch(ec2, cluster_tags("nightly")),
        "stopped": launch(ec2, cluster_tags("paused", action="stop")),
        "running_on": launch(ec2, cluster_tags("nightly-2", end=FUTURE)),
        "no_lease": launch(ec2, dict(MANAGED, **{"cloudburst:cluster": "other"})),
        # The cluster's tags and a passed lease, but not the EC2 layer's (no managed-by): not this reaper's business.
        "planted": launch(ec2, {"cloudburst:cluster": "nightly", "cloudburst:lease-end": PAST,
                                "cloudburst:lease-action": "terminate"}),
        # An annex instance is reap()'s, whatever else it carries.
        "annex": launch(ec2, cluster_tags("annex-cluster", **{"htcondor:AnnexName": "a1"})),
        # What ends it cannot be read: never touched, reported.
        "bad_action": launch(ec2, cluster_tags("odd", action="reboot")),
        "bad_end": launch(ec2, cluster_tags("odd", end="soon")),
    }
    dry = annex_lease.reap_clusters(ec2, NOW, dry_run=True)
    assert set(states(ec2, ids).values()) == {"running"}
    result = annex_lease.reap_clusters(ec2, NOW)
    assert {k: v for k, v in dry.items() if k != "dry_run"} == {k: v for k, v in result.items() if k != "dry_run"}
    assert result["terminated"] == [ids["ended"]] and result["stopped"] == [ids["stopped"]]
    assert result["clusters"] == {"nightly": [ids["ended"]], "paused": [ids["stopped"]]}
    assert sorted(s["instance_id"] for s in result["skipped"]) == sorted([ids["bad_action"], ids["bad_end"]])
    after = states(ec2, ids)
    assert after.pop("ended") in ("shutting-down", "terminated") and after.pop("stopped") in ("stopping", "stopped")
    assert set(after.values()) == {"running"}
    # A stopped cluster is left as it is: stopping it again is not an action.
    assert annex_lease.reap_clusters(ec2, NOW)["stopped"] == []


def test_one_cluster_only_and_the_handlers_cluster_input(ec2):
    ids = {"a": launch(ec2, cluster_tags("a")), "ab": launch(ec2, cluster_tags("ab"))}
    assert annex_lease.reap_clusters(ec2, NOW, cluster="a")["terminated"] == [ids["a"]]
    assert states(ec2, ids)["ab"] == "running"
    assert annex_lease.handler({"cluster": "ab"}, None)["terminated"] == [ids["ab"]]


@pytest.mark.parametrize("cluster", ["", "a b", "-x", "x" * 64, "a\n", "a.b", 5])
def test_a_bad_cluster_name_is_refused_before_any_call(cluster):
    with pytest.raises(LeaseError, match="cluster name"):
        annex_lease.reap_clusters(None, NOW, cluster=cluster)


def test_a_real_run_never_judges_a_moment_still_to_come():
    with pytest.raises(LeaseError, match="a moment still to come"):
        annex_lease.reap_clusters(None, NOW + datetime.timedelta(hours=2), cluster="a")


# --- The nodes' backstop ------------------------------------------------------------------------------------------


def backstop():
    loader = importlib.machinery.SourceFileLoader("cloudburst_spark_lease", str(BACKSTOP))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


class Node:
    """A fake clock, sleep and process runner: each sleep moves the clock; on_step(now) may rewrite the file."""

    def __init__(self, start, on_step=None, limit=10000):
        self.now, self.on_step, self.limit, self.ran = start, on_step, limit, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        if self.on_step:
            self.on_step(self.now)
        if self.now > self.limit + 10 ** 9:
            raise AssertionError("the backstop never powered off")

    def run(self, argv, check=False):
        self.ran.append(argv)
        return type("Done", (), {"returncode": 0})()


def write(path, end):
    path.write_text(json.dumps({"lease_end": end}), encoding="utf-8")


def test_the_backstop_powers_off_at_the_lease_end_and_follows_a_moved_end(tmp_path):
    module, config = backstop(), tmp_path / "spark-lease.json"
    start = 10 ** 9
    write(config, start + 300)
    moved = []

    def extend(now):  # spark_ec2_action=extend rewrites the file while the node runs
        if now >= start + 120 and not moved:
            write(config, start + 3600)
            moved.append(now)

    node = Node(start, on_step=extend)
    assert module.main(str(config), clock=node.clock, sleep=node.sleep, run=node.run) == 0
    assert node.ran[-1] == ["systemctl", "poweroff"] and "lease ended" in node.ran[0][-1]
    assert start + 3600 <= node.now < start + 3600 + module.STEP


@pytest.mark.parametrize("content, why", [("", "no file"), ("{not json", "unreadable"), ('{"lease_end": 0}', "none"),
                                          ('{"lease_end": true}', "not a number"), ("[1]", "not an object")])
def test_no_readable_lease_never_powers_off(tmp_path, content, why):
    module, config = backstop(), tmp_path / "spark-lease.json"
    if content:
        config.write_text(content, encoding="utf-8")
    assert module.lease_end(module.read_config(str(config))) is None, why
    assert module.reason_to_end(None, 10 ** 10, 0) is None


def test_a_lease_passed_before_boot_waits_for_the_grace():
    """A stopped cluster started after its lease end: the controller writes an extended end once the node is up."""
    module = backstop()
    booted = 10 ** 9
    assert module.reason_to_end(booted - 60, booted + module.GRACE - 1, booted) is None
    assert module.reason_to_end(booted - 60, booted + module.GRACE, booted)
    assert module.reason_to_end(booted + 60, booted + 60, booted)


# --- The idle stop --------------------------------------------------------------------------------------------------


def write_idle(path, end, idle_seconds, url="http://10.0.0.5:8080/json/"):
    path.write_text(json.dumps({"lease_end": end, "idle_seconds": idle_seconds, "master_json_url": url}),
                    encoding="utf-8")


class Master:
    """The master's /json/ as the node's fetch sees it: running applications until a moment, or no answer."""

    def __init__(self, node, busy_until=0, answers=True):
        self.node, self.busy_until, self.answers, self.asked = node, busy_until, answers, []

    def fetch(self, url):
        self.asked.append(url)
        if not self.answers:
            raise OSError("connection refused")
        apps = [{"id": "app-1", "state": "RUNNING"}] if self.node.now < self.busy_until else []
        return json.dumps({"status": "ALIVE", "activeapps": apps}).encode()


def test_an_idle_cluster_powers_off_once_idle_long_enough_and_never_while_an_application_runs(tmp_path):
    module, config = backstop(), tmp_path / "spark-lease.json"
    start = 10 ** 9
    write_idle(config, start + 10 ** 6, 1800)  # the lease is far away: only idleness can end the node
    node = Node(start)
    master = Master(node, busy_until=start + 7200)
    assert module.main(str(config), clock=node.clock, sleep=node.sleep, run=node.run, fetch=master.fetch) == 0
    assert node.ran[-1] == ["systemctl", "poweroff"] and "no application" in node.ran[0][-1]
    # Busy for two hours, then idle: off after the idle time, within a step.
    assert start + 7200 + 1800 <= node.now < start + 7200 + 1800 + 2 * module.STEP
    assert set(master.asked) == {"http://10.0.0.5:8080/json/"}


def test_a_master_that_does_not_answer_counts_as_idle_after_the_boot_grace(tmp_path):
    module, config = backstop(), tmp_path / "spark-lease.json"
    start = 10 ** 9
    write_idle(config, start + 10 ** 6, 600)
    node = Node(start)
    assert module.main(str(config), clock=node.clock, sleep=node.sleep, run=node.run,
                       fetch=Master(node, answers=False).fetch) == 0
    assert start + module.GRACE + 600 <= node.now < start + module.GRACE + 600 + 2 * module.STEP


def test_an_application_resets_the_idle_time():
    module = backstop()
    booted = 10 ** 9
    watch = module.IdleWatch(booted)
    later = booted + module.GRACE
    assert watch.reason(later, 600, False) is None
    assert watch.reason(later + 599, 600, False) is None
    assert watch.reason(later + 500, 600, True) is None  # a job started: the count starts again
    assert watch.reason(later + 700, 600, False) is None
    assert watch.reason(later + 1300, 600, False)


@pytest.mark.parametrize("content", [
    '{"lease_end": 5}', '{"lease_end": 5, "idle_seconds": 0, "master_json_url": "http://m:8080/json/"}',
    '{"lease_end": 5, "idle_seconds": true, "master_json_url": "http://m:8080/json/"}',
    '{"lease_end": 5, "idle_seconds": 60, "master_json_url": "file:///etc/shadow"}',
    '{"lease_end": 5, "idle_seconds": 60}', "[1]", "{not json"])
def test_no_idle_stop_without_a_time_and_a_master_url(tmp_path, content):
    module, config = backstop(), tmp_path / "spark-lease.json"
    config.write_text(content, encoding="utf-8")
    assert module.idle_setting(module.read_config(str(config))) == (0, None)
