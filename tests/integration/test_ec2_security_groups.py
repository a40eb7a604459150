# -*- coding: utf-8 -*-
"""The ec2_security_groups role against moto: exact rules, out-of-band rules revoked, the world refused."""

from __future__ import annotations

import pytest
from ec2_plays import REGION, ec2_writes, role_refusals, run_roles, tagged


@pytest.fixture
def ec2(boto3_session, moto_server):
    return boto3_session.client("ec2", endpoint_url=moto_server.url, region_name=REGION)


def groups(cluster, **options):
    return ("ec2_security_groups", dict({"ec2_security_groups_cluster": cluster}, **options))


def rules_of(ec2, group_id):
    """A group's ingress rules as a set of (protocol, from, to, source)."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    found = set()
    for perm in group["IpPermissions"]:
        key = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        found |= {key + (r["CidrIp"],) for r in perm.get("IpRanges", [])}
        found |= {key + (r["CidrIpv6"],) for r in perm.get("Ipv6Ranges", [])}
        found |= {key + (r["GroupId"],) for r in perm.get("UserIdGroupPairs", [])}
    return found


ROLES = [{"name": "master", "ports": [22, 8080], "world_ports": [443]}, {"name": "worker", "ports": [22]}]


def test_groups_read_back_exactly_and_stray_rules_are_revoked(tmp_path, moto_server, ec2, checkip):
    checkip.set_answers([(200, "11.22.33.44\n", 0)])
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    options = {"ec2_security_groups_vpc_id": vpc, "ec2_security_groups_roles": ROLES,
               "ec2_security_groups_checkip_url": checkip.url}

    moto_server.reset_recording()
    checked = run_roles(tmp_path, moto_server, [groups("sg-a", **options)], ["--check", "--diff"])
    assert checked.rc == 0, checked.failure_messages()
    assert checked.changed >= 1
    assert ec2_writes(moto_server.recorded_actions()) == []

    first = run_roles(tmp_path, moto_server, [groups("sg-a", **options)])
    assert first.rc == 0, first.failure_messages()
    ids = first.fact("ec2_security_groups_result")
    master, worker = ids["master"], ids["worker"]
    me = "11.22.33.44/32"  # the checkip answer set above, as a /32
    members = {("-1", None, None, master), ("-1", None, None, worker)}
    expected_master = members | {("tcp", 22, 22, me), ("tcp", 8080, 8080, me),
                                 ("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 443, 443, "::/0")}
    expected_worker = members | {("tcp", 22, 22, me)}
    assert rules_of(ec2, master) == expected_master
    assert rules_of(ec2, worker) == expected_worker
    described = ec2.describe_security_groups(GroupIds=[master])["SecurityGroups"][0]
    assert described["GroupName"] == "cloudburst-sg-a-master" and described["VpcId"] == vpc
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {
        "cloudburst:cluster": "sg-a", "managed-by": "cloudburst.aws", "cloudburst:role": "master"}

    # A rule added by hand, out of band, is revoked on the next converge; nothing else moves.
    ec2.authorize_security_group_ingress(GroupId=worker, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    second = run_roles(tmp_path, moto_server, [groups("sg-a", **options)])
    assert second.rc == 0, second.failure_messages()
    assert second.changed_tasks() == ["cloudburst.aws.ec2_security_groups : Set each group's rules"]
    assert rules_of(ec2, worker) == expected_worker and rules_of(ec2, master) == expected_master

    moto_server.reset_recording()
    third = run_roles(tmp_path, moto_server, [groups("sg-a", **options)])
    assert third.rc == 0 and third.changed == 0, third.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == []

    moto_server.reset_recording()
    checked = run_roles(tmp_path, moto_server, [groups("sg-a", ec2_security_groups_state="absent")], ["--check"])
    assert checked.rc == 0 and checked.changed >= 1, checked.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == []
    gone = run_roles(tmp_path, moto_server, [groups("sg-a", ec2_security_groups_state="absent")])
    assert gone.rc == 0, gone.failure_messages()
    assert tagged(ec2, "cloudburst:cluster", "sg-a") == []


def test_explicit_allowlist_with_ipv6(tmp_path, moto_server, ec2):
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    result = run_roles(tmp_path, moto_server, [groups("sg-b", ec2_security_groups_vpc_id=vpc,
                                                      ec2_security_groups_roles=[{"name": "annex", "ports": [9618]}],
                                                      ec2_security_groups_allowlist=["203.0.113.0/24", "2001:db8::/64"])])
    assert result.rc == 0, result.failure_messages()
    annex = result.fact("ec2_security_groups_result")["annex"]
    assert rules_of(ec2, annex) == {("-1", None, None, annex), ("tcp", 9618, 9618, "203.0.113.0/24"),
                                    ("tcp", 9618, 9618, "2001:db8::/64")}


def test_cluster_ports_narrow_what_the_groups_reach(tmp_path, moto_server, ec2):
    """With cluster_ports a group lets in only the named ports (and ranges) from the named roles' groups."""
    vpc = ec2.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]["VpcId"]
    roles = [{"name": "master", "ports": [22], "cluster_ports": [{"from": "worker", "ports": [7077, "7100-7115"]}]},
             {"name": "worker", "ports": [], "cluster_ports": [{"from": "master", "ports": [22, 7078]},
                                                               {"from": "worker", "ports": ["7200-7215"]}]}]
    options = {"ec2_security_groups_vpc_id": vpc, "ec2_security_groups_roles": roles,
               "ec2_security_groups_allowlist": ["203.0.113.7/32"]}
    first = run_roles(tmp_path, moto_server, [groups("sg-n", **options)])
    assert first.rc == 0, first.failure_messages()
    ids = first.fact("ec2_security_groups_result")
    master, worker = ids["master"], ids["worker"]
    assert rules_of(ec2, master) == {("tcp", 22, 22, "203.0.113.7/32"), ("tcp", 7077, 7077, worker),
                                     ("tcp", 7100, 7115, worker)}
    assert rules_of(ec2, worker) == {("tcp", 22, 22, master), ("tcp", 7078, 7078, master),
                                     ("tcp", 7200, 7215, worker)}
    moto_server.reset_recording()
    again = run_roles(tmp_path, moto_server, [groups("sg-n", **options)])
    assert again.rc == 0 and again.changed == 0, again.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == []
    gone = run_roles(tmp_path, moto_server, [groups("sg-n", ec2_security_groups_state="absent")])
    assert gone.rc == 0, gone.failure_messages()


BAD_INPUT = [
    ({"ec2_security_groups_roles": [{"name": "master", "ports": [22], "cluster_ports": [{"from": "nobody", "ports": [1]}]}]},
     "Each entry of a role's cluster_ports needs 'from', the name of one of this cluster's roles (master)"),
    ({"ec2_security_groups_roles": [{"name": "master", "ports": [22],
                                     "cluster_ports": [{"from": "master", "ports": ["7115-7100", 70000, "x"]}]}]},
     'not valid: ["7115-7100", 70000, "x"]'),
    ({"ec2_security_groups_allowlist": ["0.0.0.0/0"]}, "Refusing 0.0.0.0/0 in ec2_security_groups_allowlist"),
    ({"ec2_security_groups_allowlist": ["203.0.113.0/24", "::/0"]}, "Refusing ::/0 in ec2_security_groups_allowlist"),
    ({"ec2_security_groups_roles": [{"name": "master", "ports": [22], "world_ports": [443, 7077]}]},
     "Refusing to open port(s) 7077 to 0.0.0.0/0 and ::/0"),
    # A port inside a range the cluster's own groups use is a cluster port too.
    ({"ec2_security_groups_roles": [{"name": "master", "ports": [22], "world_ports": [443, 7205]},
                                    {"name": "worker", "ports": [], "cluster_ports": [{"from": "master", "ports": ["7200-7216"]}]}]},
     "Refusing to open port(s) 7205 to 0.0.0.0/0 and ::/0"),
    ({"ec2_security_groups_allowlist": ["203.0.113.300/32"]}, "Not an IPv4 or IPv6 CIDR in ec2_security_groups_allowlist"),
    # The world split into pieces that are each allowed on their own.
    ({"ec2_security_groups_allowlist": ["0.0.0.0/1", "128.0.0.0/1"]}, "'0.0.0.0/1' is wider than /8"),
    ({"ec2_security_groups_allowlist": ["::/1", "8000::/1"], "ec2_security_groups_allow_wide_prefixes": True},
     "together cover every IPv6 address"),
    ({"ec2_security_groups_allowlist": [f"{n}.0.0.0/8" for n in range(128)]}, "together make 0.0.0.0/1"),
]


def test_the_world_and_bad_cidrs_are_refused_before_any_write(tmp_path, moto_server, ec2):
    """Every case a host of one run (ec2_plays.role_refusals) with a cluster name of its own: each is refused with its
    message before any call at all."""
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    moto_server.reset_recording()
    refusals = role_refusals(tmp_path, moto_server, "ec2_security_groups", [
        groups(f"sg-bad{n}", ec2_security_groups_vpc_id=vpc, **options)[1] for n, (options, _m) in enumerate(BAD_INPUT)])
    for (options, message), refusal in zip(BAD_INPUT, refusals):
        assert message in refusal, (options, refusal)
    assert moto_server.recorded_actions() == []
    for n in range(len(BAD_INPUT)):
        assert tagged(ec2, "cloudburst:cluster", f"sg-bad{n}") == []


def test_a_same_named_group_it_did_not_create_is_never_adopted(tmp_path, moto_server, ec2):
    """A group named like the cluster's but without its ownership tags stays someone else's: the role fails
    clearly instead of tagging it as its own (which would let destroy delete it)."""
    vpc = ec2.create_vpc(CidrBlock="10.102.0.0/16")["Vpc"]["VpcId"]
    theirs = ec2.create_security_group(GroupName="cloudburst-sg-own-worker", Description="someone's", VpcId=vpc)["GroupId"]
    options = {"ec2_security_groups_vpc_id": vpc, "ec2_security_groups_roles": ROLES,
               "ec2_security_groups_allowlist": ["203.0.113.0/24"]}
    moto_server.reset_recording()
    result = run_roles(tmp_path, moto_server, [groups("sg-own", **options)])
    assert result.rc != 0
    assert any(f"cloudburst-sg-own-worker ({theirs}) already exist in {vpc} without the tags "
               "cloudburst:cluster=sg-own" in m for m in result.failure_messages()), result.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == []
    assert ec2.describe_security_groups(GroupIds=[theirs])["SecurityGroups"][0].get("Tags", []) == []

    gone = run_roles(tmp_path, moto_server, [groups("sg-own", ec2_security_groups_state="absent")])
    assert gone.rc == 0, gone.failure_messages()
    assert ec2.describe_security_groups(GroupIds=[theirs])["SecurityGroups"]


def test_check_mode_without_a_vpc_yet_reports_the_groups(tmp_path, moto_server):
    moto_server.reset_recording()
    checked = run_roles(tmp_path, moto_server, [groups("sg-fresh", ec2_security_groups_roles=ROLES,
                                                       ec2_security_groups_allowlist=["203.0.113.0/24"])], ["--check"])
    assert checked.rc == 0 and checked.changed == 1, checked.failure_messages()
    assert checked.fact("ec2_security_groups_result") == {"master": "", "worker": ""}
    assert ec2_writes(moto_server.recorded_actions()) == []
    refused = run_roles(tmp_path, moto_server, [groups("sg-fresh", ec2_security_groups_roles=ROLES,
                                                       ec2_security_groups_allowlist=["203.0.113.0/24"])])
    assert refused.rc != 0 and any("a VPC id (ec2_security_groups_vpc_id)" in m for m in refused.failure_messages())


def test_a_private_checkip_answer_needs_allow_private(tmp_path, moto_server, ec2, checkip):
    """A controller that reaches AWS over a private network sets ec2_security_groups_checkip_allow_private; without
    it a private answer is refused before any write (it would be the wrong allow-list on the internet)."""
    vpc = ec2.create_vpc(CidrBlock="10.64.0.0/16")["Vpc"]["VpcId"]
    options = {"ec2_security_groups_vpc_id": vpc, "ec2_security_groups_roles": [{"name": "node", "ports": [22]}],
               "ec2_security_groups_checkip_url": checkip.url}
    checkip.set_answers([(200, "10.64.0.9\n", 0)])
    moto_server.reset_recording()
    refused = run_roles(tmp_path, moto_server, [groups("sg-p", **options)])
    assert refused.rc != 0
    assert any("allow_private: true" in m for m in refused.failure_messages()), refused.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == []
    checkip.set_answers([(200, "10.64.0.9\n", 0)])
    allowed = run_roles(tmp_path, moto_server, [groups("sg-p", ec2_security_groups_checkip_allow_private=True, **options)])
    assert allowed.rc == 0, allowed.failure_messages()
    node = allowed.fact("ec2_security_groups_result")["node"]
    assert rules_of(ec2, node) == {("-1", None, None, node), ("tcp", 22, 22, "10.64.0.9/32")}
    gone = run_roles(tmp_path, moto_server, [groups("sg-p", ec2_security_groups_state="absent")])
    assert gone.rc == 0, gone.failure_messages()
