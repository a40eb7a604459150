# -*- coding: utf-8 -*-
"""Security groups as packet filters in the local cloud: each instance's groups become nftables rules in its
container's network namespace, so a port that a group does not open is closed for real.

What the rules say (`ruleset()`, pure, unit-tested) follows EC2's security groups:

- inbound is denied unless a rule of one of the instance's groups allows it; outbound likewise by the groups'
  egress rules (a new group's default "all traffic to 0.0.0.0/0" included);
- a rule names a protocol (tcp, udp, icmp, icmpv6, a number, or -1 for all), a port range (or ICMP type and
  code) and sources: IPv4 and IPv6 CIDRs, managed prefix lists (their entries) and security groups, a group
  standing for the private addresses (IPv4 and IPv6) of the instances in it, as EC2 resolves a reference
  within a VPC;
- groups are stateful: replies to an allowed connection pass both ways (conntrack's established and related),
  and so do ICMP errors about it; loopback is never filtered;
- traffic to the VPC's DNS resolver is never filtered, as EC2 exempts the Amazon DNS server: here that is the
  podman network's gateway, where aardvark-dns answers.

How they are applied (`Filter`): the reconciler's thread reads the groups from moto every pass and loads one table,
`inet cloudburst_sg`, into each running container's network namespace with `nsenter -t PID -n nft -f -` from this
machine, so the image needs no nftables. The table is replaced in one transaction when the wanted rules change
and loaded again when the container restarts (a new namespace); it leaves with the container.

The podman network's gateway is this machine: the controller (the `ec2_instances` role's SSH, the Spark check),
the stand-in mirror, and every Lambda function the rig runs reach the nodes from that address, so an allow-list
that admits the controller in the local cloud names the gateway. Traffic that podman routes between two of its
networks is masqueraded to the same gateway address (netavark's NAT), so across subnets the filter cannot tell a
neighbour from the controller; within one subnet it can.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess

from rig.fake_spark_mirror import gateway  # the podman network's gateway: the subnet's first host

TABLE = "cloudburst_sg"
# Protocol names EC2 accepts beside numbers, as nft's meta l4proto names them.
PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
             "icmpv6": "ipv6-icmp", "58": "ipv6-icmp"}
ALL = ("-1", "all")
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:/,>-]")


class FilterError(Exception):
    pass


def network(text):
    """An ip_network from a CIDR (host bits allowed, as EC2 accepts 10.0.0.5/24), or None for anything else."""
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def comment(text):
    return '"' + _COMMENT_UNSAFE.sub("_", text)[:120] + '"'


def _ports(protocol, permission):
    """The nft match for a permission's ports (or ICMP type/code): '' for every port."""
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if protocol in ("tcp", "udp"):
        if low in (None, -1) or (low, high) == (0, 65535):
            return ""
        return f" {protocol} dport {low}" + (f"-{high}" if high not in (None, low) else "")
    if protocol in ("icmp", "ipv6-icmp"):
        keyword = "icmp" if protocol == "icmp" else "icmpv6"
        match = ""
        if low not in (None, -1):
            match += f" {keyword} type {low}"
            if high not in (None, -1):
                match += f" {keyword} code {high}"
        return match
    return ""


def _protocol(permission):
    """(nft l4proto name or number, or None for every protocol)."""
    raw = str(permission.get("IpProtocol", "-1")).lower()
    if raw in ALL:
        return None
    if raw in PROTOCOLS:
        return PROTOCOLS[raw]
    if raw.isdigit():
        return raw
    raise FilterError(f"unknown IpProtocol {permission.get('IpProtocol')!r}")


def sources(permission, members, prefix_lists):
    """The (label, [networks]) a permission names: its CIDRs, prefix lists and groups, each group standing for
    its members' addresses (members: group id -> addresses; prefix_lists: id -> CIDRs)."""
    found = []
    for entry in permission.get("IpRanges") or []:
        found.append((entry["CidrIp"], [network(entry["CidrIp"])]))
    for entry in permission.get("Ipv6Ranges") or []:
        found.append((entry["CidrIpv6"], [network(entry["CidrIpv6"])]))
    for entry in permission.get("PrefixListIds") or []:
        found.append((entry["PrefixListId"], [network(c) for c in prefix_lists.get(entry["PrefixListId"], [])]))
    for entry in permission.get("UserIdGroupPairs") or []:
        found.append((entry["GroupId"], [network(a) for a in members.get(entry["GroupId"], [])]))
    return [(label, [n for n in nets if n is not None]) for label, nets in found]


def _rules(group, permissions, direction, members, prefix_lists):
    """nft rule lines for one group's ingress (direction 'saddr') or egress ('daddr') permissions."""
    lines = []
    for permission in permissions:
        protocol = _protocol(permission)
        ports = _ports(protocol, permission)
        what = f"{group} {permission.get('IpProtocol')} {permission.get('FromPort', '')}-{permission.get('ToPort', '')}"
        for label, nets in sources(permission, members, prefix_lists):
            for family, keyword in ((4, "ip"), (6, "ip6")):
                chosen = sorted(str(n) for n in nets if n.version == family)
                # ICMP is IPv4's and ICMPv6 is IPv6's: EC2 never matches the other family with them.
                if not chosen or (protocol == "icmp" and family == 6) or (protocol == "ipv6-icmp" and family == 4):
                    continue
                addresses = chosen[0] if len(chosen) == 1 else "{ " + ", ".join(chosen) + " }"
                l4 = f" meta l4proto {protocol}" if protocol else ""
                arrow = "from" if direction == "saddr" else "to"
                note = comment(f"{what} {arrow} {label}")
                lines.append(f"{keyword} {direction} {addresses}{l4}{ports} accept comment {note}")
    return lines


def ruleset(groups, members, prefix_lists=None, resolver=None):
    """The nft script (one transaction) that makes an instance's filter: groups are the instance's security groups
    as DescribeSecurityGroups gives them, members maps a group id to its instances' addresses, prefix_lists a
    prefix list id to its CIDRs, resolver is the VPC DNS resolver's address (never filtered)."""
    prefix_lists = prefix_lists or {}
    ingress, egress = [], []
    for group in sorted(groups, key=lambda g: g["GroupId"]):
        ingress += _rules(group["GroupId"], group.get("IpPermissions") or [], "saddr", members, prefix_lists)
        egress += _rules(group["GroupId"], group.get("IpPermissionsEgress") or [], "daddr", members, prefix_lists)
    exempt = []
    if resolver:
        keyword = "ip" if ipaddress.ip_address(resolver).version == 4 else "ip6"
        exempt = [f"{keyword} daddr {resolver} meta l4proto {{ tcp, udp }} th dport 53 accept "
                  f"comment {comment('the VPC DNS resolver: never filtered')}"]
    head = ['ct state established,related accept comment "stateful: replies and their ICMP errors"',
            'ct state invalid drop']
    body = [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    body += ["  chain ingress {", "    type filter hook input priority filter; policy drop;", '    iif "lo" accept']
    body += [f"    {line}" for line in head + ingress] + ["  }"]
    body += ["  chain egress {", "    type filter hook output priority filter; policy drop;", '    oif "lo" accept']
    body += [f"    {line}" for line in head + exempt + egress] + ["  }", "}"]
    return "\n".join(body) + "\n"


def instance_addresses(instance):
    """An instance's private addresses, IPv4 and IPv6, from DescribeInstances."""
    found = [instance.get("PrivateIpAddress")]
    for interface in instance.get("NetworkInterfaces") or []:
        found += [p.get("PrivateIpAddress") for p in interface.get("PrivateIpAddresses") or []]
        found += [a.get("Ipv6Address") for a in interface.get("Ipv6Addresses") or []]
    return sorted({a for a in found if a})


def group_ids(instance):
    return sorted({g["GroupId"] for g in instance.get("SecurityGroups") or []})


def group_members(instances):
    """Group id -> the addresses of the (pending or running) instances in it."""
    members = {}
    for instance in instances:
        if (instance.get("State") or {}).get("Name") not in ("pending", "running"):
            continue
        for group in group_ids(instance):
            members.setdefault(group, set()).update(instance_addresses(instance))
    return {group: sorted(addresses) for group, addresses in members.items()}


def load(pid, script):
    """Load the script into the network namespace of process pid (a container's init), as root on this machine."""
    proc = subprocess.run(["nsenter", "-t", str(pid), "-n", "nft", "-f", "-"], input=script, capture_output=True,
                          text=True, check=False, timeout=30)
    if proc.returncode != 0:
        raise FilterError(f"nft in the namespace of pid {pid} failed: {proc.stderr.strip()}")


def loaded(pid):
    """The table as nft lists it in the namespace of pid, or '' when there is none."""
    proc = subprocess.run(["nsenter", "-t", str(pid), "-n", "nft", "list", "table", "inet", TABLE],
                          capture_output=True, text=True, check=False, timeout=30)
    return proc.stdout if proc.returncode == 0 else ""


class Filter:
    """The security groups of one EC2 endpoint's instances, kept as nftables rules in their containers."""

    def __init__(self, ec2, log):
        self.ec2, self.log = ec2, log
        self.applied = {}  # container name -> (pid, digest of the script loaded)

    def wanted(self, mirrored, subnet_cidrs):
        """Container name -> nft script, for the mirrored instances (id -> description) whose subnet is known."""
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
        everyone = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        members = group_members(everyone)
        ids = sorted({g for instance in mirrored.values() for g in group_ids(instance)})
        found = self.ec2.describe_security_groups(GroupIds=ids)["SecurityGroups"] if ids else []
        groups = {g["GroupId"]: g for g in found}
        lists = sorted({p["PrefixListId"] for g in groups.values()
                        for perm in (g.get("IpPermissions") or []) + (g.get("IpPermissionsEgress") or [])
                        for p in perm.get("PrefixListIds") or []})
        prefix_lists = {pl: [e["Cidr"] for e in self.ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"]]
                        for pl in lists}
        scripts = {}
        for instance_id, instance in mirrored.items():
            cidr = subnet_cidrs.get(instance.get("SubnetId"))
            if not cidr:
                continue
            mine = [groups[g] for g in group_ids(instance) if g in groups]
            scripts[instance_id] = ruleset(mine, members, prefix_lists, resolver=gateway(cidr))
        return scripts

    def sync(self, mirrored, subnet_cidrs, running_pids):
        """Load the wanted rules into every running container (name -> pid) whose rules or namespace changed;
        returns the names loaded."""
        scripts = self.wanted(mirrored, subnet_cidrs)
        done = []
        for name, pid in sorted(running_pids.items()):
            script = scripts.get(name)
            if script is None or not pid:
                continue
            digest = hashlib.sha256(script.encode()).hexdigest()
            if self.applied.get(name) == (pid, digest):
                continue
            load(pid, script)
            self.applied[name] = (pid, digest)
            done.append(name)
        for name in set(self.applied) - set(running_pids):
            del self.applied[name]  # the container stopped or left: its namespace and table went with it
        return done
