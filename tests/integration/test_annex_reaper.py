# -*- coding: utf-8 -*-
"""The lease reaper for real against the moto server: an expired annex's instances are terminated and its
objects deleted; an annex whose lease runs on, an annex already gone but whose objects' lease passed, and an
unrelated instance are judged correctly; a dry run changes nothing. Both ways in: the module_utils code
that the lease Lambda runs (reap, handler), and the cloudburst.aws.htcondor_annex_reaper module."""

from __future__ import annotations

import datetime
import uuid

import pytest
from conftest import run_aws_tasks, write_calls

from ansible_collections.cloudburst.aws.plugins.module_utils import annex_lease

NOW = datetime.datetime.now(datetime.timezone.utc)
PAST = (NOW - datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
FUTURE = (NOW + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def world(boto3_session, moto_server):
    """Four instances and a bucket with three annexes' objects, all with names unique to this test."""
    ec2 = boto3_session.client("ec2", endpoint_url=moto_server.url)
    s3 = boto3_session.client("s3", endpoint_url=moto_server.url)
    suffix = uuid.uuid4().hex[:6]
    names = {"old": f"old-{suffix}", "young": f"young-{suffix}", "gone": f"gone-{suffix}"}
    bucket = f"cloudburst-reaper-{suffix}"
    s3.create_bucket(Bucket=bucket)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def launch(tags, count=1):
        answer = ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro",
                                   TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                       {"Key": k, "Value": v} for k, v in tags.items()]}])
        return [i["InstanceId"] for i in answer["Instances"]]

    ids = {
        "old": launch({"htcondor:AnnexName": names["old"], "cloudburst:lease-end": PAST}, count=2),
        "young": launch({"htcondor:AnnexName": names["young"], "cloudburst:lease-end": FUTURE}),
        # A lease already over, but not an annex instance: never the reaper's business.
        "unrelated": launch({"cloudburst:lease-end": PAST, "Name": "unrelated"}),
    }
    for key, lease in (("old", PAST), ("young", FUTURE), ("gone", PAST)):
        s3.put_object(Bucket=bucket, Key=f"config-{names[key]}/annex.json", Body=b"{}",
                      Metadata={"lease-end": lease})
    s3.put_object(Bucket=bucket, Key="unrelated.txt", Body=b"x")
    yield {"ec2": ec2, "s3": s3, "bucket": bucket, "names": names, "ids": ids}
    every = [i for group in ids.values() for i in group]
    ec2.terminate_instances(InstanceIds=every)


def states(ec2, ids):
    pages = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in pages for i in r["Instances"]}


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_reap_terminates_expired_annexes_and_deletes_their_objects(world):
    ec2, s3, bucket, names, ids = (world[k] for k in ("ec2", "s3", "bucket", "names", "ids"))
    before = keys(s3, bucket)

    dry = annex_lease.reap(ec2, s3, bucket, NOW, dry_run=True)
    assert set(ids["old"]) <= set(dry["terminated"])
    assert f"config-{names['old']}/annex.json" in dry["deleted"]
    assert set(states(ec2, [i for g in ids.values() for i in g]).values()) == {"running"}
    assert keys(s3, bucket) == before, "a dry run deleted objects"

    result = annex_lease.reap(ec2, s3, bucket, NOW, annex_name=None)
    assert set(ids["old"]) <= set(result["terminated"])
    assert not set(ids["young"] + ids["unrelated"]) & set(result["terminated"])
    assert {names["old"], names["gone"]} <= set(result["ended"]) and names["young"] not in result["ended"]
    after = states(ec2, [i for g in ids.values() for i in g])
    assert {after[i] for i in ids["old"]} <= {"shutting-down", "terminated"}
    assert {after[i] for i in ids["young"] + ids["unrelated"]} == {"running"}
    assert keys(s3, bucket) == sorted(["unrelated.txt", f"config-{names['young']}/annex.json"])

    again = annex_lease.reap(ec2, s3, bucket, NOW)
    assert not set(again["terminated"]) & set(ids["old"]) and again["deleted"] == []


def test_reap_of_one_annex_leaves_the_others(world):
    ec2, s3, bucket, names, ids = (world[k] for k in ("ec2", "s3", "bucket", "names", "ids"))
    result = annex_lease.reap(ec2, s3, bucket, NOW, annex_name=names["young"])
    assert result["terminated"] == [] and result["deleted"] == []
    later = NOW + datetime.timedelta(hours=2)
    result = annex_lease.reap(ec2, s3, bucket, later, annex_name=names["young"], dry_run=True)
    assert result["terminated"] == ids["young"]
    assert result["deleted"] == [f"config-{names['young']}/annex.json"]
    assert {states(ec2, ids["old"] + ids["young"])[i] for i in ids["old"] + ids["young"]} == {"running"}


def test_a_real_reap_never_judges_a_moment_still_to_come(world):
    ec2, s3, bucket, names, ids = (world[k] for k in ("ec2", "s3", "bucket", "names", "ids"))
    later = NOW + datetime.timedelta(hours=2)
    with pytest.raises(annex_lease.LeaseError, match="a moment still to come"):
        annex_lease.reap(ec2, s3, bucket, later, annex_name=names["young"])
    assert {states(ec2, ids["young"])[i] for i in ids["young"]} == {"running"}
    assert f"config-{names['young']}/annex.json" in keys(s3, bucket)


def test_handler_reads_bucket_and_annex_from_the_event(world, moto_server, monkeypatch):
    # What the Lambda runs: boto3 clients from the environment (here the moto endpoint), the schedule's input.
    ec2, s3, bucket, names, ids = (world[k] for k in ("ec2", "s3", "bucket", "names", "ids"))
    for name, value in moto_server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    result = annex_lease.handler({"bucket": bucket, "annex_name": names["old"], "dry_run": False}, None)
    assert result["terminated"] == sorted(ids["old"])
    assert result["deleted"] == [f"config-{names['old']}/annex.json"]
    assert {states(ec2, ids["young"])[i] for i in ids["young"]} == {"running"}


def test_reaper_module_dry_run_and_real_run(tmp_path, moto_server, world):
    ec2, s3, bucket, names, ids = (world[k] for k in ("ec2", "s3", "bucket", "names", "ids"))
    task = {"cloudburst.aws.htcondor_annex_reaper": {"bucket": bucket, "annex_name": names["old"]}}
    check, real, again = run_aws_tasks(tmp_path, moto_server, [
        dict(task, check_mode=True, register="dry"), dict(task, register="real"), dict(task, register="again")])
    assert check["changed"] and check["terminated"] == sorted(ids["old"]), check
    assert real["changed"] and real["terminated"] == sorted(ids["old"]), real
    assert real["deleted"] == [f"config-{names['old']}/annex.json"]
    assert not again["changed"], again
    assert {states(ec2, ids["young"] + ids["unrelated"])[i] for i in ids["young"] + ids["unrelated"]} == {"running"}


def test_reaper_module_refuses_a_bad_annex_name(tmp_path, moto_server):
    (result,) = run_aws_tasks(tmp_path, moto_server, [
        {"cloudburst.aws.htcondor_annex_reaper": {"annex_name": "x" * 28}, "ignore_errors": True}])
    assert result["failed"] and "27" in result["msg"], result


def test_reaper_module_takes_now_only_in_check_mode(tmp_path, moto_server, world):
    # A future `now` outside check mode would terminate an annex whose lease runs on: refused before any call.
    ec2, s3, bucket, names, ids = (world[k] for k in ("ec2", "s3", "bucket", "names", "ids"))
    later = (NOW + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    task = {"cloudburst.aws.htcondor_annex_reaper": {"bucket": bucket, "annex_name": names["young"], "now": later}}
    moto_server.reset_recording()
    refused, planned = run_aws_tasks(tmp_path, moto_server, [dict(task, ignore_errors=True),
                                                             dict(task, check_mode=True)])
    assert refused["failed"] and "now" in refused["msg"] and "check mode" in refused["msg"], refused
    assert planned["changed"] and planned["terminated"] == ids["young"], planned
    assert {states(ec2, ids["young"])[i] for i in ids["young"]} == {"running"}
    assert f"config-{names['young']}/annex.json" in keys(s3, bucket)
    assert write_calls(moto_server.recorded_actions()) == []
