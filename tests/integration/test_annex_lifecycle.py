# -*- coding: utf-8 -*-
"""HTCondor annexes on the local cloud, end to end, with a central manager that is itself a local-cloud instance.

The world is made the way a user makes it: playbooks/annex_seed000.yml runs against the session's moto (behind
the rig's authorizing front) with an administrator's key in the environment (as docs/annex-setup.md says the setup
needs) - the restricted IAM user with its key in the user's condor dir, playbooks/annex_setup.yml with the
cloudburst.aws.htcondor_annex_setup role, its check (every item OK), then with the restricted user's key from those
files: the launch of seed-000 (one m3.medium node), a job that requires IsAnnex (it runs on the annex node), the
status (seed-000 listed with its node and slot) and the termination (nothing of seed-000 left). Every later launch,
status and termination also runs with the restricted key, authorized by its policies as IAM would. Everything else
stands on that same setup and central manager:

- an annex of 2 (playbooks/annex_launch.yml): both slots join with AnnexName, a job requiring IsAnnex runs on one;
  the instances carry the annex and lease tags and terminate on shutdown, condor on each node leaves at the
  launch's lease end (the tag's moment, which the backstop counts to as well), the lease schedule targets the
  setup's lease function with the annex's input (checked by its configuration: moto never fires it), the
  annex's record is in the setup's bucket, and no token or key is in the user data;
- idle 60 s: a node powers itself off, the local cloud terminates its instance, and the status shows it;
- a wedged annex (cloud side only: condor never starts) is terminated after its lease by the boot-time backstop;
- terminate (playbooks/annex_terminate.yml) leaves no instance, schedule or object of that annex, while another
  annex and an unrelated instance survive.

Leases are short; one central manager serves every annex.
"""

from __future__ import annotations

import base64
import calendar
import json
import re
import threading
import time

import pytest
import rig
from annex_world import AnnexWorld, playbook_env, podman, task_result
from localcloud import wait_until

from conftest import run

LOCAL_CLOUD_REGION = "eu-north-1"
REGION = LOCAL_CLOUD_REGION
LOCAL_CLOUD_CLUSTERS = ["h4-pool", "annex-seed-000", "annex-h4-a", "annex-h4-wedge", "annex-h4-c"]
VPC_CIDR = "10.150.0.0/16"
SUBNET_CIDR = "10.150.1.0/24"
WEDGE_LEASE = 150
# The seed's IAM user and its launch policy, named for this test: IAM is global, and other test modules make
# the role's default user on the same moto.
SEED_USER = {"iam_restricted_user_name": "h4-seed-user", "iam_restricted_user_policy_name": "h4-seed-launch"}


@pytest.fixture(scope="module")
def world(moto_server, local_cloud, tmp_path_factory):
    """The account's network and image, a user's home, and a central manager on the local cloud with the pool
    configured on it; no annex setup yet."""
    checkip = rig.CheckipServer().start()
    made = AnnexWorld(moto_server, REGION, VPC_CIDR, SUBNET_CIDR, str(tmp_path_factory.mktemp("home")), "h4-life",
                      local_cloud.inventory_path, "h4-pool", checkip.url)
    made.configure_pool()
    yield made
    made.ec2.terminate_instances(InstanceIds=[made.cm])
    checkip.stop()


@pytest.fixture(scope="module")
def seed(world):
    """playbooks/annex_seed000.yml end to end, as a user runs it; its JSON callback output, parsed."""
    started = time.monotonic()
    result = world.playbook("annex_seed000.yml", SEED_USER, json_output=True, timeout=2400)
    assert result.returncode == 0, (result.stdout[-8000:] + result.stderr[-3000:])
    parsed = json.loads(result.stdout)
    parsed["seconds"] = time.monotonic() - started
    return parsed


def instance_states(ec2, **filters):
    found = ec2.describe_instances(Filters=[{"Name": k, "Values": v} for k, v in filters.items()])
    return {i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}


def cloud_side_only(world, name, extra, tmp_path_factory):
    """The launch's cloud side alone (roles/htcondor_annex): the nodes are never configured, so condor never
    starts on them, as on a wedged node. It does not wait for SSH either: nothing is done over it (seed-000's and
    h4-a's launches wait for it and configure their nodes)."""
    plays = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
              "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": world.moto.url, "region": REGION}},
              "roles": [{"role": "cloudburst.aws.htcondor_annex", "vars": dict({
                  "htcondor_annex_name": name, "htcondor_annex_region": REGION, "htcondor_annex_ami": world.image,
                  "htcondor_annex_subnet_id": world.subnet, "htcondor_annex_key_path": world.key_path,
                  "htcondor_annex_wait_for_ssh": False}, **extra)}]}]
    path = tmp_path_factory.mktemp("plays") / f"{name}.json"
    path.write_text(json.dumps(plays))
    return run(["ansible-playbook", str(path)], env=dict(playbook_env(world.moto), **world.user_key()), timeout=900)


@pytest.fixture(scope="module")
def wedged(world, seed, tmp_path_factory):
    """Annex h4-wedge on the seed's setup: one node whose condor never starts, lease WEDGE_LEASE s, launched before
    annex h4-a so that its lease runs out while the other checks go on."""
    started = time.monotonic()
    result = cloud_side_only(world, "h4-wedge", {"htcondor_annex_lease_seconds": WEDGE_LEASE}, tmp_path_factory)
    assert result.rc == 0, result.output[-5000:]
    ids = list(world.annex_states("h4-wedge"))
    seen = {}
    watcher = threading.Thread(target=watch_wedged, args=(ids, seen, started + WEDGE_LEASE + 120), daemon=True)
    watcher.start()
    yield {"started": started, "ids": ids, "seen": seen, "watcher": watcher}
    watcher.join()


def watch_wedged(ids, seen, deadline):
    """While annex h4-a launches: once the wedged node is up and its user data has run (the backstop enabled),
    note whether condor is there; until the deadline at the latest (the wedged test's own, 120 s past the lease)."""
    while time.monotonic() < deadline:
        for instance_id in ids:
            answer = podman("exec", instance_id, "systemctl", "is-enabled", "cloudburst-annex-backstop.service",
                            check=False)
            if answer.stdout.strip() == "enabled":
                seen[instance_id] = podman("exec", instance_id, "test", "-e", "/usr/sbin/condor_master",
                                           check=False).returncode
        if len(seen) == len(ids):
            return
        time.sleep(2)


def shutdown_expression(instance_id):
    """condor's lease test on an annex node, as its master reads it."""
    return podman("exec", instance_id, "condor_config_val", "-master", "DAEMON_SHUTDOWN_FAST").stdout.strip()


@pytest.fixture(scope="module")
def annex_a(world, wedged):
    """Annex h4-a of 2, idle 60 s, lease 30 min, with alice's IsAnnex job already queued."""
    job = ('executable = /bin/hostname\noutput = job.out\nlog = job.log\n'
           'requirements = (TARGET.IsAnnex =?= True) && (TARGET.AnnexName == "h4-a")\nqueue\n')
    world.on_cm("sh", "-c", f"printf '%s' '{job}' > job.sub && condor_submit job.sub", user="alice")
    seen = set()
    result = world.playbook("annex_launch.yml", {
        "htcondor_annex_name": "h4-a", "htcondor_annex_count": 2, "htcondor_annex_idle_seconds": 60,
        "htcondor_annex_lease_seconds": 1800}, env=world.user_key())
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    ids = sorted(world.annex_states("h4-a"))
    # Read now: the nodes power themselves off after 60 s idle.
    expressions = {i: shutdown_expression(i) for i in ids}
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        seen |= world.annex_slots("h4-a")
        time.sleep(1)
    world.on_cm("condor_reschedule", check=False)  # match the queued job now, not at the next cycle
    return {"seen": seen, "ids": ids, "expressions": expressions, "output": result.stdout + result.stderr}


def test_seed000_from_a_users_first_steps_to_termination(world, seed):
    # The restricted user's key is in the user's condor dir, where the setup's settings name it; the launch, status
    # and termination ran with it.
    user_key = task_result(seed, "Write one access key for the user, rotated by age")
    switched = task_result(seed, "Wait until AWS accepts the key as the restricted user")
    assert switched["arn"] == "arn:aws:iam::123456789012:user/cloudburst/h4-seed-user"
    config = open(f"{world.condor_dir}/user_config").read()
    assert f"ANNEX_DEFAULT_ACCESS_KEY_FILE = {world.condor_dir}/publicKeyFile" in config
    assert open(f"{world.condor_dir}/publicKeyFile").read().strip() == user_key["access_key"]["access_key_id"]

    check = task_result(seed, "Check the setup as condor_annex -check-setup would, and the resources behind it")
    assert check["ok"] is True and check["summary"] == "Your setup looks OK.", [
        i for i in check["items"] if i["status"] != "ok"]
    assert {i["status"] for i in check["items"]} == {"ok"} and len(check["items"]) >= 20

    # The job ran on the annex's node, and the output names it.
    launched = task_result(seed, "Note the annex for the plays that follow")["ansible_facts"]["htcondor_annex_result"]
    (node,) = launched["instances"]
    found = world.ec2.describe_instances(InstanceIds=[node["instance_id"]])["Reservations"][0]["Instances"][0]
    assert found["InstanceType"] == "m3.medium"
    hostname = found["PrivateDnsName"].split(".")[0]
    ran = task_result(seed, "Summary", host=world.cm)["msg"]  # the central manager's play, named by instance id
    assert ran == f"The job ran on annex node {hostname}", ran

    # The status listed seed-000 with its node running and its slot in the pool.
    (annex,) = [a for a in task_result(seed, "Read the annexes from EC2")["annexes"] if a["annex_name"] == "seed-000"]
    assert annex["states"] == {"running": 1} and annex["slots"] == 1, annex
    assert annex["instances"][0]["instance_id"] == node["instance_id"]
    assert annex["lease_end"] == launched["lease_end"]

    # Terminate left nothing of seed-000: no live instance, no schedule, no object.
    assert set(world.annex_states("seed-000").values()) <= {"shutting-down", "terminated"}
    assert not world.events.list_rules(NamePrefix="HTCondorAnnex-seed-000")["Rules"]
    assert not world.s3.list_objects_v2(Bucket=world.bucket, Prefix="config-seed-000/").get("Contents")
    assert not world.annex_slots("seed-000")


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
        # condor, the backstop and the reaper all count to the tag's moment.
        epoch = calendar.timegm(time.strptime(lease_end, "%Y-%m-%dT%H:%M:%SZ"))
        assert re.search(rf"^end={epoch}$", user_data, re.M), user_data
        assert annex_a["expressions"][instance["InstanceId"]] == f"CurrentTime >= {epoch}"
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
    status = world.playbook("annex_status.yml", {"htcondor_annex_name": "h4-a"}, json_output=True, env=world.user_key())
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
    # The node came up with its backstop enabled and no condor at all, and nothing but that backstop ends it
    # (moto never fires the schedule).
    wedged["watcher"].join()
    assert wedged["seen"] == {instance_id: 1}, "the wedged node was never seen up with its backstop"
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

    result = world.playbook("annex_terminate.yml", {"htcondor_annex_name": "h4-c"}, env=world.user_key())
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
    # The annexes' launches, status and terminations were the restricted user's, and IAM's rules refused none.
    calls = [d for d in world.moto.front.decisions if d["principal"].endswith(":user/cloudburst/h4-seed-user")]
    assert {"ec2:RunInstances", "ec2:TerminateInstances", "events:PutTargets", "s3:PutObject", "s3:DeleteObject",
            "iam:PassRole"} <= {d["action"] for d in calls}
    assert [d for d in calls if d["effect"] != "Allow"] == []
