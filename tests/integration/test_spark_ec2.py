# -*- coding: utf-8 -*-
"""playbooks/spark_ec2.yml on the local cloud: one Spark cluster through its whole life.

launch 1+2, a job, resize to 3, resize to 1, stop, start, a job, destroy. Every step is run twice: the
second run changes nothing. After each step the master's /json/ shows exactly the wanted alive workers.
The security groups match the exposure rules exactly, destroy leaves nothing tagged with the cluster while
an unrelated instance in the same subnet survives, and bad input fails clearly with no write call.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
from ec2_plays import REGION, ec2_client, ec2_env, ec2_writes, tagged

from conftest import REPO_ROOT, run

CLUSTER = "sparklife"
LOCAL_CLOUD_CLUSTERS = [CLUSTER]  # the local_cloud fixture mirrors only this cluster's instances
LOCAL_CLOUD_REGION = REGION
VPC_CIDR = "10.121.0.0/16"  # this module's addresses (H2's range 10.120-10.139)
SUBNET_CIDR = "10.121.1.0/24"
CHECKIP_ANSWER = "11.22.33.44"
ALLOWLIST = f"{CHECKIP_ANSWER}/32"
TIMINGS = {}


def podman(*argv, check=True):
    return subprocess.run(["podman", *argv], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def ec2(moto_server):
    return ec2_client(moto_server)


@pytest.fixture(scope="module")
def archive():
    path = subprocess.run([f"{REPO_ROOT}/tools/build-spark-archive"], capture_output=True, text=True, check=True)
    return path.stdout.strip()


@pytest.fixture(scope="module")
def cluster(moto_server, local_cloud, ec2, archive, tmp_path_factory):
    """The settings of the one cluster the steps share (small workers, private addresses)."""
    from rig import CheckipServer

    image = ec2.register_image(Name="debian-13-amd64-spark-ec2-test", RootDeviceName="/dev/xvda",
                               Architecture="x86_64")["ImageId"]
    home = tmp_path_factory.mktemp("spark-ec2")
    with CheckipServer([(200, CHECKIP_ANSWER + "\n", 0)]) as checkip:
        settings = {
            "cloudburst_aws_region": REGION,
            "spark_ec2_cluster": CLUSTER,
            "spark_ec2_ami": image,
            "spark_ec2_master_instance_type": "t3.small",
            "spark_ec2_worker_instance_type": "t3.small",
            "spark_ec2_vpc_cidr": VPC_CIDR,
            "spark_ec2_subnet_cidr": SUBNET_CIDR,
            "spark_ec2_address": "private",  # this machine reaches the podman network as if inside the VPC
            "spark_ec2_checkip_url": checkip.url,
            "spark_ec2_key_path": str(home / "cluster_ed25519"),
            "spark_archive_src": archive,
            "spark_archive_checksum": "sha512:" + open(archive + ".sha512").read().split()[0],
            "spark_auth_secret_file": str(home / "spark.secret"),
            "spark_worker_cores": 1,
            "spark_worker_memory": "512m",
            "spark_executor_memory": "512m",
        }
        yield {"settings": settings, "home": home, "image": image, "moto": moto_server, "ec2": ec2}


def spark_ec2(cluster, action, **extra):
    """One run of playbooks/spark_ec2.yml; returns the Completed run."""
    moto = cluster["moto"]
    env = ec2_env(moto, {"CLOUDBURST_AWS_ENDPOINT_URL": moto.url})
    settings = dict(cluster["settings"], spark_ec2_action=action, **extra)
    varfile = cluster["home"] / "vars.json"
    varfile.write_text(json.dumps(settings))
    return run(["ansible-playbook", "playbooks/spark_ec2.yml", "-e", f"@{varfile}"], env=env, timeout=1500)


def flat(output):
    """The output with every run of whitespace as one space: the callback wraps long lines."""
    return " ".join(output.split())


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


def step(cluster, action, **extra):
    """Run an action twice: the first succeeds, the second changes nothing. Records both times."""
    started = time.monotonic()
    first = spark_ec2(cluster, action, **extra)
    middle = time.monotonic()
    assert first.rc == 0, first.output[-6000:]
    again = spark_ec2(cluster, action, **extra)
    assert again.rc == 0, again.output[-6000:]
    assert changed_total(again.stdout) == 0, again.stdout[-6000:]
    name = " ".join([action] + [str(v) for v in extra.values()])
    TIMINGS[name] = (round(middle - started, 1), round(time.monotonic() - middle, 1))
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


def workers_file(ec2):
    master = nodes(ec2, "master", ("running",))[0]
    lines = podman("exec", master["InstanceId"], "cat", "/opt/spark/conf/workers").stdout.splitlines()
    return sorted(line for line in lines if line and not line.startswith("#"))


def known_hosts(ec2):
    master = nodes(ec2, "master", ("running",))[0]
    lines = podman("exec", master["InstanceId"], "cat", "/home/spark/.ssh/known_hosts").stdout.splitlines()
    return sorted(line.split()[0] for line in lines if line.strip())


def expected_rules(groups, ports):
    """Ingress as (protocol, port, source): every cluster group on all protocols, the allow-list on ports."""
    rules = {("-1", None, gid) for gid in groups.values()}
    return rules | {("tcp", port, ALLOWLIST) for port in ports}


def actual_rules(group):
    rules = set()
    for perm in group["IpPermissions"]:
        port = perm.get("FromPort")
        assert perm["IpProtocol"] == "-1" or perm.get("ToPort") == port, perm  # single ports, no ranges
        key = ("-1", None) if perm["IpProtocol"] == "-1" else (perm["IpProtocol"], port)
        rules |= {key + (r["CidrIp"],) for r in perm.get("IpRanges", [])}
        rules |= {key + (r["CidrIpv6"],) for r in perm.get("Ipv6Ranges", [])}
        rules |= {key + (g["GroupId"],) for g in perm.get("UserIdGroupPairs", [])}
    return rules


def test_bad_input_changes_nothing(cluster, moto_server):
    cases = [
        ({"spark_ec2_workers": -1}, "launch", "spark_ec2_workers must be a whole number"),
        ({"spark_ec2_spot_max_price": "cheap"}, "launch", "'cheap' is not a price"),
        ({"spark_ec2_spark_version": "3.9.9"}, "launch", "'3.9.9' is not a Spark release"),
        ({"spark_ec2_allowlist": ["0.0.0.0/0"]}, "launch", "Refusing 0.0.0.0/0 in spark_ec2_allowlist"),
        ({"spark_ec2_cluster": "my cluster"}, "launch", "'my cluster' is not a cluster name"),
        ({"spark_ec2_cluster": "no-such-cluster", "spark_ec2_workers": 3}, "resize",
         "Cluster no-such-cluster does not exist"),
    ]
    for extra, action, message in cases:
        moto_server.reset_recording()
        result = spark_ec2(cluster, action, **extra)
        assert result.rc != 0, result.output[-3000:]
        assert message in flat(result.stdout), (extra, result.stdout[-3000:])
        assert "nothing was changed" in flat(result.stdout).lower()
        assert "Traceback" not in result.output
        assert ec2_writes(moto_server.recorded_actions()) == [], (extra, moto_server.recorded_actions())
    assert nodes(cluster["ec2"]) == [] and tagged(cluster["ec2"], "cloudburst:cluster", "no-such-cluster") == []


# About 30 minutes on two quiet cores (launch 1+2, job, resize 3, resize 1, stop, start, job, destroy, each step
# run twice): more than the suite can spend while CI allows 90 minutes for everything. `make demo`'s test covers
# launch, job and destroy through the same playbook; this runs on request.
@pytest.mark.skipif(not os.environ.get("CLOUDBURST_SPARK_EC2_LIFECYCLE"),
                    reason="opt-in (CLOUDBURST_SPARK_EC2_LIFECYCLE=1): the whole lifecycle takes about 30 minutes")
def test_lifecycle(cluster):
    ec2 = cluster["ec2"]
    # An unrelated instance with the same ownership tags but another cluster's name must survive everything.
    vpc = ec2.create_vpc(CidrBlock="10.122.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.122.1.0/24")["Subnet"]["SubnetId"]
    stranger = ec2.run_instances(ImageId=cluster["image"], MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "managed-by", "Value": "cloudburst.aws"},
                                              {"Key": "cloudburst:cluster", "Value": "not-" + CLUSTER},
                                              {"Key": "cloudburst:role", "Value": "worker"}]}])["Instances"][0]["InstanceId"]
    try:
        launched = step(cluster, "launch", spark_ec2_workers=2)
        assert len(nodes(ec2, "worker")) == 2 and len(alive_workers(ec2)) == 2
        assert workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
        assert "Alive workers: 2" in flat(launched.stdout)
        login = re.search(r"Login: (ssh -i \S+ -o UserKnownHostsFile=\S+ -o StrictHostKeyChecking=yes admin@[\d.]+)",
                          flat(launched.stdout))
        assert login and str(cluster["home"]) in login.group(1), flat(launched.stdout)[-3000:]
        argv = login.group(1).split()  # the line describe prints logs in with the cluster's key and known_hosts
        ssh = run(argv[:-1] + ["-o", "BatchMode=yes", argv[-1], "systemctl", "is-active", "spark-master"])
        assert ssh.rc == 0 and ssh.stdout.strip() == "active", ssh.output
        assert 3.0 < float(run_job(ec2)) < 3.3

        master = nodes(ec2, "master")[0]

        # Exposure: exactly the cluster's groups plus the allow-list on the named ports; 6066 and the world never.
        groups = {next(t["Value"] for t in g["Tags"] if t["Key"] == "cloudburst:role"): g
                  for g in ec2.describe_security_groups(Filters=[{"Name": "tag:cloudburst:cluster",
                                                                  "Values": [CLUSTER]}])["SecurityGroups"]}
        ids = {role: g["GroupId"] for role, g in groups.items()}
        assert sorted(ids) == ["master", "worker"]
        assert actual_rules(groups["master"]) == expected_rules(ids, [22, 7077, 8080, 4040])
        assert actual_rules(groups["worker"]) == expected_rules(ids, [22, 8081])

        old_workers = worker_ips(ec2)
        resized = step(cluster, "resize", spark_ec2_workers=3)
        assert len(alive_workers(ec2)) == 3 and workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
        assert set(old_workers) < set(worker_ips(ec2))
        # Existing workers report no change; on the master only the workers file and known_hosts follow (no restart).
        old_ids = {i["InstanceId"] for i in nodes(ec2) if i["PrivateIpAddress"] in old_workers}
        for instance_id in old_ids:
            assert changed_tasks(resized.stdout, instance_id) == [], resized.stdout[-3000:]
        assert changed_tasks(resized.stdout, master["InstanceId"]) == [
            "cloudburst.aws.spark_master : Write the workers file (conf/workers) from the workers group",
            "cloudburst.aws.spark_ssh : Write the master's known_hosts from every worker's host key"], resized.stdout[-3000:]

        step(cluster, "resize", spark_ec2_workers=1)
        assert len(alive_workers(ec2)) == 1 and workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
        assert set(worker_ips(ec2)) < set(old_workers)  # the newest left first
        assert len(nodes(ec2, "worker")) == 1

        step(cluster, "stop")
        assert {i["State"]["Name"] for i in nodes(ec2)} == {"stopped"}

        started = step(cluster, "start")
        assert "Alive workers: 1" in flat(started.stdout)
        assert len(alive_workers(ec2)) == 1 and workers_file(ec2) == worker_ips(ec2) == known_hosts(ec2)
        assert 3.0 < float(run_job(ec2)) < 3.3

        described = spark_ec2(cluster, "describe")
        assert described.rc == 0 and changed_total(described.stdout) == 0, described.output[-3000:]
        assert f"Master URL: spark://{master['PrivateIpAddress']}:7077" in flat(described.stdout)
        assert re.search(r"Worker i-\w+: running 10\.121\.1\.\d+", flat(described.stdout))

        step(cluster, "destroy")
        assert tagged(ec2, "cloudburst:cluster", CLUSTER) == []
        state = ec2.describe_instances(InstanceIds=[stranger])["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state == "running"
        assert not (cluster["home"] / "cluster_ed25519").exists()
    finally:
        print("spark_ec2 step times (first run s, no-change re-run s):", json.dumps(TIMINGS))
        if nodes(ec2):
            spark_ec2(cluster, "destroy")
        ec2.terminate_instances(InstanceIds=[stranger])
