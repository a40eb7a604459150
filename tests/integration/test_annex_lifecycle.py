# -*- coding: utf-8 -*-
"""An annex on the local cloud, end to end, with a central manager that is itself a local-cloud instance:

- launch an annex of 2 (playbooks/annex_launch.yml): both slots join with AnnexName, a job requiring IsAnnex
  runs on one; the instances carry the annex and lease tags and terminate on shutdown, the lease schedule
  targets the lease function with the annex's input (checked by its configuration: moto never fires it), the
  annex's record is in the bucket, and no token or key is in the user data;
- idle 60 s: a node powers itself off, the local cloud terminates its instance, and the status shows it;
- a wedged annex (cloud side only: condor never starts) is terminated after its lease by the boot-time backstop;
- terminate (playbooks/annex_terminate.yml) leaves no instance, schedule or object of that annex, while another
  annex and an unrelated instance survive.

Hosts are shared between the checks, leases are short. The setup (the four HTCondorAnnex-* stacks) is made
here with the same outputs the cloudburst.aws.htcondor_annex_setup role gives, in a region of its own.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from annex_world import AnnexWorld, playbook_env, podman
from localcloud import wait_until

from conftest import run

LOCAL_CLOUD_REGION = "eu-north-1"
REGION = LOCAL_CLOUD_REGION
LOCAL_CLOUD_CLUSTERS = ["h4-pool", "annex-h4-a", "annex-h4-wedge", "annex-h4-c"]
VPC_CIDR = "10.150.0.0/16"
SUBNET_CIDR = "10.150.1.0/24"
WEDGE_LEASE = 150


@pytest.fixture(scope="module")
def world(moto_server, local_cloud, tmp_path_factory):
    """The setup, key, image and a central manager on the local cloud with the pool configured on it."""
    made = AnnexWorld(moto_server, REGION, VPC_CIDR, SUBNET_CIDR, str(tmp_path_factory.mktemp("condor")), "h4-life",
                      local_cloud.inventory_path, "h4-pool")
    made.configure_pool()
    yield made
    made.ec2.terminate_instances(InstanceIds=[made.cm])


def instance_states(ec2, **filters):
    found = ec2.describe_instances(Filters=[{"Name": k, "Values": v} for k, v in filters.items()])
    return {i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}


def cloud_side_only(world, name, extra, tmp_path_factory):
    """The launch's cloud side alone (roles/htcondor_annex): the nodes are never configured, so condor never
    starts on them, as on a wedged node."""
    plays = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
              "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": world.moto.url, "region": REGION}},
              "roles": [{"role": "cloudburst.aws.htcondor_annex", "vars": dict({
                  "htcondor_annex_name": name, "htcondor_annex_region": REGION, "htcondor_annex_ami": world.image,
                  "htcondor_annex_subnet_id": world.subnet, "htcondor_annex_key_path": world.key_path}, **extra)}]}]
    path = tmp_path_factory.mktemp("plays") / f"{name}.json"
    path.write_text(json.dumps(plays))
    return run(["ansible-playbook", str(path)], env=playbook_env(world.moto), timeout=900)


@pytest.fixture(scope="module")
def wedged(world, tmp_path_factory):
    """Annex h4-wedge: one node whose condor never starts, lease WEDGE_LEASE s, launched first so that its
    lease runs out while the other checks go on."""
    started = time.monotonic()
    result = cloud_side_only(world, "h4-wedge", {"htcondor_annex_lease_seconds": WEDGE_LEASE}, tmp_path_factory)
    assert result.rc == 0, result.output[-5000:]
    return {"started": started, "ids": list(world.annex_states("h4-wedge"))}


@pytest.fixture(scope="module")
def annex_a(world, wedged):
    """Annex h4-a of 2, idle 60 s, lease 30 min, with alice's IsAnnex job already queued."""
    job = ('executable = /bin/hostname\noutput = job.out\nlog = job.log\n'
           'requirements = (TARGET.IsAnnex =?= True) && (TARGET.AnnexName == "h4-a")\nqueue\n')
    world.on_cm("sh", "-c", f"printf '%s' '{job}' > job.sub && condor_submit job.sub", user="alice")
    seen = set()
    result = world.playbook("annex_launch.yml", {
        "htcondor_annex_name": "h4-a", "htcondor_annex_count": 2, "htcondor_annex_idle_seconds": 60,
        "htcondor_annex_lease_seconds": 1800})
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        seen |= world.annex_slots("h4-a")
        time.sleep(1)
    world.on_cm("condor_reschedule", check=False)  # match the queued job now, not at the next cycle
    return {"seen": seen, "ids": sorted(world.annex_states("h4-a")), "output": result.stdout + result.stderr}


def test_annex_of_two_joins_and_runs_an_isannex_job(world, annex_a):
    assert len(annex_a["ids"]) == 2
    assert len({line.split()[1] for line in annex_a["seen"]}) == 2, annex_a["seen"]
    world.on_cm("condor_wait", "-wait", "180", "job.log", user="alice")
    host = world.on_cm("cat", "job.out", user="alice").stdout.strip()
    assert host in {line.split()[1].split(".")[0] for line in annex_a["seen"]}


def test_annex_instances_schedule_and_record(world, annex_a):
    ec2, events, s3 = world.ec2, world.events, world.s3
    found = ec2.describe_instances(InstanceIds=annex_a["ids"])["Reservations"]
    instances = [i for r in found for i in r["Instances"]]
    for instance in instances:
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["htcondor:AnnexName"] == "h4-a" and tags["cloudburst:cluster"] == "annex-h4-a"
        assert tags["cloudburst:role"] == "annex"
        lease_end = tags["cloudburst:lease-end"]
        assert time.strptime(lease_end, "%Y-%m-%dT%H:%M:%SZ")
        behaviour = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"],
                                                    Attribute="instanceInitiatedShutdownBehavior")
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        data = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
        user_data = base64.b64decode(data["UserData"]["Value"]).decode()
        assert "cloudburst-annex-backstop" in user_data and lease_end in user_data
        assert "eyJ" not in user_data and "PRIVATE KEY" not in user_data and "token" not in user_data.lower()

    # The setup's instance profile was asked for; moto 5.2.5 associates it with the first instance of a
    # RunInstances batch only, so the others show none.
    assert {i.get("IamInstanceProfile", {}).get("Arn") for i in instances} - {None} == {world.profile}

    rule = events.describe_rule(Name="HTCondorAnnex-h4-a-lease")
    assert rule["ScheduleExpression"] == "rate(5 minutes)" and rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule="HTCondorAnnex-h4-a-lease")["Targets"]
    assert target["Arn"] == world.function_arn
    assert json.loads(target["Input"]) == {"bucket": world.bucket, "annex_name": "h4-a"}

    head = s3.head_object(Bucket=world.bucket, Key="config-h4-a/annex.json")
    assert head["Metadata"]["lease-end"] == lease_end
    record = json.loads(s3.get_object(Bucket=world.bucket, Key="config-h4-a/annex.json")["Body"].read())
    assert record["annex_name"] == "h4-a" and record["lease_end"] == lease_end


def test_idle_node_powers_off_and_status_shows_it_terminated(world, annex_a):
    wait_until(lambda: "terminated" in world.annex_states("h4-a").values(), 300, interval=3,
               message="an idle h4-a node terminated")
    status = world.playbook("annex_status.yml", {"htcondor_annex_name": "h4-a"}, json_output=True)
    assert status.returncode == 0, (status.stdout + status.stderr)[-4000:]
    parsed = json.loads(status.stdout)
    (annex,) = next(task["hosts"]["localhost"]["annexes"] for play in parsed["plays"] for task in play["tasks"]
                    if task["task"]["name"] == "Read the annexes from EC2")
    assert annex["annex_name"] == "h4-a" and annex["states"].get("terminated", 0) >= 1
    assert sorted(i["instance_id"] for i in annex["instances"]) == annex_a["ids"]
    assert {i["market"] for i in annex["instances"]} == {"on-demand"}


def test_wedged_node_is_terminated_by_the_boot_time_backstop(world, wedged):
    assert len(wedged["ids"]) == 1
    (instance_id,) = wedged["ids"]
    # condor never ran there, and nothing but the node's own backstop ends it (moto never fires the schedule).
    assert podman("exec", instance_id, "test", "-e", "/usr/sbin/condor_master", check=False).returncode != 0
    left = WEDGE_LEASE + 120 - (time.monotonic() - wedged["started"])
    wait_until(lambda: world.annex_states("h4-wedge")[instance_id] in ("shutting-down", "terminated"), max(left, 10),
               interval=3, message="the wedged node terminated after its lease")
    assert time.monotonic() - wedged["started"] >= WEDGE_LEASE - 5


def test_terminate_removes_one_annex_and_nothing_else(world, annex_a, tmp_path_factory):
    ec2, events, s3 = world.ec2, world.events, world.s3
    launched = cloud_side_only(world, "h4-c", {"htcondor_annex_count": 1, "htcondor_annex_lease_seconds": 1800},
                               tmp_path_factory)
    assert launched.rc == 0, launched.output[-5000:]
    # Another annex that must survive: launched outside the local cloud (no container), with schedule and record.
    other = ec2.run_instances(ImageId=world.image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                              SubnetId=world.subnet, TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                  {"Key": "htcondor:AnnexName", "Value": "h4-other"},
                                  {"Key": "cloudburst:lease-end", "Value": "2099-01-01T00:00:00Z"}]}])
    other_id = other["Instances"][0]["InstanceId"]
    events.put_rule(Name="HTCondorAnnex-h4-other-lease", ScheduleExpression="rate(5 minutes)")
    s3.put_object(Bucket=world.bucket, Key="config-h4-other/annex.json", Body=b"{}")
    c_ids = [i for i, state in world.annex_states("h4-c").items() if state == "running"]
    assert len(c_ids) == 1

    result = world.playbook("annex_terminate.yml", {"htcondor_annex_name": "h4-c"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert set(world.annex_states("h4-c").values()) <= {"shutting-down", "terminated"}
    assert "HTCondorAnnex-h4-c-lease" not in [r["Name"] for r in events.list_rules(NamePrefix="HTCondorAnnex-")["Rules"]]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=world.bucket).get("Contents", [])]
    assert not [k for k in keys if k.startswith("config-h4-c/")]
    # What is not that annex's is untouched.
    assert instance_states(ec2, **{"instance-id": [other_id, world.cm]}) == {other_id: "running", world.cm: "running"}
    assert "config-h4-other/annex.json" in keys and "config-h4-a/annex.json" in keys
    assert {"HTCondorAnnex-h4-other-lease", "HTCondorAnnex-h4-a-lease"} <= {
        r["Name"] for r in events.list_rules(NamePrefix="HTCondorAnnex-")["Rules"]}
    ec2.terminate_instances(InstanceIds=[other_id])
