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
  setup's lease function with the annex's input, the annex's record is in the setup's bucket, and no token or key
  is in the user data; its security group filters for real: a node's 9618 answers the central manager and nobody
  else (not the stranger on the same subnet, not this machine, not the other node), its 22 only this machine;
- its lease renewed (playbooks/annex_renew.yml, condor_annex -annex-name NAME -duration H): the nodes' lease-end tag,
  their launch records, the annex's record, condor's lease test and the backstop move to the new end;
- idle: a node powers itself off, the local cloud terminates its instance, and the status shows it;
- a wedged annex (cloud side only: condor never starts, its schedule hourly) is terminated after its lease by the
  boot-time backstop;
- an annex whose nodes have no backstop and no condor ends at its lease by the cloud side alone: the schedule fires
  (the rig runs due EventBridge rules' Lambda targets, tests/rig/schedules.py) and the setup's lease function, run from
  its own package with its role's credentials, terminates it and deletes its record; the test never calls the reaper;
- the stock condor_annex -count (Debian's condor, run by the pool's user on the central manager through the rig's
  front under AWS's host names) launches on the setup: its connectivity check reaches the collector, its instance
  lands in the default subnet with the setup's group and key, its rule gives the lease function the stock input;
  condor_annex -annex-name NAME -duration H renews that lease, and the cloud side ends the annex at it (tarball,
  instance, target and rule gone). Its node does not join the pool; the setup's check says what it lacks;
- terminate (playbooks/annex_terminate.yml) leaves no instance, schedule or object of that annex, while another
  annex and an unrelated instance survive.

The world is the region's default VPC (where the stock condor_annex launches). Leases are short; one central manager
serves every annex.
"""

from __future__ import annotations

import base64
import calendar
import io
import json
import re
import tarfile
import threading
import time

import pytest
import rig
from rig.annex_world import AnnexWorld, playbook_env, podman, task_result
from rig.localcloud import probe, stranger, wait_until
from rig.tlsfront import serve_aws_names

from conftest import run

LOCAL_CLOUD_REGION = "eu-north-1"
REGION = LOCAL_CLOUD_REGION
LOCAL_CLOUD_CLUSTERS = ["h4-pool", "annex-seed-000", "annex-h4-a", "annex-h4-wedge", "annex-h4-c", "annex-h4-lease"]
# The stock condor_annex names its rule after the annex: the setup's lease function admits rules named HTCondorAnnex-*.
STOCK_ANNEX = "HTCondorAnnex-h4s"
LOCAL_CLOUD_STOCK_ANNEXES = [STOCK_ANNEX]
WEDGE_LEASE = 150
LEASE_ANNEX_LEASE = 60
RENEWED_LEASE = 2400
# The seed's IAM user and its launch policy, named for this test: IAM is global, and other test modules make
# the role's default user on the same moto.
SEED_USER = {"iam_restricted_user_name": "h4-seed-user", "iam_restricted_user_policy_name": "h4-seed-launch"}


@pytest.fixture(scope="module")
def world(moto_server, local_cloud, cloud_schedules, tmp_path_factory):
    """The account's network (the default VPC) and image, a user's home, a central manager on the local cloud with
    the pool configured on it, and a stranger on the same subnet; no annex setup yet. Schedules fire."""
    checkip = rig.CheckipServer().start()
    made = AnnexWorld(moto_server, REGION, None, None, str(tmp_path_factory.mktemp("home")), "h4-life",
                      local_cloud.inventory_path, "h4-pool", checkip.url)
    made.stranger = stranger(made.subnet_cidr)
    try:
        made.configure_pool()
        yield made
    finally:
        made.ec2.terminate_instances(InstanceIds=[made.cm])
        stranger(made.subnet_cidr, state="absent")
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
def lease_annex(world, seed, tmp_path_factory):
    """Annex h4-lease: one node with neither condor nor the boot-time backstop, lease LEASE_ANNEX_LEASE s, its lease
    rule every minute: only the cloud side can end it."""
    started = time.monotonic()
    result = cloud_side_only(world, "h4-lease", {"htcondor_annex_lease_seconds": LEASE_ANNEX_LEASE,
                                                 "htcondor_annex_backstop": False,
                                                 "htcondor_annex_schedule": "rate(1 minute)"}, tmp_path_factory)
    assert result.rc == 0, result.output[-5000:]
    return {"started": started, "ids": list(world.annex_states("h4-lease"))}


def stock_condor_annex(world, *argv):
    """The stock condor_annex as the pool's user alice runs it on the central manager (her submit host)."""
    return podman("exec", "--user", "alice", "--workdir", "/home/alice", world.cm, "condor_annex", *argv,
                  check=False, timeout=600)


def stock_rule_input(world):
    (target,) = world.events.list_targets_by_rule(Rule=STOCK_ANNEX)["Targets"]
    return target, json.loads(target["Input"])


@pytest.fixture(scope="module")
def stock_annex(world, seed, aws_front, tmp_path_factory):
    """Annex STOCK_ANNEX launched by the stock condor_annex -count 1 on the seed's setup, with a lease of 0.03 h,
    then renewed to 0.05 h from then (condor_annex -annex-name NAME -duration H); its rule fires every 5 minutes.
    condor_annex reaches AWS only under AWS's host names over TLS: the central manager maps them to this machine's
    address on the subnet, where a TLS relay passes them to the rig's fronts (the authorizing one first: it runs
    with the restricted user's key, as a user's condor_annex does)."""
    workdir = tmp_path_factory.mktemp("stock")
    home = "/home/alice/.condor"
    bucket = world.bucket
    names = [f"{service}.{REGION}.amazonaws.com" for service in ("ec2", "events", "lambda", "s3", "cloudformation")]
    names.append(f"{bucket}.s3.{REGION}.amazonaws.com")
    relay = serve_aws_names(world.cm, names, world.gateway, int(world.moto.url.rsplit(":", 1)[1]), str(workdir))
    # Alice's ~/.condor as the setup left the user's: the setup's settings, the restricted user's key, the placeholder.
    world.on_cm("mkdir", "-p", home)
    for name in ("user_config", "publicKeyFile", "privateKeyFile", "pool_password"):
        text = open(f"{world.condor_dir}/{name}").read().replace(world.condor_dir, home)
        (workdir / name).write_text(text)
        podman("cp", str(workdir / name), f"{world.cm}:{home}/{name}")
    world.on_cm("sh", "-c", f"chown -R alice: {home} && chmod 700 {home} && chmod 600 {home}/*")
    try:
        started = time.monotonic()
        launched = stock_condor_annex(world, "-count", "1", "-annex-name", STOCK_ANNEX, "-duration", "0.03",
                                      "-idle", "0.02", "-yes", "-aws-on-demand-ami-id", world.image)
        launched_output = launched.stdout + launched.stderr
        assert "Annex started." in launched_output, launched_output[-4000:]
        first = stock_rule_input(world)[1]
        renewed = stock_condor_annex(world, "-annex-name", STOCK_ANNEX, "-duration", "0.05")
        renewed_output = renewed.stdout + renewed.stderr
        assert "Lease updated." in renewed_output, renewed_output[-4000:]
        # Read now: on a busy machine the rule may fire (and, past the lease, remove itself) before the test runs.
        rule = world.events.describe_rule(Name=STOCK_ANNEX)
        target, renewed_input = stock_rule_input(world)
        tarball = world.s3.get_object(Bucket=world.bucket, Key=f"config-{STOCK_ANNEX}.tar.gz")["Body"].read()
        return {"started": started, "output": launched_output, "first_input": first, "rule": rule, "target": target,
                "renewed_input": renewed_input, "tarball": tarball, "ids": list(world.annex_states(STOCK_ANNEX))}
    finally:
        relay.stop()


@pytest.fixture(scope="module")
def wedged(world, seed, lease_annex, stock_annex, tmp_path_factory):
    """Annex h4-wedge on the seed's setup: one node whose condor never starts, lease WEDGE_LEASE s, launched before
    annex h4-a so that its lease runs out while the other checks go on; its schedule runs hourly, so that only the
    backstop can end it within the test (annexes h4-lease and the stock one start before it: their leases too)."""
    started = time.monotonic()
    result = cloud_side_only(world, "h4-wedge", {"htcondor_annex_lease_seconds": WEDGE_LEASE,
                                                 "htcondor_annex_schedule": "rate(1 hour)"}, tmp_path_factory)
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


def shutdown_expression(instance_id, timeout=60):
    """condor's lease test on an annex node, as its master reads it (a master that the configuration's last
    handler is restarting answers a few seconds later)."""
    def ask():
        answer = podman("exec", instance_id, "condor_config_val", "-master", "DAEMON_SHUTDOWN_FAST", check=False)
        return answer.stdout.strip() if answer.returncode == 0 else None
    return wait_until(ask, timeout, interval=2, message=f"the master of {instance_id} answering")


def exposure(world, node, peer):
    """Who reaches an annex node's HTCondor and SSH ports: the central manager, the stranger on the subnet, this
    machine (the controller) and the annex's other node."""
    address = world.ec2.describe_instances(InstanceIds=[node])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    targets = [(address, 9618), (address, 22)]
    return {"central manager": probe(targets, container=world.cm),
            "stranger": probe(targets, container=world.stranger["name"]),
            "controller": probe(targets), "other node": probe(targets[:1], container=peer)}


@pytest.fixture(scope="module")
def annex_a(world, wedged):
    """Annex h4-a of 2, idle 180 s, lease 30 min, with alice's IsAnnex job already queued; who reaches a node is read
    once both joined, and its lease is renewed then (playbooks/annex_renew.yml, RENEWED_LEASE s from then)."""
    job = ('executable = /bin/hostname\noutput = job.out\nlog = job.log\n'
           'requirements = (TARGET.IsAnnex =?= True) && (TARGET.AnnexName == "h4-a")\nqueue\n')
    world.on_cm("sh", "-c", f"printf '%s' '{job}' > job.sub && condor_submit job.sub", user="alice")
    seen = set()
    result = world.playbook("annex_launch.yml", {
        "htcondor_annex_name": "h4-a", "htcondor_annex_count": 2, "htcondor_annex_idle_seconds": 180,
        "htcondor_annex_lease_seconds": 1800}, env=world.user_key())
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    ids = sorted(world.annex_states("h4-a"))
    # Read now: the nodes power themselves off after 180 s idle, and the renewal below moves the lease.
    expressions = {i: shutdown_expression(i) for i in ids}
    launched = {i["InstanceId"]: i for r in world.ec2.describe_instances(InstanceIds=ids)["Reservations"]
                for i in r["Instances"]}
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        seen |= world.annex_slots("h4-a")
        time.sleep(1)
    exposed = exposure(world, ids[0], ids[1])
    renewed = world.playbook("annex_renew.yml", {"htcondor_annex_name": "h4-a",
                                                 "htcondor_annex_lease_seconds": RENEWED_LEASE}, env=world.user_key())
    world.on_cm("condor_reschedule", check=False)  # match the queued job now, not at the next cycle
    return {"seen": seen, "ids": ids, "expressions": expressions, "launched": launched, "exposed": exposed,
            "renewed": renewed, "renewed_at": time.time(), "output": result.stdout + result.stderr}


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
    instances = list(annex_a["launched"].values())  # as launched, before the renewal
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

    assert s3.head_object(Bucket=world.bucket, Key="config-h4-a/annex.json")["Metadata"]["lease-end"]
    record = json.loads(s3.get_object(Bucket=world.bucket, Key="config-h4-a/annex.json")["Body"].read())
    assert record["annex_name"] == "h4-a" and record["idle_seconds"] == 180


def test_annex_nodes_are_reached_only_as_their_security_group_says(annex_a):
    """The setup's group: 9618 from the central manager's /32 only, 22 from the controller's address (on the local
    cloud, the subnet's gateway) only. Dropped, not refused: the packets never reach the node."""
    exposed = annex_a["exposed"]
    node = next(iter(exposed["central manager"]))[0]
    assert exposed["central manager"] == {(node, 9618): "open", (node, 22): "filtered"}
    assert exposed["stranger"] == {(node, 9618): "filtered", (node, 22): "filtered"}
    assert exposed["controller"] == {(node, 9618): "filtered", (node, 22): "open"}
    assert exposed["other node"] == {(node, 9618): "filtered"}


def test_a_renewed_lease_moves_everywhere_it_is_enforced(world, annex_a):
    renewed = annex_a["renewed"]
    assert renewed.returncode == 0, (renewed.stdout + renewed.stderr)[-6000:]
    old_end = next(iter(annex_a["launched"].values()))
    old_end = {t["Key"]: t["Value"] for t in old_end["Tags"]}["cloudburst:lease-end"]
    live = {i["InstanceId"]: i for r in world.ec2.describe_instances(InstanceIds=annex_a["ids"])["Reservations"]
            for i in r["Instances"] if i["State"]["Name"] == "running"}
    assert live, "no h4-a node was still up after the renewal"
    new_end = {t["Key"]: t["Value"] for t in next(iter(live.values()))["Tags"]}["cloudburst:lease-end"]
    epoch = calendar.timegm(time.strptime(new_end, "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(epoch - (annex_a["renewed_at"] + RENEWED_LEASE)) < 300 and new_end > old_end
    records = json.load(open(f"{world.key_path}.launched/annex-h4-a.json"))["instances"]
    assert {r["tags"]["cloudburst:lease-end"] for r in records.values()} == {new_end}
    assert world.s3.head_object(Bucket=world.bucket, Key="config-h4-a/annex.json")["Metadata"]["lease-end"] == new_end
    for instance_id in live:
        assert shutdown_expression(instance_id) == f"CurrentTime >= {epoch}"
        backstop = podman("exec", instance_id, "cat", "/usr/local/sbin/cloudburst-annex-backstop").stdout
        assert re.search(rf"^end={epoch}$", backstop, re.M), backstop
        active = podman("exec", instance_id, "systemctl", "is-active", "cloudburst-annex-backstop").stdout.strip()
        assert active == "active"


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
    # A node that does not answer SSH (here its sshd is off once it has booted) is skipped by the drain, not fatal.
    wait_until(lambda: podman("exec", c_ids[0], "systemctl", "is-system-running", check=False).stdout.strip()
               in ("running", "degraded"), 240, interval=3, message="h4-c's node booted")
    podman("exec", c_ids[0], "systemctl", "stop", "ssh.service", "ssh.socket", check=False)

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


def test_a_lease_ends_by_the_cloud_side_alone(world, lease_annex, cloud_schedules):
    """h4-lease has no condor and no backstop: the due schedule ran the setup's lease function (its own package, its
    role's session), which terminated the node and deleted the annex's record. No reaper was called here."""
    (instance_id,) = lease_annex["ids"]
    left = LEASE_ANNEX_LEASE + 150 - (time.monotonic() - lease_annex["started"])
    wait_until(lambda: world.annex_states("h4-lease")[instance_id] in ("shutting-down", "terminated"), max(left, 10),
               interval=3, message="h4-lease ended by its lease rule")
    rule = world.events.describe_rule(Name="HTCondorAnnex-h4-lease-lease")
    ran = [i for i in cloud_schedules.lambdas.ran(world.function_arn, source=rule["Arn"]) if i.ok]
    assert any(instance_id in i.result["terminated"] for i in ran), [(i.result, i.error) for i in ran]
    (ended,) = [i for i in ran if instance_id in i.result["terminated"]]
    assert ended.event == {"bucket": world.bucket, "annex_name": "h4-lease"}
    assert "config-h4-lease/annex.json" in ended.result["deleted"]
    assert not world.s3.list_objects_v2(Bucket=world.bucket, Prefix="config-h4-lease/").get("Contents")
    wait_until(lambda: podman("container", "exists", instance_id, check=False).returncode != 0, 120, interval=3,
               message="h4-lease's container removed")


def test_the_stock_condor_annex_launches_on_the_setup_and_ends_at_its_lease(world, seed, stock_annex, aws_front,
                                                                            cloud_schedules):
    # Before launching, condor_annex had the setup's connectivity check ask the collector for its instance ID.
    checks = [i for i in aws_front.lambdas.ran("AnnexSetup-check-connectivity") if i.ok]
    assert checks and checks[0].result["success"] == "1", [(i.result, i.error) for i in checks]
    assert checks[0].event == {"timeout": 5, "condor_port": 9618, "condor_host": world.cm_ip}
    (instance_id,) = stock_annex["ids"]
    instance = world.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["ClientToken"].startswith(STOCK_ANNEX + "_") and instance["SubnetId"] == world.subnet
    setup_group = world.setup_outputs()["security_group"]["SecurityGroupId"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [setup_group]
    assert instance["KeyName"] == "HTCondorAnnex-KeyPair"
    first = stock_annex["first_input"]
    assert set(first) == {"AnnexID", "S3BucketName", "LeaseExpiration"} and first["AnnexID"] == STOCK_ANNEX
    # Its node does not join: the setup's check says what it lacks (the pool takes IDTOKENS; the tarball, PASSWORD).
    check = task_result(seed, "Check the setup as condor_annex -check-setup would, and the resources behind it")
    assert check["stock_annex_nodes"]["joins_pool"] is False

    rule = stock_annex["rule"]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    target, renewed = stock_annex["target"], stock_annex["renewed_input"]
    assert target["Arn"] == world.function_arn and renewed["LeaseExpiration"] > first["LeaseExpiration"]
    with tarfile.open(fileobj=io.BytesIO(stock_annex["tarball"])) as unpacked:
        config = b"".join(unpacked.extractfile(m).read() for m in unpacked.getmembers() if m.isfile())
    assert b"SEC_DEFAULT_AUTHENTICATION_METHODS = FS, PASSWORD" in config

    # The rule's first firing comes five minutes after it was made, past the renewed lease: the cloud side ends it.
    left = 300 + 180 - (time.monotonic() - stock_annex["started"])
    wait_until(lambda: world.annex_states(STOCK_ANNEX)[instance_id] in ("shutting-down", "terminated"), max(left, 10),
               interval=5, message="the stock annex ended by its lease rule")
    ran = [i for i in cloud_schedules.lambdas.ran(world.function_arn, source=rule["Arn"]) if i.ok]
    ended = [i for i in ran if i.result.get("expired")]
    assert ended and ended[0].event == renewed and ended[0].result["terminated"] == [instance_id]
    assert ended[0].result["deleted"] == [f"config-{STOCK_ANNEX}.tar.gz"]
    assert not world.s3.list_objects_v2(Bucket=world.bucket, Prefix=f"config-{STOCK_ANNEX}.tar.gz").get("Contents")
    assert STOCK_ANNEX not in [r["Name"] for r in world.events.list_rules(NamePrefix="HTCondorAnnex-")["Rules"]]
    assert not world.annex_slots(STOCK_ANNEX)
