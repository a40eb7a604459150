# -*- coding: utf-8 -*-
"""Annex status from EC2 descriptions and condor_status ads: grouping, markets, leases, slot matching."""

from __future__ import annotations

import datetime

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_status import annexes
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_status import slot_address

NOW = datetime.datetime(2026, 11, 25, 14, 0, tzinfo=datetime.timezone.utc)


def instance(instance_id, annex, ip, state="running", lease="2026-11-25T14:30:00Z", spot=False, minute=0):
    tags = [{"Key": "htcondor:AnnexName", "Value": annex}]
    if lease:
        tags.append({"Key": "cloudburst:lease-end", "Value": lease})
    found = {"InstanceId": instance_id, "State": {"Name": state}, "InstanceType": "m3.medium", "Tags": tags,
             "LaunchTime": datetime.datetime(2026, 11, 25, 13, minute, tzinfo=datetime.timezone.utc),
             "PrivateIpAddress": ip, "PrivateDnsName": f"ip-{ip.replace('.', '-')}.ec2.internal"}
    if spot:
        found["InstanceLifecycle"] = "spot"
    return found


def ad(name, machine, ip, annex="a"):
    return {"Name": name, "Machine": machine, "MyAddress": f"<{ip}:9618?addrs={ip}-9618&alias={machine}>",
            "State": "Unclaimed", "Activity": "Idle", "AnnexName": annex}


def test_annexes_are_grouped_with_states_markets_and_leases():
    found = annexes([
        instance("i-2", "a", "10.150.1.6", minute=5, spot=True, lease="2026-11-25T14:45:00Z"),
        instance("i-1", "a", "10.150.1.5"),
        instance("i-3", "a", "10.150.1.7", state="terminated", lease="2026-11-25T15:00:00Z", minute=10),
        instance("i-9", "b", "10.150.1.9", lease=None),
        {"InstanceId": "i-x", "State": {"Name": "running"}, "Tags": []},
    ], now=NOW)
    assert [a["annex_name"] for a in found] == ["a", "b"]
    first = found[0]
    assert [i["instance_id"] for i in first["instances"]] == ["i-1", "i-2", "i-3"]
    assert [i["market"] for i in first["instances"]] == ["on-demand", "spot", "on-demand"]
    assert first["instances"][0]["launch_time"] == "2026-11-25T13:00:00Z"
    assert first["states"] == {"running": 2, "terminated": 1} and first["live"] == 2
    assert first["lease_end"] == "2026-11-25T14:45:00Z"  # terminated instances do not count
    assert first["lease_seconds_left"] == 45 * 60
    assert "slots" not in first and "slots" not in first["instances"][0]
    assert found[1]["lease_end"] is None and found[1]["instances"][0]["lease_end"] is None


def test_slots_are_matched_by_address_or_host_name():
    ads = [ad("slot1@ip-10-150-1-5", "ip-10-150-1-5", "10.150.1.5"),
           ad("slot1@node-b", "node-b.example", "10.150.1.6"),
           ad("slot1@elsewhere", "elsewhere", "192.0.2.1"),
           ad("slot1@other", "other", "192.0.2.2", annex="z")]
    (found,) = annexes([instance("i-1", "a", "10.150.1.5"), instance("i-2", "a", "10.150.1.6")], ads)
    assert [s["name"] for s in found["instances"][0]["slots"]] == ["slot1@ip-10-150-1-5"]
    assert [s["name"] for s in found["instances"][1]["slots"]] == ["slot1@node-b"]
    assert found["slots"] == 2 and found["unmatched_slots"] == ["slot1@elsewhere"]


def test_slot_address_reads_ipv4_and_ipv6():
    assert slot_address({"MyAddress": "<10.0.0.5:9618?addrs=10.0.0.5-9618>"}) == "10.0.0.5"
    assert slot_address({"MyAddress": "<[2001:db8::5]:9618>"}) == "2001:db8::5"
    assert slot_address({}) is None
