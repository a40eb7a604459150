# -*- coding: utf-8 -*-
"""The ec2_network role against moto: create, find, converge twice, check mode, bad input, tag-scoped delete."""

from __future__ import annotations

import pytest
from ec2_plays import REGION, ec2_writes, role_refusals, run_roles, tagged


@pytest.fixture
def ec2(boto3_session, moto_server):
    return boto3_session.client("ec2", endpoint_url=moto_server.url, region_name=REGION)


def network(cluster, **options):
    return ("ec2_network", dict({"ec2_network_cluster": cluster}, **options))


def test_created_network_converges_twice_and_is_deleted(tmp_path, moto_server, ec2):
    moto_server.reset_recording()
    checked = run_roles(tmp_path, moto_server, [network("net-a")], ["--check", "--diff"])
    assert checked.rc == 0, checked.output[-3000:]
    assert checked.changed >= 1
    assert ec2_writes(moto_server.recorded_actions()) == []

    first = run_roles(tmp_path, moto_server, [network("net-a")])
    assert first.rc == 0, first.output[-3000:]
    result = first.fact("ec2_network_result")
    assert result["created_vpc"] and result["created_subnet"]
    assert result["zone"] == f"{REGION}a"
    subnet = ec2.describe_subnets(SubnetIds=[result["subnet_id"]])["Subnets"][0]
    assert subnet["VpcId"] == result["vpc_id"] and subnet["CidrBlock"] == "10.42.1.0/24"
    assert subnet["MapPublicIpOnLaunch"] is True
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [result["vpc_id"]]}])
    assert len(igws["InternetGateways"]) == 1
    tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [result["subnet_id"]]}])
    routes = tables["RouteTables"][0]["Routes"]
    assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId", "").startswith("igw-") for r in routes)

    moto_server.reset_recording()
    second = run_roles(tmp_path, moto_server, [network("net-a")])
    assert second.rc == 0 and second.changed == 0, second.output[-3000:]
    assert ec2_writes(moto_server.recorded_actions()) == []
    assert second.fact("ec2_network_result") == result

    moto_server.reset_recording()
    checked = run_roles(tmp_path, moto_server, [network("net-a", ec2_network_state="absent")], ["--check"])
    assert checked.rc == 0 and checked.changed >= 1, checked.output[-3000:]
    assert ec2_writes(moto_server.recorded_actions()) == []

    gone = run_roles(tmp_path, moto_server, [network("net-a", ec2_network_state="absent")])
    assert gone.rc == 0, gone.output[-3000:]
    assert tagged(ec2, "cloudburst:cluster", "net-a") == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [result["vpc_id"]]}])["Vpcs"] == []
    again = run_roles(tmp_path, moto_server, [network("net-a", ec2_network_state="absent")])
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]


def test_existing_vpc_and_subnet_are_used_and_survive_delete(tmp_path, moto_server, ec2):
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "net-b"}]}])["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.3.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]

    by_id = run_roles(tmp_path, moto_server, [network("net-b", ec2_network_subnet_id=subnet)])
    assert by_id.rc == 0 and by_id.changed == 0, by_id.output[-3000:]
    expected = {"vpc_id": vpc, "subnet_id": subnet, "zone": f"{REGION}b", "created_vpc": False, "created_subnet": False}
    assert by_id.fact("ec2_network_result") == expected

    # An existing VPC by tag: the role adds only its own subnet.
    in_vpc = run_roles(tmp_path, moto_server, [network("net-b", ec2_network_vpc_tags={"team": "net-b"},
                                                       ec2_network_subnet_cidr="10.77.9.0/24")])
    assert in_vpc.rc == 0, in_vpc.failure_messages()
    assert in_vpc.changed == 1
    made = in_vpc.fact("ec2_network_result")
    assert made["vpc_id"] == vpc and made["created_subnet"] and not made["created_vpc"]

    gone = run_roles(tmp_path, moto_server, [network("net-b", ec2_network_state="absent")])
    assert gone.rc == 0, gone.output[-3000:]
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["VpcId"] == vpc
    assert [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]] == [subnet]


BAD_INPUT = [
    ({"ec2_network_zone": "us-east-1a"}, "is not an available zone of region eu-west-1"),
    ({"ec2_network_vpc_cidr": "10.42.0.0/33"}, "must be IPv4 CIDRs"),
    ({"ec2_network_subnet_cidr": "10.42.300.0/24"}, "must be IPv4 CIDRs"),
    ({"ec2_network_subnet_id": "subnet-00000000"}, "0 subnets match subnet-00000000"),
]


def test_bad_input_fails_clearly_and_creates_nothing(tmp_path, moto_server, ec2):
    """Every case a host of one run (ec2_plays.role_refusals): each is refused with its message, none writes."""
    moto_server.reset_recording()
    refusals = role_refusals(tmp_path, moto_server, "ec2_network", [
        network(f"net-bad{n}", **options)[1] for n, (options, _m) in enumerate(BAD_INPUT)])
    for (options, message), refusal in zip(BAD_INPUT, refusals):
        assert message in refusal, (options, refusal)
    assert ec2_writes(moto_server.recorded_actions()) == []


def test_subnet_from_another_vpc_is_refused(tmp_path, moto_server, ec2):
    one = ec2.create_vpc(CidrBlock="10.81.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.82.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=other, CidrBlock="10.82.1.0/24")["Subnet"]["SubnetId"]
    moto_server.reset_recording()
    result = run_roles(tmp_path, moto_server, [network("net-c", ec2_network_vpc_id=one, ec2_network_subnet_id=subnet)])
    assert result.rc != 0
    assert any(f"Subnet {subnet} is in VPC {other}, not in VPC {one}" in m for m in result.failure_messages())
    assert ec2_writes(moto_server.recorded_actions()) == []
