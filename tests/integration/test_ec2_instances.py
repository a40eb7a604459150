# -*- coding: utf-8 -*-
"""The ec2_instances role against moto: exact count scoped by tags and the launch records, strangers survive (even with
the cluster's tags: reported, never in the inventory), bad input creates nothing, instances hardened (IMDSv2, hop
limit 1, encrypted root volume)."""

from __future__ import annotations

import itertools

import subprocess

import pytest
from ec2_plays import REGION, ec2_writes, role_refusals, role_tasks, run_play, tagged

_cidrs = itertools.count(100)


@pytest.fixture
def ec2(boto3_session, moto_server):
    return boto3_session.client("ec2", endpoint_url=moto_server.url, region_name=REGION)


@pytest.fixture
def world(ec2, tmp_path):
    """A VPC with a subnet and a group, a fake Debian image, and a stranger instance (same AMI, same subnet); the
    controller's launch records go to the test's own directory."""
    n = next(_cidrs)
    vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n}.1.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"g{n}", Description="test", VpcId=vpc)["GroupId"]
    image = ec2.register_image(Name=f"debian-13-amd64-2025010{n % 10}-0000", Architecture="x86_64",
                               RootDeviceName="/dev/xvda", VirtualizationType="hvm")["ImageId"]
    stranger = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
                                 SecurityGroupIds=[group])["Instances"][0]["InstanceId"]
    owner = ec2.describe_images(ImageIds=[image])["Images"][0]["OwnerId"]
    return {"vpc": vpc, "subnet": subnet, "group": group, "image": image, "stranger": stranger, "owner": owner,
            "records": tmp_path / "records"}


def state_of(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def live(ec2, cluster):
    found = ec2.describe_instances(Filters=[{"Name": "tag:cloudburst:cluster", "Values": [cluster]},
                                            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"])


def instances(cluster, world, **options):
    return ("ec2_instances", dict({
        "ec2_instances_cluster": cluster, "ec2_instances_role": "worker",
        "ec2_instances_ami_owner": world["owner"], "ec2_instances_ami_architecture": "",  # moto drops it
        "ec2_instances_instance_type": "t3.micro",
        "ec2_instances_subnet_id": world["subnet"], "ec2_instances_security_group_ids": [world["group"]],
        "ec2_instances_wait_for_ssh": False, "ec2_instances_inventory_groups": ["cb_workers"],
        "ec2_instances_launch_records_file": str(world["records"] / f"{cluster}.json"),
    }, **options))


def destroy(cluster, world):
    return ("ec2_instances", {"ec2_instances_cluster": cluster, "ec2_instances_role": "",
                              "ec2_instances_state": "absent",
                              "ec2_instances_launch_records_file": str(world["records"] / f"{cluster}.json")})


def inventory_check(count):
    return {"name": "The play's inventory holds the instances", "ansible.builtin.assert": {"that": [
        f"groups['cb_workers'] | default([]) | length == {count}",
        "groups['cb_workers'] | default([]) | map('extract', hostvars, 'ansible_host') | select('match', '^10\\\\.') | list | length"
        f" == {count}",
    ]}}


def test_exact_count_is_scoped_by_tags_and_strangers_survive(tmp_path, moto_server, ec2, world):
    def converge(count, *extra, **options):
        tasks = role_tasks(instances("inst-a", world, ec2_instances_count=count, **options))
        if "--check" not in extra:
            tasks.append(inventory_check(count))
        return run_play(tmp_path, moto_server, tasks, extra)

    moto_server.reset_recording()
    checked = converge(2, "--check", "--diff")
    assert checked.rc == 0 and checked.changed >= 1, checked.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == [] and live(ec2, "inst-a") == []

    first = converge(2, ec2_instances_lease_end="2026-11-25T18:00:00Z", ec2_instances_root_volume_size=12)
    assert first.rc == 0, first.failure_messages()
    launched = live(ec2, "inst-a")
    assert len(launched) == 2 and state_of(ec2, world["stranger"]) == "running"
    described = ec2.describe_instances(InstanceIds=launched)["Reservations"][0]["Instances"][0]
    assert described["ImageId"] == world["image"] and described["SubnetId"] == world["subnet"]
    assert described["InstanceType"] == "t3.micro" and described["KeyName"] if "KeyName" in described else True
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {
        "cloudburst:cluster": "inst-a", "cloudburst:role": "worker", "managed-by": "cloudburst.aws",
        "Name": "cloudburst-inst-a-worker", "cloudburst:lease-end": "2026-11-25T18:00:00Z"}
    behaviour = ec2.describe_instance_attribute(InstanceId=launched[0], Attribute="instanceInitiatedShutdownBehavior")
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    assert sorted(i["instance_id"] for i in first.fact("ec2_instances_result")) == launched
    # The root volume has the size asked for and is encrypted, read back from the volume itself; the instance
    # metadata service answers IMDSv2 only, one hop away.
    root_name = ec2.describe_images(ImageIds=[world["image"]])["Images"][0]["RootDeviceName"]
    for reservation in ec2.describe_instances(InstanceIds=launched)["Reservations"]:
        for instance in reservation["Instances"]:
            (root,) = [m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == root_name]
            volume = ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
            assert volume["Size"] == 12 and volume["Encrypted"] is True
            assert instance["MetadataOptions"]["HttpTokens"] == "required"
            assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1

    moto_server.reset_recording()
    again = converge(2, ec2_instances_lease_end="2026-11-25T18:00:00Z", ec2_instances_root_volume_size=12)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    assert ec2_writes(moto_server.recorded_actions()) == []
    assert live(ec2, "inst-a") == launched

    up = converge(4)
    assert up.rc == 0, up.failure_messages()
    assert len(live(ec2, "inst-a")) == 4 and set(launched) <= set(live(ec2, "inst-a"))
    assert state_of(ec2, world["stranger"]) == "running"

    down = converge(1)
    assert down.rc == 0, down.failure_messages()
    assert len(live(ec2, "inst-a")) == 1 and state_of(ec2, world["stranger"]) == "running"
    # Newest first: the one kept is the oldest, the first of the first launch.
    oldest = min(ec2.describe_instances(InstanceIds=launched)["Reservations"][0]["Instances"],
                 key=lambda i: (i["LaunchTime"], i["AmiLaunchIndex"]))
    assert live(ec2, "inst-a") == [oldest["InstanceId"]]

    none = converge(0)
    assert none.rc == 0, none.failure_messages()
    assert live(ec2, "inst-a") == [] and state_of(ec2, world["stranger"]) == "running"


def test_destroy_terminates_every_role_and_nothing_else(tmp_path, moto_server, ec2, world):
    tasks = role_tasks(instances("inst-b", world, ec2_instances_count=2),
                       instances("inst-b", world, ec2_instances_role="master", ec2_instances_count=1))
    made = run_play(tmp_path, moto_server, tasks)
    assert made.rc == 0 and len(live(ec2, "inst-b")) == 3, made.failure_messages()
    other = run_play(tmp_path, moto_server, role_tasks(instances("inst-other", world, ec2_instances_count=1)))
    assert other.rc == 0, other.failure_messages()

    moto_server.reset_recording()
    destroy_b = role_tasks(destroy("inst-b", world))
    checked = run_play(tmp_path, moto_server, destroy_b, ["--check"])
    assert checked.rc == 0 and checked.changed == 1, checked.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == []

    gone = run_play(tmp_path, moto_server, destroy_b)
    assert gone.rc == 0, gone.failure_messages()
    assert tagged(ec2, "cloudburst:cluster", "inst-b") == []
    assert state_of(ec2, world["stranger"]) == "running" and len(live(ec2, "inst-other")) == 1
    again = run_play(tmp_path, moto_server, destroy_b)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()


def test_ssh_wait_is_bounded_and_names_the_instance(tmp_path, moto_server, ec2, world):
    # The wait connects to the instance's private address, which nothing here answers. A blackhole route for
    # the subnet keeps those packets inside this machine instead of sending them out of the default route.
    subnet_cidr = ec2.describe_subnets(SubnetIds=[world["subnet"]])["Subnets"][0]["CidrBlock"]
    subprocess.run(["ip", "route", "replace", "blackhole", subnet_cidr], capture_output=True, check=True)
    try:
        result = run_play(tmp_path, moto_server, role_tasks(instances(
            "inst-c", world, ec2_instances_count=1, ec2_instances_wait_for_ssh=True, ec2_instances_ssh_timeout=3)))
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", subnet_cidr], capture_output=True, check=False)
    assert result.rc != 0
    (instance_id,) = live(ec2, "inst-c")
    assert any(f"Instance {instance_id} (worker of cluster inst-c) did not answer SSH" in m and "within 3 s" in m
               for m in result.failure_messages()), result.failure_messages()


BAD_INPUT = [
    ({"ec2_instances_ami": "ami-0000000000000dead"}, "AMI ami-0000000000000dead was not found in this region"),
    ({"ec2_instances_ami_name": "debian-99-*"}, "matches 'debian-99-*' in this region"),
    ({"ec2_instances_zone": "us-east-1a", "ec2_instances_subnet_id": ""}, "'us-east-1a' is not an available zone of region eu-west-1"),
    ({"ec2_instances_zone": f"{REGION}a"}, f"is in zone {REGION}b, not in ec2_instances_zone {REGION}a"),
    ({"ec2_instances_count": -1}, "ec2_instances_count must be 0 or more (got -1)"),
    ({"ec2_instances_instance_type": "t3-medium"}, "'t3-medium' is not an instance type"),
    ({"ec2_instances_subnet_id": "subnet-000000000000dead"}, "Subnet subnet-000000000000dead does not exist"),
    ({"ec2_instances_key_name": "no-such-key"}, "Key pair no-such-key does not exist"),
    ({"other_vpc": True}, "but the security groups are in"),
]


def test_bad_input_fails_clearly_with_nothing_created(tmp_path, moto_server, ec2, world):
    """Every case a host of one run (ec2_plays.role_refusals), with a cluster name of its own: each is refused with its
    message, and none writes."""
    vpc = ec2.create_vpc(CidrBlock="10.250.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.250.1.0/24")["Subnet"]["SubnetId"]
    cases = []
    for n, (options, _message) in enumerate(BAD_INPUT):
        options = dict(options)
        if options.pop("other_vpc", False):
            options["ec2_instances_subnet_id"] = other_subnet
        cases.append(instances(f"inst-bad{n}", world, **dict({"ec2_instances_count": 1}, **options))[1])
    moto_server.reset_recording()
    refusals = role_refusals(tmp_path, moto_server, "ec2_instances", cases)
    for (options, message), refusal in zip(BAD_INPUT, refusals):
        assert message in refusal, (options, refusal)
    assert ec2_writes(moto_server.recorded_actions()) == []
    for n in range(len(BAD_INPUT)):
        assert live(ec2, f"inst-bad{n}") == []


def test_spot_is_asked_for_on_run_instances_without_a_launch_template(tmp_path, moto_server, ec2, world):
    # With the hardening's documented opt-outs, which reach the request.
    options = {"ec2_instances_count": 2, "ec2_instances_market": "spot", "ec2_instances_spot_max_price": "0.05",
               "ec2_instances_metadata_http_tokens": "optional", "ec2_instances_metadata_hop_limit": 2,
               "ec2_instances_encrypt_root_volume": False}
    moto_server.reset_recording()
    first = run_play(tmp_path, moto_server, role_tasks(instances("inst-spot", world, **options)))
    assert first.rc == 0, first.failure_messages()
    assert len(live(ec2, "inst-spot")) == 2
    for reservation in ec2.describe_instances(InstanceIds=live(ec2, "inst-spot"))["Reservations"]:
        for instance in reservation["Instances"]:
            assert instance["InstanceLifecycle"] == "spot"
            assert instance["MetadataOptions"]["HttpTokens"] == "optional"
            assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
            volumes = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
            assert [v["Encrypted"] for v in ec2.describe_volumes(VolumeIds=volumes)["Volumes"]] == [False]
            assert instance["SubnetId"] == world["subnet"]
            assert [g["GroupId"] for g in instance["SecurityGroups"]] == [world["group"]]
    assert ec2_writes(moto_server.recorded_actions()) == ["ec2:RunInstances"]  # no template, no CreateTags
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []

    moto_server.reset_recording()
    again = run_play(tmp_path, moto_server, role_tasks(instances("inst-spot", world, **options)))
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    assert ec2_writes(moto_server.recorded_actions()) == []

    gone = run_play(tmp_path, moto_server, role_tasks(destroy("inst-spot", world)))
    assert gone.rc == 0, gone.failure_messages()
    assert tagged(ec2, "cloudburst:cluster", "inst-spot") == []


def test_destroying_a_cluster_never_reaches_a_cluster_whose_name_extends_it(tmp_path, moto_server, ec2, world):
    """The old spot templates were found by a name wildcard, so destroying prod reached prod-eu's; everything
    is found by exact tag values now."""
    for cluster in ("prod", "prod-eu"):
        made = run_play(tmp_path, moto_server, role_tasks(instances(cluster, world, ec2_instances_count=1,
                                                                    ec2_instances_market="spot")))
        assert made.rc == 0, made.failure_messages()
    gone = run_play(tmp_path, moto_server, role_tasks(destroy("prod", world)))
    assert gone.rc == 0, gone.failure_messages()
    assert live(ec2, "prod") == [] and len(live(ec2, "prod-eu")) == 1


def plant(ec2, world, cluster, count=1, key=None):
    """What anyone allowed to launch with the cluster's tags (the restricted launch key is) can do."""
    tags = [{"Key": "cloudburst:cluster", "Value": cluster}, {"Key": "cloudburst:role", "Value": "worker"},
            {"Key": "managed-by", "Value": "cloudburst.aws"}]
    return [i["InstanceId"] for i in ec2.run_instances(
        ImageId=world["image"], MinCount=count, MaxCount=count, SubnetId=world["subnet"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}], **({"KeyName": key} if key else {}))["Instances"]]


def inventory_is(ids):
    return {"name": "The play's inventory holds exactly these instances", "ansible.builtin.assert": {
        "that": [f"groups['cb_workers'] | default([]) | sort == {sorted(ids)}"]}}


def test_a_planted_instance_is_reported_and_never_joins_the_inventory(tmp_path, moto_server, ec2, world):
    ec2.create_key_pair(KeyName="inst-p-key")
    ec2.create_key_pair(KeyName="inst-p-stranger")
    tasks = role_tasks(instances("inst-p", world, ec2_instances_count=1, ec2_instances_key_name="inst-p-key"))
    first = run_play(tmp_path, moto_server, tasks)
    assert first.rc == 0, first.failure_messages()
    (ours,) = live(ec2, "inst-p")
    (planted,) = plant(ec2, world, "inst-p", key="inst-p-stranger")

    moto_server.reset_recording()
    again = run_play(tmp_path, moto_server, tasks + [inventory_is([ours])])
    assert again.rc == 0 and again.changed == 0, (again.failure_messages(), again.changed_tasks())
    assert [w for w in again.warnings() if f"not launched by this controller: {planted}" in w], again.warnings()
    assert ec2_writes(moto_server.recorded_actions()) == [] and state_of(ec2, planted) == "running"
    assert [i["instance_id"] for i in again.fact("ec2_instances_result")] == [ours]


def test_a_cluster_without_launch_records_fails_closed_until_adopted(tmp_path, moto_server, ec2, world):
    legacy = plant(ec2, world, "inst-old", count=2)  # launched by an older version: the tags, no records
    tasks = role_tasks(instances("inst-old", world, ec2_instances_count=2))
    moto_server.reset_recording()
    refused = run_play(tmp_path, moto_server, tasks)
    assert refused.rc != 0
    message = " ".join(" ".join(refused.failure_messages()).split())
    assert "has instances tagged as its own" in message and all(i in message for i in legacy), message
    assert "ec2_instances_adopt_instance_ids" in message and "Nothing was changed." in message
    assert ec2_writes(moto_server.recorded_actions()) == [] and not (world["records"] / "inst-old.json").exists()

    adopting = role_tasks(instances("inst-old", world, ec2_instances_count=2, ec2_instances_adopt_instance_ids=legacy))
    adopted = run_play(tmp_path, moto_server, adopting + [inventory_is(legacy)])
    assert adopted.rc == 0 and adopted.changed >= 1, adopted.failure_messages()
    assert "ec2:RunInstances" not in moto_server.recorded_actions() and sorted(live(ec2, "inst-old")) == sorted(legacy)
    again = run_play(tmp_path, moto_server, tasks + [inventory_is(legacy)])
    assert again.rc == 0 and again.changed == 0, (again.failure_messages(), again.changed_tasks())
