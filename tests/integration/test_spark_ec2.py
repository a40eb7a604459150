# -*- coding: utf-8 -*-
"""playbooks/spark_ec2.yml's input checks: bad input fails with a clear message, before any write call; and the
role's cloud side leaves an instance planted with the cluster's tags out of the cluster.

The cluster's whole life on the local cloud (launch, job, resize to 3 and to 1, stop, start, job, destroy,
each step re-run for no change, the exposure rules) runs in tests/integration/test_demo.py, on the cluster
`make demo` launches: one Spark cluster for the suite.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess

import boto3
import pytest
from ec2_plays import REGION, ec2_client, ec2_env, ec2_writes, role_refusals, run_play, run_roles, tagged

from conftest import run

from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import source_ip_decision

CLUSTER = "sparkinput"
CHECKIP_ANSWER = "11.22.33.44"


def published(root, version, package):
    """A release's .sha512 file, as Apache's mirror publishes it beside the archive (the archive itself is never
    fetched by the controller)."""
    name = f"spark-{version}-bin-{package}.tgz"
    directory = root / "spark" / f"spark-{version}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.sha512").write_text(f"{hashlib.sha512(name.encode()).hexdigest()}  {name}\n")


@pytest.fixture(scope="module")
def cluster(moto_server, tmp_path_factory):
    """A cluster's settings, with a stand-in of Apache's mirror on this machine that publishes the checksums of the
    default release and of 3.1.3 (a Hadoop 3.2 build)."""
    from rig.fake_spark_mirror import SparkMirror
    from rig import CheckipServer

    ec2 = ec2_client(moto_server)
    image = ec2.register_image(Name="debian-13-amd64-spark-ec2-input", RootDeviceName="/dev/xvda",
                               Architecture="x86_64")["ImageId"]
    home = tmp_path_factory.mktemp("spark-ec2")
    mirror_root = tmp_path_factory.mktemp("spark-mirror")
    for version, package in (("4.0.1", "hadoop3"), ("3.1.3", "hadoop3.2")):
        published(mirror_root, version, package)
    with CheckipServer([(200, CHECKIP_ANSWER + "\n", 0)]) as checkip, SparkMirror(str(mirror_root)) as mirror:
        settings = {
            "cloudburst_aws_region": REGION,
            "spark_ec2_cluster": CLUSTER,
            "spark_ec2_ami": image,
            "spark_ec2_vpc_cidr": "10.121.0.0/16",
            "spark_ec2_subnet_cidr": "10.121.1.0/24",
            "spark_ec2_address": "private",
            "spark_ec2_checkip_url": checkip.url,
            "spark_ec2_key_path": str(home / "cluster_ed25519"),
            "spark_auth_secret_file": str(home / "spark.secret"),
            "spark_mirror": mirror.url + "spark",
        }
        yield {"settings": settings, "home": home, "image": image, "moto": moto_server, "ec2": ec2, "mirror": mirror}


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


def nodes(ec2, cluster=CLUSTER):
    flt = [{"Name": "tag:cloudburst:cluster", "Values": [cluster]},
           {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    return [i for r in ec2.describe_instances(Filters=flt)["Reservations"] for i in r["Instances"]]


def own_key(directory, name="mine_ed25519"):
    """An ed25519 key pair made as a user makes one (ssh-keygen), mode 0600: (private key path, public key text)."""
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path, (directory / f"{name}.pub").read_text()


def test_bad_input_changes_nothing(cluster, moto_server, tmp_path):
    ec2 = cluster["ec2"]
    key, public = own_key(tmp_path)
    loose = tmp_path / "loose_ed25519"
    loose.write_text(key.read_text())
    loose.chmod(0o644)
    other, other_public = own_key(tmp_path, "other_ed25519")
    ec2.import_key_pair(KeyName="cloudburst-input-other", PublicKeyMaterial=other_public.encode())
    cases = [
        ({"spark_ec2_workers": -1}, "launch", "spark_ec2_workers must be a whole number"),
        ({"spark_ec2_spot_max_price": "cheap"}, "launch", "'cheap' is not a price"),
        ({"spark_ec2_spark_version": "4.0"}, "launch", 'spark_ec2_spark_version "4.0" must be a Spark release version'),
        # Any release is accepted whose checksum the mirror publishes; this one has none.
        ({"spark_ec2_spark_version": "3.9.9"}, "launch",
         "Spark 3.9.9 (spark-3.9.9-bin-hadoop3.tgz) has no published SHA-512 at " + cluster["mirror"].url),
        ({"spark_ec2_spark_version": "3.1.3", "spark_ec2_spark_package": "hadoop3"}, "launch",
         "Spark 3.1.3 (spark-3.1.3-bin-hadoop3.tgz) has no published SHA-512"),
        ({"spark_ec2_allowlist": ["0.0.0.0/0"]}, "launch", "Refusing 0.0.0.0/0 in spark_ec2_allowlist"),
        ({"spark_ec2_allowlist": ["0.0.0.0/0"]}, "allow", "Refusing 0.0.0.0/0 in spark_ec2_allowlist"),
        ({"spark_ec2_cluster": "my cluster"}, "launch", "'my cluster' is not a cluster name"),
        # The role's former Jinja copy of the rule ended in "$", which matches before a final line break.
        ({"spark_ec2_cluster": "demo\n"}, "launch", "is not a cluster name"),
        ({"spark_ec2_cluster": "no-such-cluster", "spark_ec2_workers": 3}, "resize",
         "Cluster no-such-cluster does not exist"),
        ({"spark_ec2_cluster": "no-such-cluster", "spark_ec2_allowlist": ["198.51.100.0/24"]}, "allow",
         "Cluster no-such-cluster does not exist"),
        ({"spark_ec2_master_ami": "debian"}, "launch", "The master's AMI must be an image id"),
        ({"spark_ec2_worker_root_volume_size": "big"}, "launch", "its root volume size a whole number of GiB (got 'big'"),
        # A key pair of your own: its private key is needed, must exist, be yours alone, and match the key pair.
        ({"spark_ec2_key_pair": "cloudburst-input-mine", "spark_ec2_key_path": ""}, "launch",
         "spark_ec2_key_pair cloudburst-input-mine needs its private key file"),
        ({"spark_ec2_key_pair": "cloudburst-input-mine", "spark_ec2_key_path": str(tmp_path / "missing")}, "launch",
         f"The private key of key pair cloudburst-input-mine, {tmp_path / 'missing'}, does not exist"),
        ({"spark_ec2_key_pair": "cloudburst-input-mine", "spark_ec2_key_path": str(loose)}, "launch",
         "has mode 0644; it must be 0600 or 0400"),
        ({"spark_ec2_key_pair": "cloudburst-input-mine", "spark_ec2_key_path": str(key)}, "launch",
         "There is no EC2 key pair named cloudburst-input-mine in this region"),
        ({"spark_ec2_key_pair": "cloudburst-input-other", "spark_ec2_key_path": str(key)}, "launch",
         f"Key pair cloudburst-input-other does not hold the public half of {key}"),
    ]
    # One ansible-playbook run for every case: each is a host of its own (connection local) with the case's settings
    # as its variables, running the role in a block whose rescue keeps the refusal; the hosts run side by side. (One
    # playbook run per case cost about ten seconds each.)
    moto_server.reset_recording()
    refusals = role_refusals(cluster["home"], cluster["moto"], "spark_ec2", [
        {**cluster["settings"], "spark_ec2_key_path": str(cluster["home"] / f"case{n}_ed25519"), "spark_ec2_action": action,
         **extra} for n, (extra, action, _m) in enumerate(cases)])
    for (extra, action, message), refusal in zip(cases, refusals):
        assert message in refusal, (extra, refusal)
        assert "nothing was changed" in refusal.lower(), (extra, refusal)
    assert ec2_writes(moto_server.recorded_actions()) == [], moto_server.recorded_actions()
    # Choices of the role's argument spec are refused by Ansible itself, before the role's first task.
    for extra, message in (({"spark_ec2_ui_exposure": "open"}, "spark_ec2_ui_exposure must be one of: allowlist, tunnel"),
                           ({"spark_ec2_action": "grow"}, "spark_ec2_action must be one of")):
        moto_server.reset_recording()
        result = spark_ec2(cluster, extra.pop("spark_ec2_action", "launch"), **extra)
        assert result.rc != 0 and message in flat(result.stdout), result.stdout[-3000:]
        assert moto_server.recorded_actions() == []
    assert nodes(cluster["ec2"]) == [] and tagged(cluster["ec2"], "cloudburst:cluster", "no-such-cluster") == []
    assert {p["KeyName"] for p in ec2.describe_key_pairs()["KeyPairs"]} & {"cloudburst-input-mine"} == set()
    ec2.delete_key_pair(KeyName="cloudburst-input-other")


def test_a_planted_worker_is_reported_and_never_part_of_the_cluster(cluster, moto_server, tmp_path):
    """The role's cloud side (no host): launch a master and a worker, plant a worker with the cluster's tags and
    another key pair (what the restricted launch key can do), then describe and destroy. The planted instance is
    reported, never listed as a worker (so never configured, never given the Spark secret) and never terminated."""
    ec2 = cluster["ec2"]
    settings = {key: value for key, value in cluster["settings"].items()
                if key not in ("cloudburst_aws_region", "spark_auth_secret_file")}
    settings.update(spark_ec2_cluster="sparkplant", spark_ec2_vpc_cidr="10.122.0.0/16",
                    spark_ec2_subnet_cidr="10.122.1.0/24", spark_ec2_key_path=str(cluster["home"] / "plant_ed25519"),
                    spark_ec2_wait_for_ssh=False, spark_ec2_workers=1)

    def spark_ec2_role(action):
        result = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action=action))])
        assert result.rc == 0, result.failure_messages()
        return result

    launched = spark_ec2_role("launch").fact("spark_ec2_result")
    (worker,) = [w["instance_id"] for w in launched["workers"]]
    # Both nodes hardened: IMDSv2 only, one hop, an encrypted root volume.
    for node in nodes(ec2, "sparkplant"):
        assert node["MetadataOptions"]["HttpTokens"] == "required"
        assert node["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        volumes = [m["Ebs"]["VolumeId"] for m in node["BlockDeviceMappings"]]
        assert [v["Encrypted"] for v in ec2.describe_volumes(VolumeIds=volumes)["Volumes"]] == [True]
    ec2.create_key_pair(KeyName="sparkplant-stranger")
    planted = ec2.run_instances(
        ImageId=cluster["image"], MinCount=1, MaxCount=1, KeyName="sparkplant-stranger",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "cloudburst:cluster", "Value": "sparkplant"}, {"Key": "cloudburst:role", "Value": "worker"},
            {"Key": "managed-by", "Value": "cloudburst.aws"}]}])["Instances"][0]["InstanceId"]

    described = spark_ec2_role("describe")
    assert [w["instance_id"] for w in described.fact("spark_ec2_result")["workers"]] == [worker]
    assert [w for w in described.warnings() if f"not launched by this controller: {planted}" in w]

    spark_ec2_role("destroy")
    assert tagged(ec2, "cloudburst:cluster", "sparkplant") == [("instance", planted)]
    ec2.terminate_instances(InstanceIds=[planted])


def test_a_cluster_with_spot_workers_is_not_stopped_halfway(cluster, moto_server, tmp_path):
    """EC2 refuses to stop an instance of a one-time spot request (the rig's front answers UnsupportedOperation as EC2
    does; moto would stop it). spark_ec2_action=stop refuses such a cluster before any call that changes something,
    and says how to pause it instead: resize to 0 workers, then stop the on-demand master."""
    ec2 = cluster["ec2"]
    settings = {key: value for key, value in cluster["settings"].items()
                if key not in ("cloudburst_aws_region", "spark_auth_secret_file")}
    settings.update(spark_ec2_cluster="sparkspot", spark_ec2_vpc_cidr="10.124.0.0/16",
                    spark_ec2_subnet_cidr="10.124.1.0/24", spark_ec2_key_path=str(cluster["home"] / "spot_ed25519"),
                    spark_ec2_wait_for_ssh=False, spark_ec2_workers=1, spark_ec2_spot_max_price="0.05")

    def spark_ec2_role(action, **extra):
        return run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action=action, **extra))])

    launched = spark_ec2_role("launch")
    assert launched.rc == 0, launched.failure_messages()
    (worker,) = [w["instance_id"] for w in launched.fact("spark_ec2_result")["workers"]]
    master = launched.fact("spark_ec2_result")["master"]["instance_id"]
    described = ec2.describe_instances(InstanceIds=[worker])["Reservations"][0]["Instances"][0]
    assert described["InstanceLifecycle"] == "spot"

    moto_server.reset_recording()
    refused = spark_ec2_role("stop")
    assert refused.rc != 0
    message = " ".join(" ".join(refused.failure_messages()).split())
    assert f"worker(s) {worker} are spot instances of one-time requests" in message, message
    assert "resize it to 0 workers" in message and "Nothing was changed." in message
    assert ec2_writes(moto_server.recorded_actions()) == []
    states = {i["InstanceId"]: i["State"]["Name"] for i in nodes(ec2, "sparkspot")}
    assert states == {master: "running", worker: "running"}

    # What the refusal spares the user: the stop itself, as EC2 answers it, leaves the cluster half stopped (the
    # master stops, the worker is refused).
    tried = run_play(tmp_path, moto_server, [{"amazon.aws.ec2_instance": {
        "state": "stopped", "instance_ids": [master, worker], "wait": False}, "ignore_errors": True}], name="stop.yml")
    answer = tried.parsed["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert answer.get("failed") and "UnsupportedOperation" in json.dumps(answer), answer
    half = {i["InstanceId"]: i["State"]["Name"] for i in nodes(ec2, "sparkspot")}
    assert half == {master: "stopped", worker: "running"}
    ec2.start_instances(InstanceIds=[master])

    # The way the message gives: no spot worker left, then the master stops.
    assert spark_ec2_role("resize", spark_ec2_workers=0).rc == 0
    stopped = spark_ec2_role("stop", spark_ec2_workers=0)
    assert stopped.rc == 0, stopped.failure_messages()
    assert {i["InstanceId"]: i["State"]["Name"] for i in nodes(ec2, "sparkspot")} == {master: "stopped"}
    ec2.terminate_instances(InstanceIds=[master])


def test_spark_ec2_region_is_the_region_of_every_call_of_the_role(cluster, moto_server, tmp_path):
    """spark_ec2_region set in a user's own play whose module_defaults name another region: the cluster is launched,
    described and destroyed in spark_ec2_region, network, groups, key pair and instances alike; the play's region
    gets nothing. (The role used to leave the region to the playbook's module_defaults.)"""
    elsewhere = "ap-south-1"
    ec2_there = ec2_client(moto_server, elsewhere)
    image = ec2_there.register_image(Name="debian-13-amd64-spark-ec2-region", RootDeviceName="/dev/xvda",
                                     Architecture="x86_64")["ImageId"]
    settings = {key: value for key, value in cluster["settings"].items()
                if key not in ("cloudburst_aws_region", "spark_auth_secret_file")}
    settings.update(spark_ec2_cluster="sparkregion", spark_ec2_region=elsewhere, spark_ec2_ami=image,
                    spark_ec2_vpc_cidr="10.123.0.0/16", spark_ec2_subnet_cidr="10.123.1.0/24",
                    spark_ec2_key_path=str(cluster["home"] / "region_ed25519"), spark_ec2_wait_for_ssh=False,
                    spark_ec2_workers=1)

    def spark_ec2_role(action):
        # run_roles' play sets module_defaults for group/cloudburst.aws.aws with region=REGION.
        result = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action=action))])
        assert result.rc == 0, result.failure_messages()
        return result

    spark_ec2_role("launch")
    assert len(nodes(ec2_there, "sparkregion")) == 2
    assert {kind for kind, _id in tagged(ec2_there, "cloudburst:cluster", "sparkregion")} >= {
        "vpc", "subnet", "security-group", "instance"}
    assert tagged(cluster["ec2"], "cloudburst:cluster", "sparkregion") == []
    described = spark_ec2_role("describe").fact("spark_ec2_result")
    assert len(described["workers"]) == 1
    # What site.yml prints for a later describe or destroy finds this cluster again: name, region and key.
    assert described["playbook_args"] == (f"-e spark_ec2_cluster=sparkregion -e spark_ec2_key_path="
                                          f"{cluster['home'] / 'region_ed25519'} -e spark_ec2_region={elsewhere}")
    spark_ec2_role("destroy")
    assert tagged(ec2_there, "cloudburst:cluster", "sparkregion") == []


def rules_of(ec2, cluster_name):
    """Each of the cluster's groups by role: its id and its ingress as (from port, to port, source)."""
    groups = ec2.describe_security_groups(Filters=[{"Name": "tag:cloudburst:cluster", "Values": [cluster_name]}])
    found = {}
    for group in groups["SecurityGroups"]:
        role = next(t["Value"] for t in group["Tags"] if t["Key"] == "cloudburst:role")
        rules = set()
        for perm in group["IpPermissions"]:
            key = (perm.get("FromPort"), perm.get("ToPort"))
            rules |= {key + (r["CidrIp"],) for r in perm.get("IpRanges", [])}
            rules |= {key + (g["GroupId"],) for g in perm.get("UserIdGroupPairs", [])}
        found[role] = (group["GroupId"], rules)
    return found


def outside(rules):
    """The rules whose source is a CIDR (the allow-list's), without the group-to-group ones."""
    return {rule for rule in rules if "/" in rule[2]}


def user_data_of(ec2, instance_id):
    value = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"].get("Value")
    return base64.b64decode(value).decode() if value else ""


INSTANCE_WRITES = ("RunInstances", "TerminateInstances", "StopInstances", "StartInstances", "ModifyInstanceAttribute",
                   "CreateTags", "DeleteTags")


def test_a_cluster_of_your_own_making_and_who_may_reach_it(cluster, moto_server, tmp_path):
    """The role's cloud side (no host), as a user tailors it: a key pair of their own with its private key file, each
    role's AMI, root volume and user data, a release outside any list (3.1.3, a Hadoop 3.2 build chosen from its
    name, checked against the mirror's .sha512). Then who may reach it changes while it runs: a launch re-run with
    another allow-list, and spark_ec2_action=allow with the tunnel exposure; each replaces the groups' allow-list
    entries in place and touches no instance, which the rules read back here show exactly. (test_demo.py proves the
    same moves by connecting on the local cloud: allow adding and dropping an address, and a launch re-run into the
    tunnel, so they are not repeated here.) Destroy leaves the user's key pair and key file."""
    ec2 = cluster["ec2"]
    key, public = own_key(tmp_path)
    ec2.import_key_pair(KeyName="cloudburst-mine", PublicKeyMaterial=public.encode())
    images = {role: ec2.register_image(Name=f"debian-13-amd64-spark-{role}", RootDeviceName="/dev/xvda",
                                       Architecture="x86_64")["ImageId"] for role in ("master", "worker")}
    settings = {name: value for name, value in cluster["settings"].items()
                if name not in ("cloudburst_aws_region", "spark_auth_secret_file", "spark_ec2_key_path")}
    settings.update(spark_ec2_cluster="sparkown", spark_ec2_vpc_cidr="10.124.0.0/16", spark_ec2_subnet_cidr="10.124.1.0/24",
                    spark_ec2_wait_for_ssh=False, spark_ec2_workers=1, spark_ec2_key_pair="cloudburst-mine",
                    spark_ec2_key_path=str(key), spark_ec2_spark_version="3.1.3",
                    spark_ec2_master_ami=images["master"], spark_ec2_worker_ami=images["worker"],
                    spark_ec2_master_root_volume_size=20, spark_ec2_worker_root_volume_size=40,
                    spark_ec2_master_user_data="#!/bin/sh\necho master\n", spark_ec2_worker_user_data="#!/bin/sh\necho worker\n",
                    spark_ec2_allowlist=["198.51.100.0/24"])

    def spark_ec2_role(action, **extra):
        moto_server.reset_recording()
        result = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action=action, **extra))])
        assert result.rc == 0, result.failure_messages()
        return result

    launched = spark_ec2_role("launch").fact("spark_ec2_result")
    assert launched["spark_package"] == "hadoop3.2"
    name = "spark-3.1.3-bin-hadoop3.2.tgz"
    assert launched["spark_archive_checksum"] == "sha512:" + hashlib.sha512(name.encode()).hexdigest()
    running = {i["InstanceId"]: i for i in nodes(ec2, "sparkown")}
    by_role = {next(t["Value"] for t in i["Tags"] if t["Key"] == "cloudburst:role"): i for i in running.values()}
    for role, size in (("master", 20), ("worker", 40)):
        node = by_role[role]
        assert node["KeyName"] == "cloudburst-mine" and node["ImageId"] == images[role]
        volumes = [m["Ebs"]["VolumeId"] for m in node["BlockDeviceMappings"]]
        assert [v["Size"] for v in ec2.describe_volumes(VolumeIds=volumes)["Volumes"]] == [size]
        assert user_data_of(ec2, node["InstanceId"]) == f"#!/bin/sh\necho {role}\n"
    assert "cloudburst-sparkown" not in {p["KeyName"] for p in ec2.describe_key_pairs()["KeyPairs"]}
    # Exposure with the allow-list: the master's UI, the applications' 4040-4050, the workers' UI; never 6066.
    groups = rules_of(ec2, "sparkown")
    allowed = "198.51.100.0/24"
    assert outside(groups["master"][1]) == {(22, 22, allowed), (7077, 7077, allowed), (8080, 8080, allowed),
                                            (4040, 4050, allowed)}
    assert outside(groups["worker"][1]) == {(22, 22, allowed), (8081, 8081, allowed)}
    inside = {role: rules - outside(rules) for role, (_id, rules) in groups.items()}

    def moved(to, result):
        """The groups now let exactly `to` in where the old list was, in place; nothing else changed."""
        writes = ec2_writes(moto_server.recorded_actions())
        assert not [w for w in writes if w.split(":")[-1] in INSTANCE_WRITES], writes
        assert {w.split(":")[-1] for w in writes} <= {"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"}, writes
        now = rules_of(ec2, "sparkown")
        assert {role: group_id for role, (group_id, _rules) in now.items()} == {r: g for r, (g, _x) in groups.items()}
        assert {role: rules - outside(rules) for role, (_id, rules) in now.items()} == inside
        assert {rule[2] for _id, rules in now.values() for rule in outside(rules)} == {to}
        assert {i["InstanceId"]: i["State"]["Name"] for i in nodes(ec2, "sparkown")} == {
            i: n["State"]["Name"] for i, n in running.items()}
        assert result.fact("spark_ec2_result")["master"]["instance_id"] == by_role["master"]["InstanceId"]
        return now

    moved("192.0.2.0/24", spark_ec2_role("launch", spark_ec2_allowlist=["192.0.2.0/24"]))

    # The tunnel: no UI port open to anyone outside; SSH and 7077 stay; describe's ssh -L lines forward the UIs.
    tunnelled = spark_ec2_role("allow", spark_ec2_allowlist=["192.0.2.0/24"], spark_ec2_ui_exposure="tunnel")
    now = moved("192.0.2.0/24", tunnelled)
    assert outside(now["master"][1]) == {(22, 22, "192.0.2.0/24"), (7077, 7077, "192.0.2.0/24")}
    assert outside(now["worker"][1]) == {(22, 22, "192.0.2.0/24")}
    result = tunnelled.fact("spark_ec2_result")
    master, worker = by_role["master"], by_role["worker"]
    assert result["ui_url"] == "http://localhost:8080"
    assert result["tunnels"][0].startswith(f"ssh -i {key} -o UserKnownHostsFile={key}.known_hosts "
                                           f"-o HostKeyAlias={master['InstanceId']} -o StrictHostKeyChecking=yes")
    assert f"-N -L 8080:{master['PrivateIpAddress']}:8080 -L 4040:{master['PrivateIpAddress']}:4040" in result["tunnels"][0]
    assert f"-L 4050:{master['PrivateIpAddress']}:4050 admin@{master['PrivateIpAddress']}" in result["tunnels"][0]
    assert result["tunnels"][1].endswith(f"-N -L 8081:{worker['PrivateIpAddress']}:8081 admin@{worker['PrivateIpAddress']}")
    spark_ec2_role("destroy")
    assert tagged(ec2, "cloudburst:cluster", "sparkown") == []
    assert "cloudburst-mine" in {p["KeyName"] for p in ec2.describe_key_pairs()["KeyPairs"]}
    assert key.exists() and (tmp_path / "mine_ed25519.pub").exists()
    ec2.delete_key_pair(KeyName="cloudburst-mine")


def test_one_playbook_moves_the_users_allow_list_and_the_clusters(cluster, moto_server, tmp_path):
    """The operator moved (a café's address): playbooks/move_allowlist.yml moves the restricted IAM user's allow-list
    and the running cluster's together. A list that would leave this controller outside is refused by the lockout guard
    before anything changes, the cluster's groups included."""
    from rig import CheckipServer

    ec2 = cluster["ec2"]
    iam = boto3.client("iam", endpoint_url=moto_server.url, region_name=REGION,
                       aws_access_key_id=moto_server.credentials["aws_access_key_id"],
                       aws_secret_access_key=moto_server.credentials["aws_secret_access_key"])
    home = tmp_path / "home"
    settings = {name: value for name, value in cluster["settings"].items()
                if name not in ("cloudburst_aws_region", "spark_auth_secret_file")}
    settings.update(spark_ec2_cluster="sparkmove", spark_ec2_vpc_cidr="10.125.0.0/16", spark_ec2_subnet_cidr="10.125.1.0/24",
                    spark_ec2_key_path=str(tmp_path / "move_ed25519"), spark_ec2_wait_for_ssh=False, spark_ec2_workers=1,
                    spark_ec2_allowlist=[CHECKIP_ANSWER + "/32"])
    launched = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action="launch"))])
    assert launched.rc == 0, launched.failure_messages()

    def move(allowlist):
        moto_server.reset_recording()
        variables = dict(settings, cloudburst_aws_region=REGION, spark_ec2_allowlist=allowlist,
                         iam_restricted_user_name="mover", iam_restricted_user_policy_name="mover-launch",
                         cloudburst_condor_dir=str(home / ".condor"))
        varfile = tmp_path / "move.json"
        varfile.write_text(json.dumps(variables))
        with CheckipServer([(200, "11.22.33.44\n", 0)]) as checkip:
            env = ec2_env(moto_server, {"CLOUDBURST_AWS_ENDPOINT_URL": moto_server.url,
                                        "CLOUDBURST_CHECKIP_URL": checkip.url})
            return run(["ansible-playbook", "playbooks/move_allowlist.yml", "-e", f"@{varfile}"], env=env)

    def user_allows(address):
        restriction = iam.get_user_policy(UserName="mover", PolicyName="cloudburst-source-ip-allow-list")["PolicyDocument"]
        return source_ip_decision([{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, restriction],
                                  address) == "Allow"

    moved = move(["11.22.33.0/24"])
    assert moved.rc == 0, moved.output[-4000:]
    assert "usable only from 11.22.33.0/24" in flat(moved.stdout)
    assert user_allows("11.22.33.200") and not user_allows("11.22.34.1")
    cidrs = {rule[2] for _id, rules in rules_of(ec2, "sparkmove").values() for rule in outside(rules)}
    assert cidrs == {"11.22.33.0/24"}
    assert not [w for w in ec2_writes(moto_server.recorded_actions()) if w.split(":")[-1] in INSTANCE_WRITES]

    # A list without this controller's address: the guard refuses, and neither the user nor the cluster changes.
    refused = move(["198.51.100.0/24"])
    assert refused.rc != 0
    assert "the controller's address 11.22.33.44 is outside the allow-list" in flat(refused.stdout), refused.stdout[-3000:]
    assert ec2_writes(moto_server.recorded_actions()) == [], moto_server.recorded_actions()
    assert user_allows("11.22.33.200")
    assert {rule[2] for _id, rules in rules_of(ec2, "sparkmove").values() for rule in outside(rules)} == {"11.22.33.0/24"}

    destroyed = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action="destroy"))])
    assert destroyed.rc == 0, destroyed.failure_messages()
