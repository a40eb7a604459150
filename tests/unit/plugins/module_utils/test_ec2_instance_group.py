# -*- coding: utf-8 -*-
"""The ec2_instance_group manager against moto in process: batched calls whatever N, tag-scoped counting,
newest-first scale-down, spot and root volume on RunInstances, check mode without writes; trust from the launch
records only (a planted instance is reported, never counted, returned or terminated; a lost answer's instances are
recognised by their client token; a cluster without records fails closed until adopted); IMDSv2, hop limit 1 and an
encrypted root volume by default."""

from __future__ import annotations

import collections
import json
import os
import stat
import time

import boto3
import pytest
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import InstanceGroupError
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import InstanceGroupManager
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_records import LaunchRecordsError

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
def world(tmp_path):
    with mock_aws():
        raw = boto3.client("ec2", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        vpc = raw.create_vpc(CidrBlock="10.101.0.0/16")["Vpc"]["VpcId"]
        subnet = raw.create_subnet(VpcId=vpc, CidrBlock="10.101.1.0/24")["Subnet"]["SubnetId"]
        image = raw.register_image(Name="debian-13-amd64-unit", RootDeviceName="/dev/xvda")["ImageId"]
        stranger = raw.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
        yield {"raw": raw, "subnet": subnet, "image": image, "stranger": stranger["InstanceId"],
               "records": tmp_path / "keys" / "unit_ed25519.launched"}


def params(world, **extra):
    base = dict(cluster="unit", role="worker", state="present", count=1, image_id=world["image"],
                instance_type="t3.micro", subnet_id=world["subnet"], availability_zone=None, security_group_ids=[],
                key_name=None, instance_profile=None, user_data=None, shutdown_behavior="terminate",
                market="on-demand", spot_max_price=None, root_volume_size=0, root_device_name="/dev/sda1", tags={},
                wait=True, wait_timeout=30, poll_interval=0, adopt_instance_ids=[],
                metadata_http_tokens="required", metadata_hop_limit=1, encrypt_root_volume=True)
    base.update(extra)
    base.setdefault("launch_records", str(world["records"] / f"{base['cluster']}.json"))
    return base


def converge(world, check_mode=False, client=None, **extra):
    client = client or CountingClient(world["raw"])
    manager = InstanceGroupManager(client, params(world, **extra), check_mode=check_mode, sleep=lambda _s: None)
    try:
        result = manager.run()
        result["warnings"] = manager.warnings
        return result, client.calls
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
    # The encrypted root volume keeps the image's size, read with one DescribeImages per launch.
    assert calls == {"DescribeInstances": 2, "RunInstances": 1, "DescribeImages": 1}
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
    assert calls == {"DescribeInstances": 2, "RunInstances": 1}  # size and device given: no DescribeImages
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
    ({"metadata_hop_limit": 0}, "metadata_hop_limit must be 1 to 64"),
    ({"adopt_instance_ids": ["web-1"]}, "adopt_instance_ids must be instance ids"),
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


# --- trust: only what this controller launched -----------------------------------------------------------------

def plant(world, key="stranger-key", image=None, role="worker", cluster="unit", count=1):
    """What anyone allowed to launch with the cluster's tags can do: instances that claim to be the cluster's."""
    tags = [{"Key": "cloudburst:cluster", "Value": cluster}, {"Key": "cloudburst:role", "Value": role},
            {"Key": "managed-by", "Value": "cloudburst.aws"},
            {"Key": "cloudburst:lease-end", "Value": "2099-01-01T00:00:00Z"}]
    keys = [k["KeyName"] for k in world["raw"].describe_key_pairs()["KeyPairs"]]
    if key not in keys:
        world["raw"].create_key_pair(KeyName=key)
    found = world["raw"].run_instances(ImageId=image or world["image"], MinCount=count, MaxCount=count, KeyName=key,
                                       SubnetId=world["subnet"],
                                       TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"]
    return [i["InstanceId"] for i in found]


def records_of(world, cluster="unit"):
    return json.loads((world["records"] / f"{cluster}.json").read_text())


def test_a_planted_instance_is_reported_and_never_counted_returned_or_terminated(world):
    world["raw"].create_key_pair(KeyName="unit-key")
    ours = converge(world, count=2, key_name="unit-key")[0]["instance_ids"]
    time.sleep(1.1)  # the planted one is the newest: a count that included it would terminate it first
    (planted,) = plant(world)

    again, calls = converge(world, count=2, key_name="unit-key")
    assert not again["changed"] and calls == {"DescribeInstances": 1}
    assert again["instance_ids"] == ours and again["untrusted_ids"] == [planted]
    assert [w for w in again["warnings"] if f"not launched by this controller: {planted}" in w]
    assert all("launch_record" in i and i["launch_record"]["key_name"] == "unit-key" for i in again["instances"])

    up = converge(world, count=3, key_name="unit-key")[0]
    assert len(up["launched_ids"]) == 1 and planted not in up["instance_ids"]
    down = converge(world, count=1, key_name="unit-key")[0]
    assert planted not in down["terminated_ids"] and len(down["terminated_ids"]) == 2
    assert down["instance_ids"] == [ours[0]] and state_of(world, planted) == "running"
    # Terminated ids drop out of the records; the planted one never got in.
    assert sorted(records_of(world)["instances"]) == [ours[0]] and records_of(world)["pending"] == {}

    gone = converge(world, state="absent", role="")[0]
    assert gone["terminated_ids"] == [ours[0]] and gone["untrusted_ids"] == [planted]
    assert state_of(world, planted) == "running" and records_of(world)["instances"] == {}
    # An emptied file, not none: the planted instance is reported again, it does not block the next launch.
    relaunched = converge(world, count=1, key_name="unit-key")[0]
    assert len(relaunched["launched_ids"]) == 1 and relaunched["untrusted_ids"] == [planted]


def test_a_record_whose_instance_has_another_image_or_key_is_not_trusted(world):
    converge(world, count=1)
    other_image = world["raw"].register_image(Name="other", RootDeviceName="/dev/xvda")["ImageId"]
    (planted,) = plant(world, image=other_image)
    (keyed,) = plant(world, key="stranger-key")
    path = world["records"] / "unit.json"
    data = records_of(world)
    for instance_id in (planted, keyed):  # as if someone had slipped them into the file
        data["instances"][instance_id] = dict(next(iter(data["instances"].values())))
    path.write_text(json.dumps(data))
    result = converge(world, count=1)[0]
    assert not result["changed"] and sorted(result["untrusted_ids"]) == sorted([planted, keyed])


def test_a_cluster_without_records_fails_closed_until_its_instances_are_adopted(world):
    world["raw"].create_key_pair(KeyName="unit-key")
    legacy = plant(world, key="unit-key", count=2)  # launched by an older version: tags, no records
    client = CountingClient(world["raw"])
    with pytest.raises(InstanceGroupError, match="has instances tagged as its own .* but this controller has no "
                                                 "launch records for it") as failed:
        InstanceGroupManager(client, params(world, count=2, key_name="unit-key"), sleep=lambda _s: None).run()
    assert all(i in str(failed.value) for i in legacy) and "adopt_instance_ids" in str(failed.value)
    assert not [name for name in client.done() if not name.startswith("Describe")]
    assert not (world["records"] / "unit.json").exists()

    (stranger,) = plant(world, key="stranger-key")
    for adopt, message in (([stranger], "key pair stranger-key"), (["i-0123456789abcdef0"], "not a live or stopped")):
        with pytest.raises(InstanceGroupError, match=message):
            converge(world, count=2, key_name="unit-key", adopt_instance_ids=adopt)
    assert not (world["records"] / "unit.json").exists()

    adopted, calls = converge(world, count=2, key_name="unit-key", adopt_instance_ids=legacy)
    assert adopted["changed"] and calls["RunInstances"] == 0 and sorted(adopted["instance_ids"]) == sorted(legacy)
    assert adopted["untrusted_ids"] == [stranger]
    assert sorted(records_of(world)["instances"]) == sorted(legacy)
    assert all(r["adopted"] and r["role"] == "worker" for r in records_of(world)["instances"].values())
    assert stat.S_IMODE(os.stat(world["records"]).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(world["records"] / "unit.json").st_mode) == 0o600
    kept = converge(world, count=2, key_name="unit-key", adopt_instance_ids=legacy)[0]
    assert not kept["changed"]


class LosingClient(CountingClient):
    """RunInstances reaches EC2 and EC2 acts, but its answer is lost on the way back (after the retries)."""

    def run_instances(self, **kwargs):
        from botocore.exceptions import EndpointConnectionError

        self._wrapped.run_instances(**kwargs)
        raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")


def test_the_instances_of_a_lost_answer_are_recognised_by_their_client_token(world):
    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):
        converge(world, count=2, client=LosingClient(world["raw"]))
    (token,) = records_of(world)["pending"]  # written down before the call
    launched = live(world)
    assert len(launched) == 2
    found = world["raw"].describe_instances(InstanceIds=launched)["Reservations"][0]["Instances"]
    assert {i["ClientToken"] for i in found} == {token}

    again, calls = converge(world, count=2)
    assert calls["RunInstances"] == 0 and sorted(again["instance_ids"]) == launched and again["untrusted_ids"] == []
    assert sorted(records_of(world)["instances"]) == launched and records_of(world)["pending"] == {}


def test_stopped_instances_keep_their_records_and_info_reads_the_same_path(world):
    first = converge(world, count=1)[0]
    (instance_id,) = first["instance_ids"]
    (planted,) = plant(world)
    world["raw"].stop_instances(InstanceIds=[instance_id])
    reader = InstanceGroupManager(world["raw"], {"cluster": "unit", "role": "", "adopt_instance_ids": [],
                                                 "launch_records": params(world)["launch_records"]})
    found = reader.info()
    assert found["instance_ids"] == [instance_id] and found["instances"][0]["state"]["name"] == "stopped"
    assert found["untrusted_ids"] == [planted] and found["instances"][0]["launch_record"]["role"] == "worker"
    world["raw"].start_instances(InstanceIds=[instance_id])
    again = converge(world, count=1)[0]
    assert not again["changed"] and again["instance_ids"] == [instance_id]


def test_records_that_others_could_write_are_refused_before_any_call(world, tmp_path):
    converge(world, count=1)
    path = world["records"] / "unit.json"
    for mode_of, mode in ((path, 0o644), (world["records"], 0o755)):
        os.chmod(mode_of, mode)
        with pytest.raises(LaunchRecordsError, match="mode 0700|mode 0600"):
            converge(world, count=2)
        os.chmod(mode_of, 0o600 if mode_of == path else 0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(path.read_text())
    os.chmod(elsewhere, 0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    with pytest.raises(LaunchRecordsError, match="symbolic link"):
        converge(world, count=2)
    path.unlink()
    with pytest.raises(LaunchRecordsError, match="holds the launch records of cluster 'unit', not 'unit-b'"):
        converge(world, count=1, cluster="unit-b", launch_records=str(elsewhere))
    assert len(live(world)) == 1


def test_imdsv2_hop_limit_one_and_an_encrypted_root_volume_by_default(world):
    raw = world["raw"]
    hardened = converge(world, count=1)[0]["instances"][0]
    described = raw.describe_instances(InstanceIds=[hardened["instance_id"]])["Reservations"][0]["Instances"][0]
    assert described["MetadataOptions"]["HttpTokens"] == "required"
    assert described["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    (root,) = [m for m in described["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sda1"]
    volume = raw.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Encrypted"] is True and volume["Size"] == 15  # the image's size, kept

    plain, calls = converge(world, count=1, cluster="unit-b", metadata_http_tokens="optional", metadata_hop_limit=2,
                            encrypt_root_volume=False)
    assert "DescribeImages" not in calls  # no root mapping is sent at all
    described = raw.describe_instances(InstanceIds=plain["instance_ids"])["Reservations"][0]["Instances"][0]
    assert described["MetadataOptions"]["HttpTokens"] == "optional"
    assert described["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    volumes = [m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"]]
    assert [v["Encrypted"] for v in raw.describe_volumes(VolumeIds=volumes)["Volumes"]] == [False]


def test_retagged_changes_the_tags_of_what_this_controller_launched_and_its_records_only(world):
    """A renewed annex lease: state retagged sets the new lease end on the launched instances, in EC2 and in the
    launch records, and launches, terminates and touches nothing else (a planted instance keeps its tags)."""
    first, renewed_end = {"cloudburst:lease-end": "2030-01-01T00:00:00Z"}, "2030-01-01T02:00:00Z"
    ours = converge(world, count=2, tags=first)[0]["instance_ids"]
    (planted,) = plant(world)
    renewed, calls = converge(world, state="retagged", retag={"cloudburst:lease-end": renewed_end})
    assert renewed["changed"] and renewed["instance_ids"] == ours and renewed["launched_ids"] == []
    assert calls == {"DescribeInstances": 1, "CreateTags": 1}
    described = world["raw"].describe_instances(InstanceIds=ours + [planted])["Reservations"]
    tags = {i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])} for r in described for i in r["Instances"]}
    assert {tags[i]["cloudburst:lease-end"] for i in ours} == {renewed_end}
    assert tags[planted].get("cloudburst:lease-end") != renewed_end
    recorded = records_of(world)["instances"].values()
    assert {r["tags"]["cloudburst:lease-end"] for r in recorded} == {renewed_end}
    assert {i["launch_record"]["tags"]["cloudburst:lease-end"] for i in renewed["instances"]} == {renewed_end}

    again, calls = converge(world, state="retagged", retag={"cloudburst:lease-end": renewed_end})
    assert not again["changed"] and calls == {"DescribeInstances": 1}
    later = {"cloudburst:lease-end": "2031-01-01T00:00:00Z"}
    checked, calls = converge(world, check_mode=True, state="retagged", retag=later)
    assert checked["changed"] and calls == {"DescribeInstances": 1}
    assert {r["tags"]["cloudburst:lease-end"] for r in records_of(world)["instances"].values()} == {renewed_end}


def test_retagged_moves_the_lease_end_of_stopped_instances_too(world):
    """An extended Spark cluster that is stopped: its stopped instances get the new lease end as well, so that a later
    start (and the reaper) reads the extended end, not the passed one."""
    ours = converge(world, count=2, tags={"cloudburst:lease-end": "2030-01-01T00:00:00Z"})[0]["instance_ids"]
    world["raw"].stop_instances(InstanceIds=[ours[0]])
    extended, calls = converge(world, state="retagged", retag={"cloudburst:lease-end": "2030-01-02T00:00:00Z"})
    assert extended["changed"] and calls == {"DescribeInstances": 1, "CreateTags": 1}
    described = world["raw"].describe_instances(InstanceIds=ours)["Reservations"]
    ends = {i["InstanceId"]: {t["Key"]: t["Value"] for t in i["Tags"]}["cloudburst:lease-end"]
            for r in described for i in r["Instances"]}
    assert ends == {ours[0]: "2030-01-02T00:00:00Z", ours[1]: "2030-01-02T00:00:00Z"}


@pytest.mark.parametrize("extra, message", [
    ({"retag": {}}, "needs the tags to set"),
    ({"retag": {"cloudburst:cluster": "other"}}, "set by the module"),
    ({"retag": {"x": "y"}, "role": ""}, "role must be"),
])
def test_retagged_refuses_bad_input_before_any_call(world, extra, message):
    with pytest.raises(InstanceGroupError, match=message):
        converge(world, state="retagged", **extra)
