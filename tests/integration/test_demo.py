# -*- coding: utf-8 -*-
"""The README's demo command, then the rest of a Spark cluster's life on the demo's local cloud.

`make demo` (moto behind the rig's authorizing front + the local cloud in the background; the IAM user, made with
the administrator's key; a master and 2 workers launched through the EC2 layer with the restricted user's key;
SparkPi) is the launch step. The same cluster then goes through playbooks/spark_ec2.yml as a user drives it, with
the demo's vars file, the exports `make demo` leaves in .build/local-aws.env and the restricted user's profile
(AWS_PROFILE=annex): every call is authorized by the user's policies as IAM would, and none is refused. Resize
to 3, resize to 1, stop, start, a job, Spark's own stop-all.sh and start-all.sh, allow (a stranger gains and loses
access), a launch re-run into the tunnel exposure (the UI reached only through describe's tunnel line), extend to
a lease end 36 s away (every node then powers itself off and is terminated, the controller idle) and destroy; the
resize to 3, stop, the tunnel launch and destroy run twice with the second run changing nothing, and the master's
/json/ shows exactly the wanted alive workers after each running step.
The security groups match the exposure rules exactly, and connections prove them (the local cloud filters packets
by security group): from this machine, the controller, and from a stranger on the same subnet, from the workers
and from the master, each port reached or not as the rules say, 6066 from nowhere; revoking a rule in moto closes
its port within seconds. An unrelated instance survives destroy; `make demo-clean` then leaves no container,
network, env file or process.

One cluster serves every check (CI has two cores): this is the suite's only Spark-on-EC2 cluster.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import urllib.request

import pytest
from conftest import REPO_ROOT, ansible_env, run
from rig.localcloud import probe, stranger, wait_until

import rig

CLUSTER = "demo"  # playbooks/vars/demo.yml
DEMO_NETWORK = "cloudburst-10.120.1.0-24"  # the local cloud's network for the demo's subnet (playbooks/vars/demo.yml)
DEMO_SUBNET = "10.120.1.0/24"
BUILD = os.path.join(REPO_ROOT, ".build")
PID_FILE = os.path.join(BUILD, "local-aws.pid")
ENV_FILE = os.path.join(BUILD, "local-aws.env")
ADDRESS = rig.DEFAULT_CHECKIP_ANSWER  # tools/local-aws's checkip answer: the controller's address for AWS's APIs
# The controller's address inside the VPC, which the nodes see: this machine on the subnet's podman network (its
# gateway). playbooks/vars/demo.yml names it as the security groups' allow-list.
GATEWAY = "10.120.1.1"
ALLOWLIST = f"{GATEWAY}/32"
REACHED = ("open", "refused")  # the packet got there (refused: nothing listens); filtered: dropped on the way
RESTRICTED_PROFILE = "annex"  # iam_restricted_user's profile, written by make demo (playbooks/vars/demo.yml)
RESTRICTED_USER = "arn:aws:iam::123456789012:user/cloudburst/annex-user"
LOG_DIR = os.path.join(BUILD, "test-logs", "test_demo")
TIMINGS = {}


def podman(*argv, check=True):
    return subprocess.run(["podman", *argv], capture_output=True, text=True, check=check)


def demo_containers():
    proc = podman("ps", "-a", "--format", "json", "--filter", "label=owner=cloudburst-local-cloud")
    return [c["Names"][0] for c in json.loads(proc.stdout or "[]")
            if (c.get("Labels") or {}).get("cloudburst_cluster", CLUSTER) == CLUSTER]


def network_exists(name):
    return subprocess.run(["podman", "network", "exists", name], check=False).returncode == 0


def flat(output):
    """The output with every run of whitespace as one space: the callback wraps long lines."""
    return " ".join(output.split())


def demo_exports():
    """What `source .build/local-aws.env` gives the user's shell."""
    exports = {}
    with open(ENV_FILE) as stream:
        for line in stream:
            name, value = line.strip().removeprefix("export ").split("=", 1)
            exports[name] = shlex.split(value)[0] if value else ""
    return exports


def ec2_of(exports):
    """An EC2 client with the administrator's key (profile AWS_PROFILE of AWS_CONFIG_FILE, as tools/local-aws wrote
    it): the test's own look-ups, beside the flows it drives with the restricted user's key."""
    import configparser

    import boto3

    config = configparser.ConfigParser()
    config.read(exports["AWS_CONFIG_FILE"])
    admin = config[f"profile {exports['AWS_PROFILE']}"]
    return boto3.client("ec2", endpoint_url=exports["CLOUDBURST_AWS_ENDPOINT_URL"], region_name=exports["AWS_REGION"],
                        aws_access_key_id=admin["aws_access_key_id"],
                        aws_secret_access_key=admin["aws_secret_access_key"])


def as_restricted_user(exports):
    """What the README's describe line adds to `source .build/local-aws.env`: AWS_PROFILE=annex, the restricted
    user's profile that make demo wrote into AWS_SHARED_CREDENTIALS_FILE."""
    return dict(exports, AWS_PROFILE=RESTRICTED_PROFILE)


def front_decisions():
    """What tools/local-aws's authorizing front decided for this test's flows (it records into the session's
    directory, which pytest's environment hands to make demo)."""
    from rig import authfront
    import least_privilege

    flows = least_privilege.read_records(os.environ[authfront.RECORD_DIR_VARIABLE])
    return [d for d in flows if d["flow"].startswith("tests/integration/test_demo.py::")]


def spark_ec2(exports, action, **extra):
    """One run of playbooks/spark_ec2.yml as the README's describe line runs it, with the demo's vars file and the
    restricted user's key. Its output is kept in .build/test-logs/test_demo/, one file per run, for reading after
    a failure."""
    argv = ["ansible-playbook", "playbooks/spark_ec2.yml", "-e", "@playbooks/vars/demo.yml",
            "-e", json.dumps(dict(extra, spark_ec2_action=action))]
    result = run(argv, env=ansible_env(extra=as_restricted_user(exports)), timeout=1500)
    os.makedirs(LOG_DIR, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", "-".join([f"{len(os.listdir(LOG_DIR)):02d}", action] + [
        str(v) for v in extra.values()]))  # an allow-list value holds '/'
    with open(os.path.join(LOG_DIR, name + ".log"), "w") as stream:
        stream.write(result.output)
    return result


def changed_tasks(output, host):
    """The names of the tasks that report changed on host, in order (default callback output)."""
    names, task = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):line.rfind("]")]
        elif line.startswith(f"changed: [{host}]") and task not in names:
            names.append(task)
    return names


def changed_total(output):
    """changed= summed over every host of the recap."""
    return sum(int(n) for n in re.findall(r"^\S+\s+: ok=\d+\s+changed=(\d+)", output, re.M))


def again_unchanged(exports, action, name=None, **extra):
    """A second run of a step: it succeeds and changes nothing on any host."""
    started = time.monotonic()
    again = spark_ec2(exports, action, **extra)
    assert again.rc == 0, again.output[-6000:]
    assert changed_total(again.stdout) == 0, again.stdout[-6000:]
    TIMINGS.setdefault(name or action, [None, None])[1] = round(time.monotonic() - started, 1)
    return again


def step(exports, action, again=True, **extra):
    """Run an action; with again, twice: the first succeeds, the second changes nothing. Records both times."""
    name = " ".join([action] + [str(v) for v in extra.values()])
    started = time.monotonic()
    first = spark_ec2(exports, action, **extra)
    assert first.rc == 0, first.output[-6000:]
    TIMINGS[name] = [round(time.monotonic() - started, 1), None]
    if again:
        again_unchanged(exports, action, name, **extra)
    print(f"spark_ec2 step {name}: {TIMINGS[name][0]} s, no-change re-run {TIMINGS[name][1]} s", flush=True)
    return first


def nodes(ec2, role=None, states=("pending", "running", "stopping", "stopped")):
    flt = [{"Name": "tag:cloudburst:cluster", "Values": [CLUSTER]}, {"Name": "instance-state-name", "Values": list(states)}]
    if role:
        flt.append({"Name": "tag:cloudburst:role", "Values": [role]})
    return [i for r in ec2.describe_instances(Filters=flt)["Reservations"] for i in r["Instances"]]


def master_status(ec2):
    """The master's /json/, read inside the master (as the describe line's UI URL would show it)."""
    master = nodes(ec2, "master", ("running",))[0]
    answer = podman("exec", master["InstanceId"], "python3", "-c",
                    "import urllib.request;print(urllib.request.urlopen('http://%s:8080/json/').read().decode())"
                    % master["PrivateIpAddress"])
    return json.loads(answer.stdout)


def alive_workers(ec2):
    return sorted(w["host"] for w in master_status(ec2)["workers"] if w["state"] == "ALIVE")


def run_job(ec2):
    master = nodes(ec2, "master", ("running",))[0]
    job = podman("exec", "-u", "spark", master["InstanceId"], "/opt/spark/bin/spark-submit",
                 "/opt/spark/examples/src/main/python/pi.py", "2", check=False)
    assert job.returncode == 0, (job.stdout + job.stderr)[-4000:]
    return re.search(r"Pi is roughly (\d\.\d+)", job.stdout).group(1)


def worker_ips(ec2, states=("running",)):
    return sorted(i["PrivateIpAddress"] for i in nodes(ec2, "worker", states))


def on_master(ec2, *argv):
    master = nodes(ec2, "master", ("running",))[0]
    return podman("exec", master["InstanceId"], *argv).stdout


def workers_file(ec2):
    lines = on_master(ec2, "cat", "/opt/spark/conf/workers").splitlines()
    return sorted(line for line in lines if line and not line.startswith("#"))


def known_hosts(ec2):
    lines = on_master(ec2, "cat", "/home/spark/.ssh/known_hosts").splitlines()
    return sorted(line.split()[0] for line in lines if line.strip())


def actual_rules(group):
    """Ingress as (protocol, from port, to port, source)."""
    rules = set()
    for perm in group["IpPermissions"]:
        key = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        rules |= {key + (r["CidrIp"],) for r in perm.get("IpRanges", [])}
        rules |= {key + (r["CidrIpv6"],) for r in perm.get("Ipv6Ranges", [])}
        rules |= {key + (g["GroupId"],) for g in perm.get("UserIdGroupPairs", [])}
    return rules


def tcp(source, *ports):
    """Rules for single ports (ints) and ranges ('a-b') from source."""
    found = set()
    for port in ports:
        bounds = [int(p) for p in str(port).split("-")]
        found.add(("tcp", bounds[0], bounds[-1], source))
    return found


def check_exposure(ec2):
    """Outside: only the allow-list, on the named ports. Inside: only the Spark roles' fixed ports between the
    groups, and SSH from the master to the workers (sbin/workers.sh). 6066 and the world: never."""
    groups = {next(t["Value"] for t in g["Tags"] if t["Key"] == "cloudburst:role"): g
              for g in ec2.describe_security_groups(Filters=[{"Name": "tag:cloudburst:cluster",
                                                              "Values": [CLUSTER]}])["SecurityGroups"]}
    assert sorted(groups) == ["master", "worker"]
    master, worker = groups["master"]["GroupId"], groups["worker"]["GroupId"]
    # Drivers and block managers: the spark role's fixed ports, each up to spark.port.maxRetries (16) higher.
    inside = ("7100-7116", "7200-7216")
    # Workers read the master's /json/ (8080) when they wait for it or leave.
    assert actual_rules(groups["master"]) == (tcp(ALLOWLIST, 22, 7077, 8080, "4040-4050")
                                              | tcp(worker, 7077, 8080, *inside))
    assert actual_rules(groups["worker"]) == (tcp(ALLOWLIST, 22, 8081) | tcp(master, 22, "7078-7094", *inside)
                                              | tcp(worker, *inside))
    for group in groups.values():
        for perm in group["IpPermissions"]:
            assert perm["IpProtocol"] == "tcp" and not perm["FromPort"] <= 6066 <= perm["ToPort"], perm


def connect(targets, container=None):
    """{(address, port): reached (True) or filtered (False)}, failing on anything else."""
    found = probe(targets, container=container)
    assert set(found.values()) <= set(REACHED) | {"filtered"}, found
    return {target: state in REACHED for target, state in found.items()}


def exposure_by_connecting(ec2, outsider):
    """The exposure rules, proved by TCP connections (a master and 2 workers)."""
    master = nodes(ec2, "master", ("running",))[0]
    one, two = nodes(ec2, "worker", ("running",))[:2]
    m, w1, w2 = master["PrivateIpAddress"], one["PrivateIpAddress"], two["PrivateIpAddress"]
    from_outside = [(m, 22), (m, 8080), (m, 7077), (m, 4040), (m, 6066), (m, 7100), (w1, 22), (w1, 8081), (w1, 7078),
                    (w1, 6066)]
    # This machine, the allow-listed controller: SSH, the UIs and the master's port; nothing of the cluster's own.
    assert connect(from_outside) == {t: t not in {(m, 6066), (m, 7100), (w1, 7078), (w1, 6066)} for t in from_outside}
    # A stranger on the same subnet, outside every allow-list: nothing at all.
    assert connect(from_outside, outsider["name"]) == {t: False for t in from_outside}
    # A worker: the master's 7077 and 8080 and the fixed driver and block manager ports of the master and the other
    # worker; not SSH, not the UIs, not the workers' RPC port.
    from_worker = [(m, 7077), (m, 8080), (m, 7100), (m, 7216), (m, 7200), (m, 22), (m, 4040), (m, 6066),
                   (w2, 7100), (w2, 7200), (w2, 22), (w2, 8081), (w2, 7078), (w2, 6066)]
    reached = {(m, 7077), (m, 8080), (m, 7100), (m, 7216), (m, 7200), (w2, 7100), (w2, 7200)}
    assert connect(from_worker, one["InstanceId"]) == {t: t in reached for t in from_worker}
    # The master: a worker's SSH (sbin/workers.sh), RPC port, driver and block manager ports; not its UI.
    from_master = [(w1, 22), (w1, 7078), (w1, 7094), (w1, 7100), (w1, 7200), (w1, 8081), (w1, 6066)]
    assert connect(from_master, master["InstanceId"]) == {t: t not in {(w1, 8081), (w1, 6066)} for t in from_master}

    # Revoking a rule in moto closes its port within seconds; putting it back opens it again.
    group = ec2.describe_security_groups(Filters=[{"Name": "tag:cloudburst:cluster", "Values": [CLUSTER]},
                                                  {"Name": "tag:cloudburst:role", "Values": ["master"]}])[
        "SecurityGroups"][0]["GroupId"]
    rule = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": ALLOWLIST}]}]
    started = time.monotonic()
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=rule)
    try:
        wait_until(lambda: connect([(m, 8080)]) == {(m, 8080): False}, 30, interval=1, message="8080 closed")
        TIMINGS["revoked rule in force (s)"] = [round(time.monotonic() - started, 1), None]
        assert connect([(m, 8080)], one["InstanceId"]) == {(m, 8080): True}  # the workers' own rule stays
    finally:  # put back as the role wrote it, description included, so the launch below changes nothing
        rule[0]["IpRanges"][0]["Description"] = "allow-list"
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rule)
    wait_until(lambda: connect([(m, 8080)]) == {(m, 8080): True}, 30, interval=1, message="8080 open again")


def unit_states(ec2):
    """{instance id: the state of its Spark unit} on every running node."""
    states = {}
    for node in nodes(ec2, states=("running",)):
        unit = "spark-master" if {"Key": "cloudburst:role", "Value": "master"} in node["Tags"] else "spark-worker"
        states[node["InstanceId"]] = podman("exec", node["InstanceId"], "systemctl", "is-active", unit,
                                            check=False).stdout.strip()
    return states


def registered_workers(ec2):
    """How many workers the master counts alive, or -1 while its UI does not answer yet (it was just started)."""
    try:
        return len(alive_workers(ec2))
    except subprocess.CalledProcessError:
        return -1


def spark_scripts_act_on_the_units(ec2):
    """Issue 27, item 8: Spark's own sbin/stop-all.sh and start-all.sh, run by the spark user on the master as seed
    001 does, stop and start the daemons' systemd units on every node (the workers over SSH between the nodes, with
    the cluster's key and known_hosts), and the worker joins again."""
    master = nodes(ec2, "master", ("running",))[0]["InstanceId"]
    before = unit_states(ec2)
    assert set(before.values()) == {"active"}, before
    for script, state in (("stop-all.sh", "inactive"), ("start-all.sh", "active")):
        ran = podman("exec", "-u", "spark", master, f"/opt/spark/sbin/{script}", check=False)
        assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
        wait_until(lambda state=state: set(unit_states(ec2).values()) == {state}, 60, interval=1,
                   message=f"{script}: {state}")
    wait_until(lambda: registered_workers(ec2) == 1, 120, interval=2, message="the worker registered again")


def allow_moves_by_connecting(exports, ec2, outsider):
    """Issue 27, item 1: spark_ec2_action=allow replaces the allow-list in place and touches no instance; the
    address it adds reaches SSH and the UI at once, and the address it drops no longer does."""
    master = nodes(ec2, "master", ("running",))[0]
    targets = [(master["PrivateIpAddress"], 22), (master["PrivateIpAddress"], 8080)]
    before = {i["InstanceId"]: i["State"]["Name"] for i in nodes(ec2)}
    assert connect(targets, outsider["name"]) == {t: False for t in targets}
    for allowlist, reached in (([ALLOWLIST, outsider["ip"] + "/32"], True), ([ALLOWLIST], False)):
        moved = spark_ec2(exports, "allow", spark_ec2_allowlist=allowlist)
        assert moved.rc == 0, moved.output[-4000:]
        wait_until(lambda reached=reached: connect(targets, outsider["name"]) == dict.fromkeys(targets, reached), 30,
                   interval=1, message=f"the stranger {'reaches' if reached else 'no longer reaches'} the master")
        assert connect(targets) == {t: True for t in targets}  # this controller kept its access throughout
    assert {i["InstanceId"]: i["State"]["Name"] for i in nodes(ec2)} == before


def tunnel_by_connecting(exports, ec2):
    """Issue 27, item 3: a launch re-run with spark_ec2_ui_exposure=tunnel closes every UI port to this controller
    too (SSH and 7077 stay), its check still counts the workers (the master reads its own /json/: no UI port is open
    to the controller), and the master's tunnel line that describe prints, run as the user copies it, brings the
    master's UI to localhost:8080."""
    m = nodes(ec2, "master", ("running",))[0]["PrivateIpAddress"]
    w = worker_ips(ec2)[0]
    # The vars file says 2 workers; the cluster has 1 since the resize, and keeps it (no instance is launched).
    launched = step(exports, "launch", spark_ec2_ui_exposure="tunnel", spark_ec2_workers=1)
    assert "Alive workers: 1 (1 cores)" in flat(launched.stdout)
    assert "[localhost -> " + nodes(ec2, "master", ("running",))[0]["InstanceId"] in launched.stdout  # the check
    targets = [(m, 22), (m, 7077), (m, 8080), (m, 4040), (m, 4050), (w, 22), (w, 8081)]
    assert connect(targets) == {t: t in {(m, 22), (m, 7077), (w, 22)} for t in targets}
    described = spark_ec2(exports, "describe", spark_ec2_ui_exposure="tunnel")
    assert described.rc == 0 and changed_total(described.stdout) == 0, described.output[-3000:]
    out = flat(described.stdout)
    assert f"Master URL: spark://{m}:7077" in out
    assert "Web UI: http://localhost:8080 (no UI port is open" in out
    assert len(re.findall(r"Worker i-\w+: running 10\.120\.1\.\d+", out)) == 1
    line = re.search(r"Tunnel: (ssh -i \S+ .*? admin@" + re.escape(m) + r")(?![\d.])", out)  # then a quote
    assert line and f"-L 8080:{m}:8080" in line.group(1), out[-3000:]
    argv = line.group(1).split()
    tunnel = subprocess.Popen(argv[:-1] + ["-o", "BatchMode=yes", argv[-1]], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        def through_the_tunnel():
            assert tunnel.poll() is None, tunnel.stdout.read()  # ExitOnForwardFailure: a taken port ends it at once
            try:
                with urllib.request.urlopen("http://localhost:8080/json/", timeout=5) as answer:
                    return json.load(answer)
            except OSError:
                return None
        status = wait_until(through_the_tunnel, 30, interval=1, message="the master's UI through the tunnel")
        assert status["status"] == "ALIVE" and [w["state"] for w in status["workers"]].count("ALIVE") == 1, status
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=30)


def lease_ends_the_cluster(exports, ec2):
    """Issue 27, item 2: extend moves the lease end of the running nodes (their tags and their backstop's file); at
    that end every node powers itself off and the local cloud terminates it, as EC2 does with the lease's shutdown
    behaviour. The controller makes no call after extend: the cluster ends by itself."""
    ids = [i["InstanceId"] for i in nodes(ec2)]
    ended_by_controller = sum(d["action"] == "ec2:TerminateInstances" for d in front_decisions())
    extended = spark_ec2(exports, "extend", spark_ec2_lease_hours=0.01)  # 36 s from now
    assert extended.rc == 0, extended.output[-4000:]
    assert re.search(r"Lease: ends \S+Z, then terminate; 0h 00m left", flat(extended.stdout)), extended.stdout[-3000:]
    started = time.monotonic()
    wait_until(lambda: nodes(ec2) == [], 300, interval=5, message="every node ended at the lease end by itself")
    TIMINGS["lease end to terminated (s)"] = [round(time.monotonic() - started, 1), None]
    states = {i["InstanceId"]: i["State"]["Name"]
              for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]}
    assert set(states.values()) <= {"shutting-down", "terminated"}, states
    assert sum(d["action"] == "ec2:TerminateInstances" for d in front_decisions()) == ended_by_controller
    wait_until(lambda: demo_containers() == [], 120, interval=3, message="the nodes' containers removed")


@pytest.fixture
def demo_cleanup():
    yield
    stranger(DEMO_SUBNET, state="absent")
    run(["make", "demo-clean"], env=ansible_env(), timeout=600)


def test_make_demo_then_the_clusters_whole_life(demo_cleanup):
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    started = time.monotonic()
    result = run(["make", "demo"], env=ansible_env(), timeout=1800)
    TIMINGS["make demo"] = [round(time.monotonic() - started, 1), None]
    os.makedirs(LOG_DIR, exist_ok=True)
    with open(os.path.join(LOG_DIR, "00-make-demo.log"), "w") as stream:
        stream.write(result.output)
    assert result.rc == 0, result.output[-4000:]
    out = flat(result.stdout)
    assert "AWS endpoint: http://127.0.0.1:" in out
    assert "Caller: arn:aws:iam::123456789012:user/cloudburst-rig-admin" in out
    assert f"Controller address: {ADDRESS} (IPv4), allow-list entry {ADDRESS}/32" in out
    assert f"IAM user: {RESTRICTED_USER}" in out
    # The administrator only made the user: the cluster was launched with the user's key.
    assert f"AWS calls from here on: {RESTRICTED_USER}" in out
    launched = [d for d in front_decisions() if d["principal"] == RESTRICTED_USER]
    assert {"ec2:RunInstances", "ec2:CreateSecurityGroup", "ec2:CreateVpc", "ec2:ImportKeyPair"} <= {
        d["action"] for d in launched if d["effect"] == "Allow"}
    assert [d for d in launched if d["effect"] != "Allow"] == []
    assert f"Usable only from: {ADDRESS}/32" in out  # the IAM user's: where the API calls come from
    assert "Policies: arn:aws:iam::123456789012:policy/cloudburst/cloudburst-launch" in out
    assert "/.build/demo-home/.condor/publicKeyFile" in out
    # The master and two workers are EC2 instances (named by instance id) in the demo's subnet.
    assert re.search(r"Master URL: spark://10\.120\.1\.\d+:7077", out), out[-4000:]
    assert "Alive workers: 2 (2 cores)" in out
    # make demo's cluster ends itself (playbooks/vars/demo.yml's lease); the lease is proven below, by its end.
    assert re.search(r"Lease: ends \S+Z, then terminate; 7h [45]\dm left", out), out[-4000:]
    assert len(re.findall(r"Worker i-[0-9a-f]+: running 10\.120\.1\.\d+", out)) == 2
    assert re.search(r"Spark job on i-[0-9a-f]+: Pi is roughly 3\.1", out)
    login = re.search(r"Log in to the master: (ssh -i \S+ -o UserKnownHostsFile=\S+ -o HostKeyAlias=i-[0-9a-f]+ "
                      r"-o StrictHostKeyChecking=yes admin@10\.120\.1\.\d+)", out)
    assert login, out[-4000:]
    assert "failed=0" in out and "failed=1" not in out
    assert len(demo_containers()) == 3

    exports = demo_exports()
    ec2 = ec2_of(exports)
    # The nodes downloaded Spark themselves from the stand-in mirror; the controller sent no archive.
    assert exports["CLOUDBURST_SPARK_DOWNLOAD_URL"].startswith("http://10.120.1.1:")
    assert "Unpack Spark" in result.stdout and "Download the archive on the node" in result.stdout

    # The line the user copies logs in, with the cluster's key and known_hosts and host key checking on.
    argv = login.group(1).split()
    ssh = run(argv[:-1] + ["-o", "BatchMode=yes", argv[-1], "systemctl", "is-active", "spark-master"])
    assert ssh.rc == 0 and ssh.stdout.strip() == "active", ssh.output
    assert workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
    check_exposure(ec2)
    started = time.monotonic()
    outsider = stranger(DEMO_SUBNET)
    exposure_by_connecting(ec2, outsider)
    TIMINGS["exposure by connecting"] = [round(time.monotonic() - started, 1), None]

    # An unrelated instance with the same ownership tags but another cluster's name (in a VPC of its own, which
    # destroy must leave too): it survives everything below, destroy included.
    master = nodes(ec2, "master")[0]
    vpc = ec2.create_vpc(CidrBlock="10.122.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.122.1.0/24")["Subnet"]["SubnetId"]
    unrelated = ec2.run_instances(ImageId=master["ImageId"], MinCount=1, MaxCount=1, SubnetId=subnet,
                                  TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                      {"Key": "managed-by", "Value": "cloudburst.aws"},
                                      {"Key": "cloudburst:cluster", "Value": "not-" + CLUSTER},
                                      {"Key": "cloudburst:role", "Value": "worker"}]}])["Instances"][0]["InstanceId"]
    try:
        old_workers = worker_ips(ec2)
        resized = step(exports, "resize", spark_ec2_workers=3)
        assert "Alive workers: 3" in flat(resized.stdout)
        assert len(alive_workers(ec2)) == 3 and workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
        assert set(old_workers) < set(worker_ips(ec2))
        # Existing workers report no change; on the master only the workers file and known_hosts follow (no restart).
        old_ids = {i["InstanceId"] for i in nodes(ec2) if i["PrivateIpAddress"] in old_workers}
        for instance_id in old_ids:
            assert changed_tasks(resized.stdout, instance_id) == [], resized.stdout[-3000:]
        assert changed_tasks(resized.stdout, master["InstanceId"]) == [
            "cloudburst.aws.spark_master : Write the workers file (conf/workers) from the workers group",
            "cloudburst.aws.spark_ssh : Write the master's known_hosts from every worker's host key"], resized.stdout[-3000:]

        # Run once: a second resize to 1 and a second start converge the nodes as the tunnel launch's second run
        # below does (no instance to add, remove or start; every node role unchanged), which proves it for them.
        step(exports, "resize", again=False, spark_ec2_workers=1)
        assert len(alive_workers(ec2)) == 1 and workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
        assert set(worker_ips(ec2)) < set(old_workers)  # the newest left first
        assert len(nodes(ec2, "worker")) == 1

        step(exports, "stop")
        assert {i["State"]["Name"] for i in nodes(ec2)} == {"stopped"}

        restarted = step(exports, "start", again=False)
        assert "Alive workers: 1" in flat(restarted.stdout)
        assert len(alive_workers(ec2)) == 1 and workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
        assert 3.0 < float(run_job(ec2)) < 3.3

        spark_scripts_act_on_the_units(ec2)
        allow_moves_by_connecting(exports, ec2, outsider)

        tunnel_by_connecting(exports, ec2)  # its second launch run changes nothing: launch is idempotent
        lease_ends_the_cluster(exports, ec2)

        step(exports, "destroy")
        # Every step of the cluster's life ran with the restricted key, and IAM's rules allowed each call.
        life = [d for d in front_decisions() if d["principal"] == RESTRICTED_USER]
        assert {"ec2:StopInstances", "ec2:StartInstances", "ec2:TerminateInstances", "ec2:DeleteSecurityGroup",
                "ec2:DeleteVpc", "ec2:DeleteKeyPair"} <= {d["action"] for d in life if d["effect"] == "Allow"}
        assert [d for d in life if d["effect"] != "Allow"] == []
        assert nodes(ec2) == []
        assert ec2.describe_security_groups(Filters=[{"Name": "tag:cloudburst:cluster", "Values": [CLUSTER]}])[
            "SecurityGroups"] == []
        state = ec2.describe_instances(InstanceIds=[unrelated])["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state == "running"
        assert not os.path.exists(os.path.join(BUILD, "demo-home", ".ssh", "cloudburst-demo_ed25519"))
    finally:
        print("spark_ec2 step times (first run s, no-change re-run s):", json.dumps(TIMINGS), flush=True)
        ec2.terminate_instances(InstanceIds=[unrelated])

    stranger(DEMO_SUBNET, state="absent")  # off the demo's network, which demo-clean removes
    clean = run(["make", "demo-clean"], env=ansible_env(), timeout=600)
    assert clean.rc == 0, clean.output[-4000:]
    assert "Cluster demo: destroyed" in flat(clean.stdout)
    assert demo_containers() == []
    assert not network_exists(DEMO_NETWORK)
    assert not os.path.exists(PID_FILE) and not os.path.exists(ENV_FILE)
    assert not os.path.exists(os.path.join(BUILD, "local-aws.config"))
