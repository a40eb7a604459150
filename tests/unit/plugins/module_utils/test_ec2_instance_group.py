# -*- coding: utf-8 -*-
"""The ec2_instance_group manager against moto in process: batched calls whatever N, tag-scoped counting,
newest-first scale-down, spot and root volume on RunInstances, check mode without writes."""

from __future__ import annotations

import collections
import time

import boto3
import pytest
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import InstanceGroupError
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import InstanceGroupManager

REGION = "eu-west-1"


class CountingClient:
    """The EC2 client the module gets (aws_retry=True accepted), counting the API calls made through it."""

    def __init__(self, client):
        self.calls = collections.Counter()
        self._client = client
        client.meta.events.register("before-call.ec2.*", self._count)
        self._wrapped = RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff(retries=2))

    def done(self):
        """Stop counting (the tests' own describes use the same client) and return the counts."""
        self._client.meta.events.unregister("before-call.ec2.*", self._count)
        return self.calls

    def _count(self, model, **_kwargs):
        self.calls[model.name] += 1

    def __getattr__(self, name):
        return getattr(self._wrapped, name)


@pytest.fixture
def world():
    with mock_aws():
        raw = boto3.client("ec2", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        vpc = raw.create_vpc(CidrBlock="10.101.0.0/16")["Vpc"]["VpcId"]
        subnet = raw.create_subnet(VpcId=vpc, CidrBlock="10.101.1.0/24")["Subnet"]["SubnetId"]
        image = raw.register_image(Name="debian-13-amd64-unit", RootDeviceName="/dev/xvda")["ImageId"]
        stranger = raw.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
        yield {"raw": raw, "subnet": subnet, "image": image, "stranger": stranger["InstanceId"]}


def params(world, **extra):
    base = dict(cluster="unit", role="worker", state="present", count=1, image_id=world["image"],
                instance_type="t3.micro", subnet_id=world["subnet"], availability_zone=None, security_group_ids=[],
                key_name=None, instance_profile=None, user_data=None, shutdown_behavior="terminate",
                market="on-demand", spot_max_price=None, root_volume_size=0, root_device_name=None, tags={},
                wait=True, wait_timeout=30, poll_interval=0)
    base.update(extra)
    return base


def converge(world, check_mode=False, **extra):
    client = CountingClient(world["raw"])
    manager = InstanceGroupManager(client, params(world, **extra), check_mode=check_mode, sleep=lambda _s: None)
    try:
        return manager.run(), client.calls
    finally:
        client.done()


def live(world, cluster="unit"):
    found = world["raw"].describe_instances(Filters=[
        {"Name": "tag:cloudburst:cluster", "Values": [cluster]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"])


def state_of(world, instance_id):
    return world["raw"].describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


@pytest.mark.parametrize("count", [1, 4, 16])
def test_launch_is_one_run_instances_and_the_calls_do_not_grow_with_n(world, count):
    result, calls = converge(world, count=count)
    assert result["changed"] and len(result["launched_ids"]) == count
    assert calls == {"DescribeInstances": 2, "RunInstances": 1}
    assert live(world) == sorted(result["instance_ids"]) and len(result["instances"]) == count
    instance = result["instances"][0]
    assert instance["state"]["name"] == "running" and instance["private_ip_address"].startswith("10.101.1.")
    assert instance["tags"] == {"cloudburst:cluster": "unit", "cloudburst:role": "worker",
                                "managed-by": "cloudburst.aws", "Name": "cloudburst-unit-worker"}

    again, calls = converge(world, count=count)
    assert not again["changed"] and calls == {"DescribeInstances": 1}
    assert again["instance_ids"] == result["instance_ids"]
    assert state_of(world, world["stranger"]) == "running"


def test_scale_down_terminates_the_newest_first_in_one_call(world):
    first = converge(world, count=2)[0]
    time.sleep(1.1)  # EC2 launch times have whole seconds
    second = converge(world, count=4)[0]
    newest = [i for i in second["instance_ids"] if i not in first["instance_ids"]]
    assert len(newest) == 2 and second["instance_ids"][:2] == first["instance_ids"]  # oldest first

    down, calls = converge(world, count=1)
    assert calls["TerminateInstances"] == 1 and calls["RunInstances"] == 0
    assert sorted(down["terminated_ids"]) == sorted(newest + [first["instance_ids"][1]])
    assert down["instance_ids"] == [first["instance_ids"][0]] == live(world)
    assert all(state_of(world, i) == "terminated" for i in down["terminated_ids"])

    none = converge(world, count=0)[0]
    assert none["changed"] and live(world) == [] and state_of(world, world["stranger"]) == "running"


def test_only_the_tagged_group_counts(world):
    converge(world, count=2)
    other = converge(world, count=1, role="master")[0]
    assert other["changed"] and len(other["launched_ids"]) == 1
    elsewhere = converge(world, count=1, cluster="unit-b")[0]
    assert elsewhere["changed"]
    assert len(live(world)) == 3 and len(live(world, "unit-b")) == 1

    gone, calls = converge(world, state="absent", role="")
    assert sorted(gone["terminated_ids"]) == live(world) or live(world) == []
    assert calls["TerminateInstances"] == 1 and len(gone["terminated_ids"]) == 3
    assert live(world, "unit-b") != [] and state_of(world, world["stranger"]) == "running"


def test_spot_root_volume_user_data_and_shutdown_ride_on_run_instances(world):
    result, calls = converge(world, count=2, market="spot", spot_max_price="0.05", root_volume_size=12,
                             user_data="#!/bin/sh\ntrue\n", shutdown_behavior="stop", key_name=None,
                             tags={"Name": "mine", "team": "x"})
    assert calls == {"DescribeInstances": 2, "RunInstances": 1, "DescribeImages": 1}
    raw = world["raw"]
    for instance in result["instances"]:
        assert instance["instance_lifecycle"] == "spot"
        volume = instance["block_device_mappings"][0]["ebs"]["volume_id"]
        assert raw.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Size"] == 12
        attribute = raw.describe_instance_attribute(InstanceId=instance["instance_id"],
                                                    Attribute="instanceInitiatedShutdownBehavior")
        assert attribute["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
        assert instance["tags"]["Name"] == "mine" and instance["tags"]["team"] == "x"
    assert raw.describe_launch_templates()["LaunchTemplates"] == []


def test_check_mode_writes_nothing(world):
    up, calls = converge(world, check_mode=True, count=3)
    assert up["changed"] and up["launched_ids"] == [] and live(world) == []
    assert calls == {"DescribeInstances": 1}
    converge(world, count=3)
    down, calls = converge(world, check_mode=True, count=1)
    assert down["changed"] and len(down["terminated_ids"]) == 2 and len(live(world)) == 3
    assert calls == {"DescribeInstances": 1}
    assert down["diff"]["before"]["count"] == 3 and down["diff"]["after"]["count"] == 1


@pytest.mark.parametrize("extra, message", [
    ({"count": -1}, "count must be 0 or more"),
    ({"instance_type": "t3-micro"}, "is not an instance type"),
    ({"cluster": "bad name"}, "cluster must be"),
    ({"role": ""}, "role must be"),
    ({"market": "spot", "spot_max_price": "cheap"}, "is not a price"),
    ({"spot_max_price": "0.05"}, "market is on-demand"),
    ({"tags": {"cloudburst:cluster": "other"}}, "is set by the module"),
    ({"image_id": None}, "needs image_id"),
])
def test_bad_input_fails_before_any_write(world, extra, message):
    client = CountingClient(world["raw"])
    manager = InstanceGroupManager(client, params(world, **extra))
    with pytest.raises(InstanceGroupError, match=message):
        manager.run()
    assert not {name for name in client.done() if not name.startswith("Describe")}
    assert live(world) == []


def test_a_wait_that_runs_out_names_the_instances(world):
    clock = iter(range(0, 1000, 20))
    client = CountingClient(world["raw"])
    manager = InstanceGroupManager(client, params(world, count=1), sleep=lambda _s: None, clock=lambda: next(clock))
    with pytest.raises(InstanceGroupError, match=r"did not reach terminated within 30 s: i-\w+ \(running\)"):
        manager.wait_for(live(world) or [world["stranger"]], ("terminated",))
