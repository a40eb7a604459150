# -*- coding: utf-8 -*-
"""playbooks/ec2_launch.yml and ec2_destroy.yml as a user runs them: launch, re-run, destroy, nothing left."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ec2_plays import REGION, ec2_env, ec2_writes, recap_changed, tagged

from conftest import run


@pytest.fixture
def ec2(boto3_session, moto_server):
    return boto3_session.client("ec2", endpoint_url=moto_server.url, region_name=REGION)


@pytest.fixture
def image(ec2):
    return ec2.register_image(Name="debian-13-amd64-20250301-0000", RootDeviceName="/dev/xvda")["ImageId"]


def playbook(name, moto, checkip, extra):
    env = ec2_env(moto, {"CLOUDBURST_AWS_ENDPOINT_URL": moto.url, "CLOUDBURST_CHECKIP_URL": checkip.url})
    return run(["ansible-playbook", f"playbooks/{name}", "-e", json.dumps(dict({"cloudburst_aws_region": REGION}, **extra))],
               env=env)


def launch_vars(cluster, image, tmp_path, **extra):
    return dict({"ec2_launch_cluster": cluster, "ec2_instances_ami": image, "ec2_instances_wait_for_ssh": False,
                 "ec2_cluster_key_path": str(tmp_path / "keys" / f"{cluster}_ed25519")}, **extra)


def test_launch_rerun_destroy_in_a_created_network(tmp_path, moto_server, ec2, checkip, image):
    checkip.set_answers([(200, "11.22.33.44\n", 0)])
    extra = launch_vars("life-a", image, tmp_path, ec2_launch_workers=3)
    first = playbook("ec2_launch.yml", moto_server, checkip, extra)
    assert first.rc == 0, first.output[-4000:]
    found = ec2.describe_instances(Filters=[{"Name": "tag:cloudburst:cluster", "Values": ["life-a"]}])
    roles = sorted(next(t["Value"] for t in i["Tags"] if t["Key"] == "cloudburst:role")
                   for r in found["Reservations"] for i in r["Instances"])
    assert roles == ["master", "worker", "worker", "worker"]
    assert "Master: i-" in first.stdout and first.stdout.count("i-") >= 4
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "life-a_ed25519").st_mode) == 0o600

    env = ec2_env(moto_server, {"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url, "AWS_REGION": REGION,
                                "CLOUDBURST_CLUSTER": "life-a"})
    listed = run(["ansible-inventory", "-i", "inventory/example.aws_ec2.yml", "--list"], env=env)
    assert listed.rc == 0, listed.output[-3000:]
    inventory = json.loads(listed.stdout)
    assert len(inventory["cloudburst_master"]["hosts"]) == 1 and len(inventory["cloudburst_worker"]["hosts"]) == 3
    assert inventory["spark_workers"]["hosts"] == sorted(inventory["cloudburst_worker"]["hosts"]) or \
        sorted(inventory["spark_workers"]["hosts"]) == sorted(inventory["cloudburst_worker"]["hosts"])
    master = inventory["cloudburst_master"]["hosts"][0]
    hostvars = inventory["_meta"]["hostvars"][master]
    plain = {k: v.get("__ansible_unsafe", v) if isinstance(v, dict) else v for k, v in hostvars.items()}  # composed values
    assert master.startswith("i-") and plain["ansible_host"] == plain["ec2_private_ip_address"]
    assert plain["cloudburst_role"] == "master" and plain["ansible_user"] == "admin"
    assert plain["ansible_ssh_private_key_file"] == "~/.ssh/cloudburst-life-a_ed25519"
    assert plain["ansible_ssh_common_args"] == ("-o UserKnownHostsFile=~/.ssh/cloudburst-life-a_ed25519.known_hosts "
                                                "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
                                                f"-o HostKeyAlias={master}")

    moto_server.reset_recording()
    second = playbook("ec2_launch.yml", moto_server, checkip, extra)
    assert second.rc == 0 and recap_changed(second.stdout) == 0, second.output[-4000:]
    assert ec2_writes(moto_server.recorded_actions()) == []

    destroy = playbook("ec2_destroy.yml", moto_server, checkip, {"ec2_destroy_cluster": "life-a",
                                                                 "ec2_cluster_key_path": extra["ec2_cluster_key_path"]})
    assert destroy.rc == 0, destroy.output[-4000:]
    assert tagged(ec2, "cloudburst:cluster", "life-a") == []
    assert not (tmp_path / "keys" / "life-a_ed25519").exists()


def test_destroy_spares_an_existing_vpc_and_a_stranger_in_its_subnet(tmp_path, moto_server, ec2, checkip, image):
    checkip.set_answers([(200, "11.22.33.44\n", 0)])
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.90.1.0/24")["Subnet"]["SubnetId"]
    stranger = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    extra = launch_vars("life-b", image, tmp_path, ec2_network_subnet_id=subnet, ec2_launch_workers=2)
    launched = playbook("ec2_launch.yml", moto_server, checkip, extra)
    assert launched.rc == 0, launched.output[-4000:]

    destroy = playbook("ec2_destroy.yml", moto_server, checkip, {"ec2_destroy_cluster": "life-b",
                                                                 "ec2_cluster_key_path": extra["ec2_cluster_key_path"]})
    assert destroy.rc == 0, destroy.output[-4000:]
    assert tagged(ec2, "cloudburst:cluster", "life-b") == []
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"] and ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    state = ec2.describe_instances(InstanceIds=[stranger])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_launch_in_check_mode_on_a_fresh_cluster_reports_without_failing(tmp_path, moto_server, checkip, image):
    """No VPC, groups or key exist yet: check mode reports what it would create, with no write call."""
    moto_server.reset_recording()
    extra = launch_vars("life-check", image, tmp_path)
    env = ec2_env(moto_server, {"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url, "CLOUDBURST_CHECKIP_URL": checkip.url})
    checked = run(["ansible-playbook", "playbooks/ec2_launch.yml", "--check", "-v", "-e",
                   json.dumps(dict({"cloudburst_aws_region": REGION}, **extra))], env=env)
    assert checked.rc == 0, checked.output[-4000:]
    assert "Would create cloudburst-life-check-master, cloudburst-life-check-worker" in checked.stdout
    assert "launch 1 on-demand" in checked.stdout and "launch 2 on-demand" in checked.stdout
    assert recap_changed(checked.stdout) > 0
    assert ec2_writes(moto_server.recorded_actions()) == []
    assert not (tmp_path / "keys").exists()
