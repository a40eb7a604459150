# -*- coding: utf-8 -*-
"""The local cloud's security group filter (tests/rig/sgfilter.py): which nftables rules a group becomes.

The rules are read as text here; tests/integration/test_local_cloud.py loads them with the real nft, and the demo
and annex lifecycle tests prove them by connecting.
"""

from __future__ import annotations

import re

import pytest

from rig import sgfilter

MASTER, WORKER, OTHER = "sg-master", "sg-worker", "sg-other"


def group(group_id, ingress=(), egress=None):
    return {"GroupId": group_id, "IpPermissions": list(ingress),
            "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
            if egress is None else list(egress)}


def tcp(low, high=None, cidrs=(), cidrs6=(), groups=(), prefix_lists=()):
    return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high if high is not None else low,
            "IpRanges": [{"CidrIp": c} for c in cidrs], "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs6],
            "UserIdGroupPairs": [{"GroupId": g} for g in groups],
            "PrefixListIds": [{"PrefixListId": p} for p in prefix_lists]}


def chain(script, name):
    """The rule lines of one chain, comments dropped."""
    lines = script.splitlines()
    start = lines.index(f"  chain {name} {{") + 1
    body = lines[start:lines.index("  }", start)]
    return [re.sub(r' comment "[^"]*"', "", line).strip() for line in body]


def test_inbound_is_denied_but_what_a_group_allows_and_state_and_loopback_pass():
    script = sgfilter.ruleset([group(MASTER, [tcp(22, cidrs=["10.120.1.1/32"])])], {})
    assert chain(script, "ingress") == [
        "type filter hook input priority filter; policy drop;",
        'iif "lo" accept',
        "ct state established,related accept",
        "ct state invalid drop",
        "ip saddr 10.120.1.1/32 meta l4proto tcp tcp dport 22 accept",
    ]
    # One transaction that replaces the whole table: no moment without rules, nothing left of the last ones.
    assert script.startswith("table inet cloudburst_sg\ndelete table inet cloudburst_sg\ntable inet cloudburst_sg {")


def test_ranges_ipv6_and_every_port():
    script = sgfilter.ruleset([group(MASTER, [
        tcp(7100, 7116, cidrs=["10.0.0.5/24"], cidrs6=["2001:db8::/64"]),
        {"IpProtocol": "udp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8:1::/48"}]},
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "198.51.100.7/32"}]},
    ])], {})
    assert chain(script, "ingress")[4:] == [
        "ip saddr 10.0.0.0/24 meta l4proto tcp tcp dport 7100-7116 accept",  # host bits dropped, as EC2 stores it
        "ip6 saddr 2001:db8::/64 meta l4proto tcp tcp dport 7100-7116 accept",
        "ip saddr 192.0.2.0/24 meta l4proto udp accept",
        "ip6 saddr 2001:db8:1::/48 accept",
        "ip saddr 198.51.100.7/32 meta l4proto tcp accept",
    ]


def test_a_group_reference_is_its_members_addresses_and_an_empty_group_admits_nobody():
    members = {WORKER: ["10.120.1.5", "10.120.1.6", "fd00::6"]}
    script = sgfilter.ruleset([group(MASTER, [tcp(7077, groups=[WORKER]), tcp(8080, groups=[OTHER])])], members)
    assert chain(script, "ingress")[4:] == [
        "ip saddr { 10.120.1.5/32, 10.120.1.6/32 } meta l4proto tcp tcp dport 7077 accept",
        "ip6 saddr fd00::6/128 meta l4proto tcp tcp dport 7077 accept",
    ]


def test_icmp_types_stay_in_their_family_and_prefix_lists_are_their_entries():
    script = sgfilter.ruleset([group(MASTER, [
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1,
         "IpRanges": [{"CidrIp": "10.0.0.0/8"}], "Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]},
        {"IpProtocol": "58", "FromPort": 128, "ToPort": 0, "Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]},
        tcp(443, prefix_lists=["pl-1"]),
    ])], {}, {"pl-1": ["203.0.113.0/24"]})
    assert chain(script, "ingress")[4:] == [
        "ip saddr 10.0.0.0/8 meta l4proto icmp icmp type 8 accept",
        "ip6 saddr fd00::/8 meta l4proto ipv6-icmp icmpv6 type 128 icmpv6 code 0 accept",
        "ip saddr 203.0.113.0/24 meta l4proto tcp tcp dport 443 accept",
    ]


def test_egress_follows_the_groups_and_the_dns_resolver_is_exempt():
    closed = sgfilter.ruleset([group(MASTER, egress=[tcp(443, cidrs=["0.0.0.0/0"])])], {}, resolver="10.120.1.1")
    assert chain(closed, "egress")[4:] == [
        "ip daddr 10.120.1.1 meta l4proto { tcp, udp } th dport 53 accept",
        "ip daddr 0.0.0.0/0 meta l4proto tcp tcp dport 443 accept",
    ]
    default = sgfilter.ruleset([group(MASTER)], {})
    assert chain(default, "egress")[-1] == "ip daddr 0.0.0.0/0 accept"
    assert chain(sgfilter.ruleset([group(MASTER, egress=[])], {}), "egress")[-1] == "ct state invalid drop"


def test_several_groups_add_up_and_the_order_is_stable():
    ssh, web = group(WORKER, [tcp(22, cidrs=["10.0.0.1/32"])]), group(MASTER, [tcp(80, cidrs=["10.0.0.2/32"])])
    one, two = sgfilter.ruleset([ssh, web], {}), sgfilter.ruleset([web, ssh], {})
    assert one == two
    assert [line for line in chain(one, "ingress") if "dport" in line] == [
        "ip saddr 10.0.0.2/32 meta l4proto tcp tcp dport 80 accept",
        "ip saddr 10.0.0.1/32 meta l4proto tcp tcp dport 22 accept"]


def test_comments_name_the_group_and_cannot_break_the_script():
    script = sgfilter.ruleset([group('sg-1"; flush ruleset; "', [tcp(22, cidrs=["10.0.0.1/32"])])], {})
    line = next(line for line in script.splitlines() if "dport 22" in line)
    assert line.count('"') == 2 and "flush ruleset;" not in line


def test_an_unknown_protocol_is_an_error_not_an_open_port():
    with pytest.raises(sgfilter.FilterError, match="unknown IpProtocol"):
        sgfilter.ruleset([group(MASTER, [{"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])], {})


def test_members_count_only_live_instances_with_all_their_addresses():
    instances = [
        {"State": {"Name": "running"}, "PrivateIpAddress": "10.0.0.4", "SecurityGroups": [{"GroupId": WORKER}],
         "NetworkInterfaces": [{"PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.4"},
                                                       {"PrivateIpAddress": "10.0.0.9"}],
                                "Ipv6Addresses": [{"Ipv6Address": "fd00::4"}]}]},
        {"State": {"Name": "terminated"}, "PrivateIpAddress": "10.0.0.5", "SecurityGroups": [{"GroupId": WORKER}]},
        {"State": {"Name": "pending"}, "PrivateIpAddress": "10.0.0.6", "SecurityGroups": [{"GroupId": MASTER}]},
    ]
    assert sgfilter.group_members(instances) == {WORKER: ["10.0.0.4", "10.0.0.9", "fd00::4"], MASTER: ["10.0.0.6"]}


def test_the_gateway_is_the_subnets_first_address():
    assert sgfilter.gateway("10.120.1.0/24") == "10.120.1.1"
