# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What condor_annex -status shows, from EC2 and (optionally) the pool: annexes by name, their instances
(id, state, type, spot or on-demand, launch time, lease end) and each instance's slots in condor_status.

Pure functions over DescribeInstances' shape and condor_status -json ads; the module
cloudburst.aws.htcondor_annex_status reads EC2 and hands the ads it is given (read on the central manager).
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import ANNEX_TAG
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import check_annex_name
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import format_lease_end
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import lease_end
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import tags_of

LIVE_STATES = ("pending", "running", "stopping", "stopped")
_ADDRESS_PATTERN = re.compile(r"<(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):[0-9]+")


def describe(ec2, annex_name=None):
    """Annex instances in any state (of one annex, or of all), DescribeInstances' shape."""
    if annex_name is None:
        filters = [{"Name": "tag-key", "Values": [ANNEX_TAG]}]
    else:
        filters = [{"Name": f"tag:{ANNEX_TAG}", "Values": [check_annex_name(annex_name)]}]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [instance for page in pages for reservation in page["Reservations"] for instance in reservation["Instances"]]


def _iso(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def slot_address(ad):
    """The IP a slot's startd advertises (MyAddress <10.0.0.5:9618?...>), or None."""
    match = _ADDRESS_PATTERN.match(ad.get("MyAddress") or "")
    return (match.group(1) or match.group(2)) if match else None


def _host_label(name):
    return (name or "").split(".")[0].lower()


def slots_of(instance, ads):
    """The ads of condor_status that belong to an instance: same private IP, or same host name."""
    address = instance.get("PrivateIpAddress")
    host = _host_label(instance.get("PrivateDnsName"))
    found = []
    for ad in ads:
        if (address and slot_address(ad) == address) or (host and _host_label(ad.get("Machine")) == host):
            found.append({"name": ad.get("Name"), "state": ad.get("State"), "activity": ad.get("Activity"),
                          "annex_name": ad.get("AnnexName")})
    return sorted(found, key=lambda slot: slot["name"] or "")


def instance_report(instance, ads=None):
    end = lease_end(instance)
    report = {
        "instance_id": instance["InstanceId"],
        "state": (instance.get("State") or {}).get("Name"),
        "instance_type": instance.get("InstanceType"),
        "market": "spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand",
        "launch_time": _iso(instance.get("LaunchTime")),
        "lease_end": format_lease_end(end) if end else None,
        "private_ip": instance.get("PrivateIpAddress"),
    }
    if ads is not None:
        report["slots"] = slots_of(instance, ads)
    return report


def annexes(instances, ads=None, now=None):
    """The annexes by name, each with its instances (oldest first) and a summary; ads (condor_status -json
    startd ads) add each instance's slots and the annex's slot count when given."""
    grouped = {}
    for instance in instances:
        name = tags_of(instance).get(ANNEX_TAG)
        if name is not None:
            grouped.setdefault(name, []).append(instance)
    result = []
    for name in sorted(grouped):
        members = sorted(grouped[name], key=lambda i: (_iso(i.get("LaunchTime")) or "", i["InstanceId"]))
        reports = [instance_report(i, ads) for i in members]
        states = {}
        for report in reports:
            states[report["state"]] = states.get(report["state"], 0) + 1
        ends = sorted(r["lease_end"] for r in reports if r["lease_end"] and r["state"] in LIVE_STATES)
        entry = {"annex_name": name, "instances": reports, "states": states,
                 "live": sum(states.get(s, 0) for s in LIVE_STATES), "lease_end": ends[-1] if ends else None}
        if ads is not None:
            entry["slots"] = sum(len(r["slots"]) for r in reports)
            # Slots that say they belong to the annex but match no instance (another network, a stale ad).
            known = {s["name"] for r in reports for s in r["slots"]}
            entry["unmatched_slots"] = sorted(ad.get("Name") for ad in ads
                                              if ad.get("AnnexName") == name and ad.get("Name") not in known)
        if now is not None and entry["lease_end"]:
            entry["lease_seconds_left"] = max(0, int((datetime.datetime.strptime(
                entry["lease_end"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc) - now).total_seconds()))
        result.append(entry)
    return result
