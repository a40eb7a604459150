# -*- coding: utf-8 -*-
"""The lease reaper's pure logic: which instances have passed their lease, and how lease ends are read."""

from __future__ import annotations

import datetime
import re

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


# --- Annexes the stock condor_annex -count launched: its rule's input ends them ---------------------------------

STOCK_BUCKET = "cloudburst-annex-123456789012-us-east-1"


@pytest.fixture
def stock_world(monkeypatch):
    """Two stock annexes (HTCondorAnnex-s and HTCondorAnnex-s1, one name a prefix of the other) in moto (in-process),
    each with its instance (client token <AnnexID>_<uuid>, tag htcondor:AnnexName), tarball and rule; and an instance
    with a matching token but no annex tag."""
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        ec2, s3, events = boto3.client("ec2"), boto3.client("s3"), boto3.client("events")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        s3.create_bucket(Bucket=STOCK_BUCKET)
        ids = {}
        for annex in ("HTCondorAnnex-s", "HTCondorAnnex-s1"):
            ids[annex] = ec2.run_instances(
                ImageId=image, MinCount=1, MaxCount=1, ClientToken=f"{annex}_0f5e1c2a-58c4-4d0e-9b7e-6f0b8a3e2d11",
                TagSpecifications=[{"ResourceType": "instance",
                                    "Tags": [{"Key": "htcondor:AnnexName", "Value": annex}]}],
            )["Instances"][0]["InstanceId"]
            s3.put_object(Bucket=STOCK_BUCKET, Key=f"config-{annex}.tar.gz", Body=b"tarball")
            events.put_rule(Name=annex, ScheduleExpression="rate(5 minutes)")
            events.put_targets(Rule=annex, Targets=[{"Id": annex, "Arn": "arn:aws:lambda:us-east-1:123456789012:"
                                                     "function:AnnexSetup-odi-lease", "Input": "{}"}])
        ids["untagged"] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                            ClientToken="HTCondorAnnex-s_untagged")["Instances"][0]["InstanceId"]
        yield {"ec2": ec2, "s3": s3, "events": events, "ids": ids}


def stock_event(annex, lease=int(NOW.timestamp()), bucket=STOCK_BUCKET):
    return {"AnnexID": annex, "S3BucketName": bucket, "LeaseExpiration": lease}


def states(world):
    found = world["ec2"].describe_instances(InstanceIds=list(world["ids"].values()))["Reservations"]
    by_id = {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}
    return {name: by_id[instance] for name, instance in world["ids"].items()}


def test_a_stock_annex_ends_at_its_lease_and_nothing_else_does(stock_world):
    world = stock_world
    before = annex_lease.end_stock_annex(world["ec2"], world["s3"], world["events"], stock_event("HTCondorAnnex-s"),
                                         NOW - datetime.timedelta(seconds=1), bucket=STOCK_BUCKET)
    assert before["expired"] is False and before["terminated"] == []
    assert set(states(world).values()) == {"running"}

    ended = annex_lease.end_stock_annex(world["ec2"], world["s3"], world["events"], stock_event("HTCondorAnnex-s"),
                                        NOW + datetime.timedelta(seconds=1), bucket=STOCK_BUCKET)
    assert ended["expired"] and ended["terminated"] == [world["ids"]["HTCondorAnnex-s"]]
    # Annex HTCondorAnnex-s1 starts with the same letters: the stock function's "<AnnexID>*" would have ended it too.
    assert states(world) == {"HTCondorAnnex-s": "terminated", "HTCondorAnnex-s1": "running", "untagged": "running"}
    keys = [o["Key"] for o in world["s3"].list_objects_v2(Bucket=STOCK_BUCKET)["Contents"]]
    assert keys == ["config-HTCondorAnnex-s1.tar.gz"]
    assert [r["Name"] for r in world["events"].list_rules()["Rules"]] == ["HTCondorAnnex-s1"]


def test_the_handler_takes_the_stock_input_as_condor_annex_sends_it(stock_world, monkeypatch):
    monkeypatch.setenv("ANNEX_BUCKET", STOCK_BUCKET)
    monkeypatch.setenv("ANNEX_LEASE_KIND", "odi")
    ended = annex_lease.handler(stock_event("HTCondorAnnex-s1", lease=1), None)
    assert ended["terminated"] == [stock_world["ids"]["HTCondorAnnex-s1"]] and ended["rule"] == "HTCondorAnnex-s1"
    monkeypatch.setenv("ANNEX_LEASE_KIND", "sfr")
    with pytest.raises(LeaseError, match="spot fleet"):
        annex_lease.handler(stock_event("HTCondorAnnex-s", lease=1), None)


def test_a_renewed_stock_lease_without_a_bucket_uses_the_setups(stock_world):
    """condor_annex -annex-name NAME -duration H rewrites the rule's input with an empty S3BucketName."""
    world = stock_world
    renewed = dict(stock_event("HTCondorAnnex-s"), S3BucketName="")
    ended = annex_lease.end_stock_annex(world["ec2"], world["s3"], world["events"], renewed,
                                        NOW + datetime.timedelta(seconds=1), bucket=STOCK_BUCKET)
    assert ended["terminated"] == [world["ids"]["HTCondorAnnex-s"]]
    assert "config-HTCondorAnnex-s.tar.gz" not in [o["Key"] for o in world["s3"].list_objects_v2(
        Bucket=STOCK_BUCKET)["Contents"]]
    with pytest.raises(LeaseError, match="lacks S3BucketName"):
        annex_lease.end_stock_annex(world["ec2"], world["s3"], world["events"], renewed, NOW, bucket=None)


@pytest.mark.parametrize("event, message", [
    ({"AnnexID": "HTCondorAnnex-s", "S3BucketName": STOCK_BUCKET}, "lacks LeaseExpiration"),
    (stock_event("HTCondorAnnex-s", bucket="someone-elses-bucket"), "not the setup's"),
    (stock_event("../../etc"), "must be 1 to 27"),
    (stock_event("HTCondorAnnex-s", lease="soon"), "not a time"),
])
def test_bad_stock_input_is_refused_before_anything_changes(stock_world, event, message):
    world = stock_world
    with pytest.raises(LeaseError, match=message):
        annex_lease.end_stock_annex(world["ec2"], world["s3"], world["events"], event, NOW, bucket=STOCK_BUCKET)
    assert set(states(world).values()) == {"running"}


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
