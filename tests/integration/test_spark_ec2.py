# -*- coding: utf-8 -*-
"""playbooks/spark_ec2.yml's input checks: bad input fails with a clear message, before any write call; and the
role's cloud side leaves an instance planted with the cluster's tags out of the cluster.

The cluster's whole life on the local cloud (launch, job, resize to 3 and to 1, stop, start, job, destroy,
each step re-run for no change, the exposure rules) runs in tests/integration/test_demo.py, on the cluster
`make demo` launches: one Spark cluster for the suite.
"""

from __future__ import annotations

import json

import pytest
from ec2_plays import REGION, ec2_client, ec2_env, ec2_writes, run_play, run_roles, tagged

from conftest import run

CLUSTER = "sparkinput"
CHECKIP_ANSWER = "11.22.33.44"


@pytest.fixture(scope="module")
def cluster(moto_server, tmp_path_factory):
    """A cluster's settings; no instance is ever launched from them (every case fails before the first write)."""
    from rig import CheckipServer

    ec2 = ec2_client(moto_server)
    image = ec2.register_image(Name="debian-13-amd64-spark-ec2-input", RootDeviceName="/dev/xvda",
                               Architecture="x86_64")["ImageId"]
    home = tmp_path_factory.mktemp("spark-ec2")
    with CheckipServer([(200, CHECKIP_ANSWER + "\n", 0)]) as checkip:
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


def nodes(ec2, cluster=CLUSTER):
    flt = [{"Name": "tag:cloudburst:cluster", "Values": [cluster]},
           {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    return [i for r in ec2.describe_instances(Filters=flt)["Reservations"] for i in r["Instances"]]


def test_bad_input_changes_nothing(cluster, moto_server):
    cases = [
        ({"spark_ec2_workers": -1}, "launch", "spark_ec2_workers must be a whole number"),
        ({"spark_ec2_spot_max_price": "cheap"}, "launch", "'cheap' is not a price"),
        ({"spark_ec2_spark_version": "3.9.9"}, "launch", "'3.9.9' is not a Spark release"),
        ({"spark_ec2_allowlist": ["0.0.0.0/0"]}, "launch", "Refusing 0.0.0.0/0 in spark_ec2_allowlist"),
        ({"spark_ec2_cluster": "my cluster"}, "launch", "'my cluster' is not a cluster name"),
        # The role's former Jinja copy of the rule ended in "$", which matches before a final line break.
        ({"spark_ec2_cluster": "demo\n"}, "launch", "is not a cluster name"),
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
