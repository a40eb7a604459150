# -*- coding: utf-8 -*-
"""Helpers for the EC2 role tests: plays that run the roles against moto the way a user would.

Endpoint and region come only from module_defaults for group/cloudburst.aws.aws; credentials come from the
usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables; AWS_ENDPOINT_URL is not set.
"""

from __future__ import annotations

import json
import os
import re

from conftest import VENV_BIN, ansible_env, run, run_playbook

REGION = "eu-west-1"
READ_PREFIXES = ("Describe", "Get", "List")


def ec2_env(moto, extra=None):
    env = ansible_env(extra={"AWS_ACCESS_KEY_ID": moto.credentials["aws_access_key_id"],
                             "AWS_SECRET_ACCESS_KEY": moto.credentials["aws_secret_access_key"]})
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "CLOUDBURST_AWS_ENDPOINT_URL"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def ec2_client(moto, region=REGION):
    """A boto3 EC2 client on the moto server with the rig's credentials."""
    import boto3

    return boto3.client("ec2", endpoint_url=moto.url, region_name=region,
                        aws_access_key_id=moto.credentials["aws_access_key_id"],
                        aws_secret_access_key=moto.credentials["aws_secret_access_key"])


def ec2_writes(actions):
    """The EC2 (and other) calls among actions that are not reads."""
    return [a for a in actions if not a.split(":", 1)[-1].startswith(READ_PREFIXES)]


def role_tasks(*roles):
    """include_role tasks for (name, vars) pairs, in order."""
    return [{"name": f"Role {name}", "ansible.builtin.include_role": {"name": f"cloudburst.aws.{name}"}, "vars": dict(v)}
            for name, v in roles]


def play(moto, tasks, region=REGION):
    return [{
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": moto.url, "region": region}},
        "tasks": tasks,
    }]


class Run:
    """One ansible-playbook run: rc, output, the JSON callback's plays and stats."""

    def __init__(self, completed, parsed):
        self.completed = completed
        self.parsed = parsed
        self.rc = completed.rc
        self.output = completed.output

    @property
    def changed(self):
        return self.parsed["stats"]["localhost"]["changed"]

    @property
    def failed(self):
        stats = self.parsed["stats"]["localhost"]
        return stats["failures"] + stats.get("unreachable", 0)

    def changed_tasks(self):
        return [task["task"]["name"] for p in self.parsed["plays"] for task in p["tasks"]
                if task["hosts"].get("localhost", {}).get("changed")]

    def failure_messages(self):
        messages = []
        for p in self.parsed["plays"]:
            for task in p["tasks"]:
                result = task["hosts"].get("localhost", {})
                if result.get("failed"):
                    messages.append(result.get("msg", ""))
                for item in result.get("results", []) or []:
                    if isinstance(item, dict) and item.get("failed"):
                        messages.append(item.get("msg", ""))
        return messages

    def warnings(self):
        """The warnings of every task on localhost (modules' module.warn)."""
        return [w for p in self.parsed["plays"] for task in p["tasks"]
                for w in task["hosts"].get("localhost", {}).get("warnings", [])]

    def fact(self, name):
        """The last value set_fact gave name."""
        value = None
        for p in self.parsed["plays"]:
            for task in p["tasks"]:
                facts = task["hosts"].get("localhost", {}).get("ansible_facts", {})
                if name in facts:
                    value = facts[name]
        return value


def run_play(tmp_path, moto, tasks, extra_args=(), env=None, region=REGION, name="play.yml"):
    completed, parsed = run_playbook(tmp_path, play(moto, tasks, region), env or ec2_env(moto), extra_args, name=name)
    assert parsed is not None, completed.output[-4000:]
    return Run(completed, parsed)


def run_roles_verbose(tmp_path, moto, roles, env=None, region=REGION):
    """The roles with -vvv and the default callback (the JSON one cannot share stdout with -vvv): a Completed."""
    playbook = tmp_path / "verbose.yml"
    playbook.write_text(json.dumps(play(moto, role_tasks(*roles), region), indent=1))
    return run(["ansible-playbook", "-vvv", str(playbook)], env=env or ec2_env(moto))


def recap_changed(output):
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def run_roles(tmp_path, moto, roles, extra_args=(), env=None, region=REGION):
    return run_play(tmp_path, moto, role_tasks(*roles), extra_args, env, region)


def role_refusals(directory, moto, role, cases, region=REGION):
    """Run the role once for each case (its variables), in one ansible-playbook run: every case is a host of its own
    (connection local) in one play, running the role in a block whose rescue keeps what refused it; the hosts run
    side by side. Fails the test unless every case was refused, without a traceback; returns each case's refusal
    message, its whitespace runs as one space. A run per case costs an ansible-playbook start and the role's loading
    each time."""
    hosts = {f"case{n:02d}": dict(case, ansible_connection="local",
                                  ansible_python_interpreter=os.path.join(VENV_BIN, "python"))
             for n, case in enumerate(cases)}
    inventory = directory / "cases.json"
    inventory.write_text(json.dumps({"cases": {"hosts": hosts}}))
    plays = [{
        "name": "Each case runs the role",
        "hosts": "cases",
        "gather_facts": False,
        "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": moto.url, "region": region}},
        "tasks": [{"name": "The role with this case's variables",
                   "block": [{"name": "Run the role", "ansible.builtin.include_role": {"name": f"cloudburst.aws.{role}"}}],
                   "rescue": [{"name": "Keep the refusal",
                               "ansible.builtin.set_fact": {"case_refusal": "{{ ansible_failed_result }}"}}]}],
    }]
    completed, parsed = run_playbook(directory, plays, ec2_env(moto), ["-i", str(inventory), "-f", "8"],
                                     name="cases.yml")
    assert parsed is not None, completed.output[-4000:]
    kept = {}
    for task in parsed["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            if "case_refusal" in result.get("ansible_facts", {}):
                failed = result["ansible_facts"]["case_refusal"]
                # A looped task fails as "One or more items failed"; the refusal is its failed item's message.
                items = [item.get("msg", "") for item in failed.get("results", []) if item.get("failed")]
                kept[host] = " ".join(items) or failed.get("msg", "")
    assert "Traceback" not in completed.output, completed.output[-3000:]
    ran_through = [(host, hosts[host]) for host in hosts if host not in kept]
    assert not ran_through, ("not refused", ran_through, completed.output[-3000:])
    return [" ".join(kept[host].split()) for host in hosts]


def tagged(ec2, key, value):
    """Every EC2 resource tagged key=value, described type by type, as (type, id); terminated instances are left
    out (EC2 lists them for an hour and they cannot be deleted). moto's DescribeTags keeps the tags of deleted
    resources, so it cannot answer this."""
    flt = [{"Name": f"tag:{key}", "Values": [value]}]
    found = []
    for reservation in ec2.describe_instances(Filters=flt)["Reservations"]:
        found += [("instance", i["InstanceId"]) for i in reservation["Instances"] if i["State"]["Name"] != "terminated"]
    listings = [
        ("vpc", ec2.describe_vpcs, "Vpcs", "VpcId"),
        ("subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
        ("internet-gateway", ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
        ("route-table", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
        ("security-group", ec2.describe_security_groups, "SecurityGroups", "GroupId"),
        ("key-pair", ec2.describe_key_pairs, "KeyPairs", "KeyName"),
        ("volume", ec2.describe_volumes, "Volumes", "VolumeId"),
        ("network-interface", ec2.describe_network_interfaces, "NetworkInterfaces", "NetworkInterfaceId"),
        ("launch-template", ec2.describe_launch_templates, "LaunchTemplates", "LaunchTemplateName"),
        ("spot-request", ec2.describe_spot_instance_requests, "SpotInstanceRequests", "SpotInstanceRequestId"),
    ]
    for kind, describe, field, ident in listings:
        found += [(kind, item[ident]) for item in describe(Filters=flt)[field]
                  if item.get("State") not in ("cancelled", "closed")]
    return found


def playbook_run(argv, env):
    return run(["ansible-playbook", *argv], env=env)


def dump(value):
    return json.dumps(value, indent=1, default=str)
