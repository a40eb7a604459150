# -*- coding: utf-8 -*-
"""A Spark cluster that ends itself (issue 27, item 2), the role's cloud side against moto (no host, no container):
the lease's tags, shutdown behaviour, backstop user data and schedule at launch; a resize keeps the lease; describe
shows the time left; extend moves the end on the instances this controller launched only; the reaper's cluster mode
ends the cluster once its lease has passed and leaves everything else; bad lease input changes nothing.

The backstop itself (the script the user data installs) is proven with a fake clock in
tests/unit/plugins/module_utils/test_spark_lease.py; here its rendering in the user data is checked (the script
arrives byte for byte, the shell file parses)."""

from __future__ import annotations

import datetime
import json
import pathlib
import re
import subprocess

import boto3
from conftest import task_results
from ec2_plays import REGION, ec2_writes, role_refusals, role_tasks, run_play, run_roles
# cluster is test_spark_ec2's moto cluster fixture.
from test_spark_ec2 import cluster, flat, nodes, user_data_of  # noqa: F401 # pylint: disable=unused-import

CLUSTER = "sparklease"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:AnnexSetup-odi-lease"
RULE = f"HTCondorAnnex-_spark-{CLUSTER}-lease"
BACKSTOP = pathlib.Path(__file__).parents[2] / "roles" / "spark_ec2" / "files" / "cloudburst-spark-lease"


def moment(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def tags(instance):
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def settings_of(cluster, **more):  # noqa: F811
    settings = {key: value for key, value in cluster["settings"].items()
                if key not in ("cloudburst_aws_region", "spark_auth_secret_file")}
    settings.update(spark_ec2_cluster=CLUSTER, spark_ec2_vpc_cidr="10.125.0.0/16",
                    spark_ec2_subnet_cidr="10.125.1.0/24",
                    spark_ec2_key_path=str(cluster["home"] / "lease_ed25519"),
                    spark_ec2_wait_for_ssh=False, spark_ec2_workers=1, spark_ec2_lease_hours=2,
                    spark_ec2_lease_function=FUNCTION)
    return dict(settings, **more)


def test_a_leased_cluster_carries_its_lease_keeps_it_extends_it_and_ends(cluster, moto_server, tmp_path):  # noqa: F811
    ec2 = cluster["ec2"]
    settings = settings_of(cluster)
    events = boto3.client("events", region_name=REGION, endpoint_url=moto_server.url,
                          aws_access_key_id=moto_server.env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=moto_server.env["AWS_SECRET_ACCESS_KEY"])

    def spark_ec2_role(action, **extra):
        moto_server.reset_recording()
        result = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action=action, **extra))])
        assert result.rc == 0, result.failure_messages()
        return result

    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    launched = spark_ec2_role("launch", spark_ec2_idle_minutes=30).fact("spark_ec2_result")
    end = moment(launched["lease_end"])
    assert before + datetime.timedelta(hours=2) <= end <= before + datetime.timedelta(hours=2, minutes=5)
    ours = {i["InstanceId"]: i for i in nodes(ec2, CLUSTER)}
    assert len(ours) == 2
    for instance_id, instance in ours.items():
        assert tags(instance)["cloudburst:lease-end"] == launched["lease_end"]
        assert tags(instance)["cloudburst:lease-action"] == "terminate"
        assert tags(instance)["cloudburst:idle-minutes"] == "30"
        behaviour = ec2.describe_instance_attribute(InstanceId=instance_id,
                                                    Attribute="instanceInitiatedShutdownBehavior")
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        # The backstop: the script byte for byte, its lease end in epoch seconds, a shell file that parses.
        data = user_data_of(ec2, instance_id)
        script = re.search(r"<<'CLOUDBURST_SCRIPT'\n(.*)\nCLOUDBURST_SCRIPT\n", data, re.S).group(1)
        assert script == "#!/usr/bin/python3\n" + BACKSTOP.read_text().rstrip("\n")
        assert json.dumps({"lease_end": int(end.timestamp())}) in data
        assert "systemctl enable --now cloudburst-spark-lease.service" in data
        assert subprocess.run(["sh", "-n"], input=data, text=True, check=False).returncode == 0
    # The schedule: the setup's lease function, for this cluster only.
    rule = events.describe_rule(Name=RULE)
    assert rule["ScheduleExpression"] == "rate(5 minutes)" and rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=RULE)["Targets"]
    assert target["Arn"] == FUNCTION and json.loads(target["Input"]) == {"cluster": CLUSTER}
    assert f"-e spark_ec2_lease_function={FUNCTION}" in launched["playbook_args"]
    # The idle stop: what the lease play writes on the nodes (the master's /json/ at its private address).
    master_ip = next(i["PrivateIpAddress"] for i in ours.values() if {"Key": "cloudburst:role", "Value": "master"}
                     in i["Tags"])
    assert launched["idle_minutes"] == 30 and launched["master_json_url"] == f"http://{master_ip}:8080/json/"

    # A resize (asked with another length and action) keeps the lease the cluster was launched with.
    resized = spark_ec2_role("resize", spark_ec2_workers=2, spark_ec2_lease_hours=9, spark_ec2_lease_action="stop",
                             spark_ec2_idle_minutes=0)
    assert resized.fact("spark_ec2_result")["lease_end"] == launched["lease_end"]
    assert resized.fact("spark_ec2_result")["idle_minutes"] == 30
    grown = {i["InstanceId"]: i for i in nodes(ec2, CLUSTER)}
    (new,) = set(grown) - set(ours)
    assert tags(grown[new])["cloudburst:lease-end"] == launched["lease_end"]
    assert tags(grown[new])["cloudburst:lease-action"] == "terminate"
    assert tags(grown[new])["cloudburst:idle-minutes"] == "30"

    # describe shows the time left.
    check_entry = {"ansible.builtin.include_role": {"name": "cloudburst.aws.spark_ec2", "tasks_from": "check"}}
    described = run_play(tmp_path, moto_server,
                         role_tasks(("spark_ec2", dict(settings, spark_ec2_action="describe"))) + [check_entry])
    assert described.rc == 0, described.failure_messages()
    result = described.fact("spark_ec2_result")
    # What is left is the lease end less the time the describe ran at (however long the runs above took).
    left = (end - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert left - 120 < result["lease_seconds_left"] <= min(left + 5, 7200) and result["lease_action"] == "terminate"
    seconds = result["lease_seconds_left"]
    shown = f"Lease: ends {launched['lease_end']}, then terminate; {seconds // 3600}h {seconds % 3600 // 60:02d}m left"
    assert shown in flat(described.output)
    assert "Idle stop: terminate after 30 minutes without a running application" in flat(described.output)

    # A planted instance with the cluster's tags and a lease: extend never moves its lease (no launch record).
    planted = ec2.run_instances(ImageId=cluster["image"], MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in {
            "cloudburst:cluster": CLUSTER, "cloudburst:role": "worker", "managed-by": "cloudburst.aws",
            "cloudburst:lease-end": launched["lease_end"], "cloudburst:lease-action": "terminate"}.items()]}],
    )["Instances"][0]["InstanceId"]

    extended = spark_ec2_role("extend", spark_ec2_lease_hours=4)
    new_end = extended.fact("spark_ec2_result")["lease_end"]
    # The result shows every node's new end, the workers' too (they kept the old one there before).
    assert {w["lease_end"] for w in extended.fact("spark_ec2_result")["workers"]} == {new_end}
    assert moment(new_end) - end >= datetime.timedelta(hours=2) - datetime.timedelta(minutes=5)
    assert {w.split(":")[-1] for w in ec2_writes(moto_server.recorded_actions())} == {"CreateTags"}
    after = {i["InstanceId"]: tags(i) for i in nodes(ec2, CLUSTER)}
    assert {i: t["cloudburst:lease-end"] for i, t in after.items() if i != planted} == {i: new_end for i in grown}
    assert after[planted]["cloudburst:lease-end"] == launched["lease_end"]
    records = json.loads((cluster["home"] / "lease_ed25519.launched" / f"{CLUSTER}.json").read_text())
    assert {r["tags"]["cloudburst:lease-end"] for r in records["instances"].values()} == {new_end}

    # The lease passes (the tags say so: moto's clock cannot move): the reaper ends the cluster's instances, which
    # carry the EC2 layer's tags. Another cluster whose lease runs on, and an instance with the cluster's tags but
    # not the EC2 layer's, are left alone.
    passed = (datetime.datetime.now(datetime.timezone.utc)
              - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ec2.create_tags(Resources=list(grown) + [planted], Tags=[{"Key": "cloudburst:lease-end", "Value": passed}])
    stranger = ec2.run_instances(ImageId=cluster["image"], MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in {
            "cloudburst:cluster": CLUSTER, "cloudburst:lease-end": passed,
            "cloudburst:lease-action": "terminate"}.items()]}])["Instances"][0]["InstanceId"]
    task = {"cloudburst.aws.htcondor_annex_reaper": {"cluster": CLUSTER}}
    reaped = run_play(tmp_path, moto_server, [dict(task, check_mode=True), task, task])
    check, real, again = task_results(reaped.parsed)
    assert check["changed"] and check["terminated"] == sorted(list(grown) + [planted]), check
    assert real["changed"] and real["terminated"] == check["terminated"] and real["stopped"] == [], real
    assert not again["changed"], again
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=list(grown) + [planted, stranger])["Reservations"] for i in r["Instances"]}
    assert states.pop(stranger) == "running"
    assert set(states.values()) <= {"shutting-down", "terminated"}
    ec2.terminate_instances(InstanceIds=[stranger])

    # destroy (given the function, as playbook_args says) removes the schedule.
    spark_ec2_role("destroy")
    assert RULE not in [r["Name"] for r in events.list_rules()["Rules"]]


def test_bad_lease_input_changes_nothing(cluster, moto_server, tmp_path):  # noqa: F811
    cases = [
        ({"spark_ec2_lease_hours": -1}, "launch", "spark_ec2_lease_hours must be a number of hours"),
        ({"spark_ec2_lease_hours": 9000}, "launch", "spark_ec2_lease_hours must be a number of hours"),
        ({"spark_ec2_lease_schedule": "every 5 minutes"}, "launch", "spark_ec2_lease_schedule an EventBridge"),
        ({"spark_ec2_lease_function": "AnnexSetup-odi-lease"}, "launch", "spark_ec2_lease_function empty or"),
        ({"spark_ec2_lease_rule_prefix": "x" * 41}, "launch", "spark_ec2_lease_rule_prefix 1 to 40"),
        ({"spark_ec2_idle_minutes": 5}, "launch", "spark_ec2_idle_minutes must be 0 (never) or 10 to 10080"),
        ({"spark_ec2_idle_minutes": 30, "spark_ec2_lease_hours": 0}, "launch", "it needs a lease"),
        ({"spark_ec2_lease_hours": 0}, "extend", "spark_ec2_action=extend moves the lease end"),
        ({"spark_ec2_lease_action": "stop", "spark_ec2_spot_max_price": "0.05"}, "launch",
         "spark_ec2_lease_action stop cannot end spot workers"),
        ({"spark_ec2_user_data": "#cloud-config\nruncmd: []\n"}, "launch", "must then be a script"),
        ({"spark_ec2_cluster": "sparknolease"}, "extend", "Cluster sparknolease does not exist"),
    ]
    # Every case in one ansible-playbook run, each a host of its own (ec2_plays.role_refusals).
    moto_server.reset_recording()
    refusals = role_refusals(tmp_path, moto_server, "spark_ec2", [
        {**settings_of(cluster), "spark_ec2_key_path": str(cluster["home"] / f"case{n}_ed25519"), "spark_ec2_action": action,
         **extra} for n, (extra, action, _m) in enumerate(cases)])
    for (extra, action, message), refusal in zip(cases, refusals):
        assert message in refusal and "nothing was changed" in refusal.lower(), (extra, refusal)
    assert ec2_writes(moto_server.recorded_actions()) == [], moto_server.recorded_actions()
    # A choice or a type of the argument spec is refused by Ansible before the role's first task: no call at all.
    spec_cases = [({"spark_ec2_lease_action": "halt"}, "spark_ec2_lease_action must be one of"),
                  ({"spark_ec2_lease_hours": "soon"}, "argument 'spark_ec2_lease_hours' is of type str")]
    moto_server.reset_recording()
    refusals = role_refusals(tmp_path, moto_server, "spark_ec2", [dict(settings_of(cluster), **extra)
                                                                  for extra, _m in spec_cases])
    for (extra, message), refusal in zip(spec_cases, refusals):
        assert message in refusal, (extra, refusal)
    assert moto_server.recorded_actions() == []


def test_a_cluster_without_a_lease_cannot_be_extended(cluster, moto_server, tmp_path):  # noqa: F811
    settings = settings_of(cluster, spark_ec2_cluster="sparkplain", spark_ec2_vpc_cidr="10.126.0.0/16",
                           spark_ec2_subnet_cidr="10.126.1.0/24", spark_ec2_workers=0, spark_ec2_lease_hours=0,
                           spark_ec2_key_path=str(cluster["home"] / "plain_ed25519"))
    launched = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action="launch"))])
    assert launched.rc == 0, launched.failure_messages()
    (master,) = nodes(cluster["ec2"], "sparkplain")
    assert "cloudburst:lease-end" not in tags(master) and "cloudburst:lease-action" not in tags(master)
    behaviour = cluster["ec2"].describe_instance_attribute(InstanceId=master["InstanceId"],
                                                           Attribute="instanceInitiatedShutdownBehavior")
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
    moto_server.reset_recording()
    refused = run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action="extend",
                                                                   spark_ec2_lease_hours=3))])
    assert refused.rc != 0
    assert "was launched without a lease" in " ".join(" ".join(refused.failure_messages()).split())
    assert ec2_writes(moto_server.recorded_actions()) == []
    assert run_roles(tmp_path, moto_server, [("spark_ec2", dict(settings, spark_ec2_action="destroy"))]).rc == 0


def test_the_node_lease_entry_point_writes_the_backstops_end(moto_server, tmp_path):
    """What the playbook's lease play runs on each node after extend (and a start): the backstop's file with the end in
    epoch seconds. Run here in check mode with diff on this host, which changes nothing; without a lease it is
    skipped."""
    end = "2026-12-07T18:00:00Z"
    url = "http://10.0.0.5:8080/json/"
    tasks = [{"ansible.builtin.include_role": {"name": "cloudburst.aws.spark_ec2", "tasks_from": "node_lease"},
              "vars": {"spark_ec2_node_lease_end": value, **more}}
             for value, more in ((end, {}), ("", {}), (end, {"spark_ec2_node_idle_seconds": 1800,
                                                             "spark_ec2_node_master_json_url": url}))]
    ran = run_play(tmp_path, moto_server, tasks, extra_args=["--check", "--diff"])
    assert ran.rc == 0, ran.failure_messages()
    written, skipped, idle = [r for r in task_results(ran.parsed) if r.get("diff") or r.get("skipped")]
    assert written["diff"][0]["after"] == json.dumps({"lease_end": int(moment(end).timestamp())}) + "\n"
    assert idle["diff"][0]["after"] == json.dumps({"lease_end": int(moment(end).timestamp()), "idle_seconds": 1800,
                                                   "master_json_url": url}) + "\n"
    assert written["diff"][0]["after_header"] == "/etc/cloudburst/spark-lease.json"
    assert skipped["skipped"]


def test_the_playbook_carries_the_lease_play():
    from conftest import REPO_ROOT, ansible_env, run

    checked = run(["ansible-playbook", "--syntax-check", "playbooks/spark_ec2.yml"], env=ansible_env(), cwd=REPO_ROOT)
    assert checked.rc == 0, checked.output[-3000:]
    text = (pathlib.Path(REPO_ROOT) / "playbooks" / "spark_ec2.yml").read_text()
    assert "spark_ec2_lease_nodes:" in text and "tasks_from: node_lease" in text
