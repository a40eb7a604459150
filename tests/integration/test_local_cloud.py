# -*- coding: utf-8 -*-
"""The local cloud: instances launched in moto become systemd containers at their private IPs, run their
user data, stop and start with their instances (keeping their files), leave when terminated, mirror only the
clusters asked for, and a power-off inside one applies its shutdown behaviour in moto. Their security group lets
this machine (the subnet's gateway) in on SSH and nothing else."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from conftest import ansible_env, run
from rig.localcloud import (CLUSTER_TAG, DEFAULT_TAG_KEY, DEFAULT_TAG_VALUE, LocalCloudError, local_hosts, network_name,
                            probe, wait_until)

# The local_cloud fixture mirrors only these clusters; OTHER_CLUSTER's managed instance must stay unmirrored.
LOCAL_CLOUD_CLUSTERS = ["local-cloud-test"]
OTHER_CLUSTER = "local-cloud-other"

VPC_CIDR = "10.213.0.0/16"
SUBNET_CIDR = "10.213.7.0/24"  # the only addresses the test's containers get
GATEWAY = "10.213.7.1"  # this machine on the subnet's podman network
USER_DATA = "#!/bin/sh\nhostname > /var/tmp/user-data-ran\n"
BOOT_TIMEOUT = 240  # launch to running container, for a batch on two busy cores
GONE_TIMEOUT = 90


def podman(*argv, check=True):
    return subprocess.run(["podman", *argv], capture_output=True, text=True, check=check)


def container_state(name):
    proc = podman("inspect", "--format", "{{.State.Status}}", name, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def instance_state(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


@pytest.fixture(scope="module")
def cloud(moto_server, local_cloud, tmp_path_factory):
    """A subnet in moto and instances in it: four managed ones of the test's cluster (shutdown behaviour
    terminate, terminate, stop, stop), one without the managed tag, and a managed one of another cluster."""
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=moto_server.url, region_name=moto_server.env["AWS_REGION"],
                       aws_access_key_id=moto_server.credentials["aws_access_key_id"],
                       aws_secret_access_key=moto_server.credentials["aws_secret_access_key"])
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
    image = ec2.register_image(Name="cloudburst-local-cloud-test", RootDeviceName="/dev/xvda",
                               Architecture="x86_64")["ImageId"]
    key_path = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_path)], check=True)
    public_key = (key_path.parent / "id_ed25519.pub").read_text()
    ec2.import_key_pair(KeyName="local-cloud-test", PublicKeyMaterial=public_key.encode())
    # SSH from this machine only (the local cloud filters by security group, as EC2 does).
    group = ec2.create_security_group(GroupName="local-cloud-ssh", Description="SSH from the gateway", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": f"{GATEWAY}/32"}]}])

    def launch(behaviour, role, managed=True, cluster=LOCAL_CLOUD_CLUSTERS[0]):
        tags = [{"Key": "cloudburst:role", "Value": role}, {"Key": CLUSTER_TAG, "Value": cluster}]
        if managed:
            tags.append({"Key": DEFAULT_TAG_KEY, "Value": DEFAULT_TAG_VALUE})
        return ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet, UserData=USER_DATA,
            KeyName="local-cloud-test", InstanceInitiatedShutdownBehavior=behaviour, SecurityGroupIds=[group],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]

    instances = {"api": launch("terminate", "worker"), "poweroff_terminate": launch("terminate", "worker"),
                 "poweroff_stop": launch("stop", "master"), "unmanaged": launch("terminate", "other", managed=False),
                 "stop_start": launch("stop", "worker"), "other_cluster": launch("terminate", "worker", cluster=OTHER_CLUSTER)}
    yield {"ec2": ec2, "instances": instances, "ids": {k: v["InstanceId"] for k, v in instances.items()},
           "public_key": public_key, "key_path": str(key_path)}
    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in instances.values()])


def inventory_hosts(local_cloud):
    try:
        with open(local_cloud.inventory_path) as stream:
            return set(json.load(stream)["all"]["hosts"])
    except (OSError, ValueError):
        return set()


def wait_for_host(cloud, local_cloud, name, timeout=BOOT_TIMEOUT):
    """Wait until the instance's host is ready: the local cloud lists it in its inventory after the pass that
    started it (container booted, key and user data handed over)."""
    instance_id = cloud["ids"][name]
    wait_until(lambda: instance_id in inventory_hosts(local_cloud), timeout, message=f"host {instance_id} ready")
    return instance_id


def test_every_managed_instance_becomes_a_host(cloud, local_cloud):
    managed = [name for name in cloud["ids"] if name not in ("unmanaged", "other_cluster")]
    for name in managed:
        wait_for_host(cloud, local_cloud, name)
    for name in managed:
        instance = cloud["instances"][name]
        instance_id = instance["InstanceId"]
        networks = json.loads(podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", instance_id).stdout)
        assert list(networks) == [network_name(SUBNET_CIDR)]
        assert networks[network_name(SUBNET_CIDR)]["IPAddress"] == instance["PrivateIpAddress"]
        assert podman("exec", instance_id, "systemctl", "is-system-running", "--wait").stdout.strip() == "running"
        wait_until(lambda: podman("exec", instance_id, "test", "-s", "/var/tmp/user-data-ran", check=False)
                   .returncode == 0, 30, message=f"user data ran in {instance_id}")
        assert podman("exec", instance_id, "cat", "/home/admin/.ssh/authorized_keys").stdout == cloud["public_key"]
    subnets = json.loads(podman("network", "inspect", network_name(SUBNET_CIDR)).stdout)[0]["subnets"]
    assert [s["subnet"] for s in subnets] == [SUBNET_CIDR]
    assert container_state(cloud["ids"]["unmanaged"]) is None
    # Another cluster's managed instance in the same moto is not this module's: no container, not listed.
    assert container_state(cloud["ids"]["other_cluster"]) is None
    assert cloud["ids"]["other_cluster"] not in inventory_hosts(local_cloud)

    # The inventory names hosts by instance id, groups them by role tag, and the same modules reach them.
    result = run(["ansible", "-i", local_cloud.inventory_path, "worker:master", "-m", "ansible.builtin.ping",
                  "-o"], env=ansible_env(), check=True)
    assert result.stdout.count("SUCCESS") == len(managed), result.output
    with open(local_cloud.inventory_path) as stream:
        inventory = json.load(stream)
    assert set(inventory["all"]["children"]["master"]["hosts"]) == {cloud["ids"]["poweroff_stop"]}

    # As on a Debian AMI, the key pair lets the default user (admin) in over SSH at the private IP, with sudo.
    instance = cloud["instances"]["poweroff_stop"]
    ssh = run(["ssh", "-i", cloud["key_path"], "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", f"admin@{instance['PrivateIpAddress']}",
               "sudo", "-n", "cat", "/var/tmp/user-data-ran"])
    assert ssh.rc == 0 and ssh.stdout.strip() == instance["PrivateDnsName"].split(".")[0], ssh.output
    # Its group's one rule is in force: a port it does not open is dropped, not refused.
    address = instance["PrivateIpAddress"]
    assert probe([(address, 22), (address, 2222)]) == {(address, 22): "open", (address, 2222): "filtered"}


def test_terminated_instance_loses_its_container(cloud, local_cloud):
    instance_id = wait_for_host(cloud, local_cloud, "api")
    cloud["ec2"].terminate_instances(InstanceIds=[instance_id])
    wait_until(lambda: container_state(instance_id) is None, GONE_TIMEOUT, message=f"{instance_id} removed")


def container_id(name):
    return podman("inspect", "--format", "{{.Id}}", name).stdout.strip()


def test_stopped_instance_keeps_its_container_and_files(cloud, local_cloud):
    """EC2 keeps a stopped instance's disk: its container is stopped, not removed, and starts again (same
    container, same address, same files, user data not run again) when the instance runs again."""
    ec2, instance_id = cloud["ec2"], wait_for_host(cloud, local_cloud, "stop_start")
    before = container_id(instance_id)
    podman("exec", instance_id, "sh", "-c", "echo kept > /var/tmp/survives-stop")
    ec2.stop_instances(InstanceIds=[instance_id])
    wait_until(lambda: container_state(instance_id) == "exited", GONE_TIMEOUT, message=f"{instance_id} stopped")
    wait_until(lambda: instance_id not in inventory_hosts(local_cloud), GONE_TIMEOUT,
               message=f"{instance_id} out of the inventory")
    time.sleep(3)  # a few passes: a stopped instance's container is kept, not removed nor powered-off-handled
    assert container_state(instance_id) == "exited" and instance_state(ec2, instance_id) == "stopped"

    ec2.start_instances(InstanceIds=[instance_id])
    wait_for_host(cloud, local_cloud, "stop_start")
    assert container_id(instance_id) == before and container_state(instance_id) == "running"
    assert podman("exec", instance_id, "cat", "/var/tmp/survives-stop").stdout == "kept\n"
    networks = json.loads(podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", instance_id).stdout)
    assert networks[network_name(SUBNET_CIDR)]["IPAddress"] == cloud["instances"]["stop_start"]["PrivateIpAddress"]
    # Started by EC2, not powered off by itself: the instance still runs a few passes later.
    time.sleep(3)
    assert instance_state(ec2, instance_id) == "running" and container_state(instance_id) == "running"

    ec2.terminate_instances(InstanceIds=[instance_id])
    wait_until(lambda: container_state(instance_id) is None, GONE_TIMEOUT, message=f"{instance_id} removed")


@pytest.mark.parametrize("name, expected", [("poweroff_terminate", "terminated"), ("poweroff_stop", "stopped")])
def test_poweroff_applies_the_shutdown_behaviour(cloud, local_cloud, name, expected):
    instance_id = wait_for_host(cloud, local_cloud, name)
    podman("exec", instance_id, "systemctl", "poweroff", check=False)
    wait_until(lambda: instance_state(cloud["ec2"], instance_id) == expected, GONE_TIMEOUT,
               message=f"{instance_id} {expected} in moto")
    if expected == "terminated":
        wait_until(lambda: container_state(instance_id) is None, GONE_TIMEOUT, message=f"{instance_id} removed")
    else:  # stopped, as EC2 stops it: the container (its disk) stays, powered off
        time.sleep(3)
        assert container_state(instance_id) == "exited" and instance_state(cloud["ec2"], instance_id) == "stopped"


def test_local_hosts_never_removes_a_container_it_did_not_make():
    """local_hosts state=absent checks the owner label: a same-named container of someone else stays."""
    names = ["cloudburst-test-stranger", "cloudburst-test-unlabelled"]
    podman("create", "--name", names[0], "--label", "owner=someone-else", "localhost/cloudburst-trixie:latest", "true")
    podman("create", "--name", names[1], "localhost/cloudburst-trixie:latest", "true")
    try:
        with pytest.raises(LocalCloudError, match=r"Refusing to remove cloudburst-test-stranger, "
                                                  r"cloudburst-test-unlabelled: .*\(someone-else, none\)"):
            local_hosts([{"name": name} for name in names], state="absent")
        assert [container_state(name) for name in names] == ["created", "created"]
    finally:
        podman("rm", "-f", *names, check=False)
