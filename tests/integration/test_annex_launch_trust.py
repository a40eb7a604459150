# -*- coding: utf-8 -*-
"""The annex launch's cloud side (roles/htcondor_annex) trusts only the nodes this controller launched.

Against moto, with stand-ins for the setup's four stacks in a region of this module's own, no host and no SSH: an
annex of one node, then an instance planted with the annex's tags, another key pair and a lease tag that never ends
(what anyone allowed to launch with the annex's tags can do), then a scale-up to three. The planted instance is
reported, not counted, never added to the inventory (the launch's group or the drain's), never terminated; the new
nodes' lease is the launch's (from the launch records), not the planted tag's. The nodes are hardened (IMDSv2 only, hop
limit 1, encrypted root volume).
"""

from __future__ import annotations

import base64
import calendar
import json
import re
import time

import pytest
from ec2_plays import ec2_client, run_play

REGION = "eu-west-2"  # no other test uses it: the stand-in setup is this module's own (test_annex_input.py stands in a setup in sa-east-1)
NAME = "trust-a"
CLUSTER = f"annex-{NAME}"


def stand_in_setup(moto_server):
    """The four HTCondorAnnex-* stacks with the outputs the launch reads; the lease function is only a name (moto
    never fires the schedule)."""
    import boto3

    session = boto3.session.Session(aws_access_key_id=moto_server.credentials["aws_access_key_id"],
                                    aws_secret_access_key=moto_server.credentials["aws_secret_access_key"])
    cfn = session.client("cloudformation", endpoint_url=moto_server.url, region_name=REGION)
    ec2 = ec2_client(moto_server, REGION)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "ec2.amazonaws.com"}}]}
    stacks = {
        "HTCondorAnnex-ConfigurationBucket": {
            "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}}},
        "HTCondorAnnex-LambdaFunctions": {
            "Resources": {"Placeholder": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {"OdiLeaseFunctionArn": {"Value": f"arn:aws:lambda:{REGION}:123456789012:function:stand-in"}}},
        "HTCondorAnnex-InstanceProfile": {
            "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": assume}},
                          "Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": "Role"}]}}},
            "Outputs": {"InstanceProfileArn": {"Value": {"Fn::GetAtt": ["Profile", "Arn"]}}}},
        "HTCondorAnnex-SecurityGroup": {
            "Resources": {"Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                "GroupDescription": "annex stand-in", "VpcId": vpc}}},
            "Outputs": {"SecurityGroupId": {"Value": {"Fn::GetAtt": ["Group", "GroupId"]}}}},
    }
    for name, template in stacks.items():
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    ec2.create_key_pair(KeyName="HTCondorAnnex-KeyPair")
    image = ec2.register_image(Name="debian-13-amd64-annex-trust", RootDeviceName="/dev/xvda")["ImageId"]
    return ec2, image


@pytest.fixture(scope="module")
def world(moto_server, tmp_path_factory):
    ec2, image = stand_in_setup(moto_server)
    home = tmp_path_factory.mktemp("annex-trust")
    return {"ec2": ec2, "image": image, "key_path": str(home / ".condor" / "HTCondorAnnex-KeyPair_ed25519")}


def annex(world, count, state="present"):
    """The launch's cloud side (or its termination), then the drain's host look-up, in one play."""
    role_vars = {"htcondor_annex_name": NAME, "htcondor_annex_region": REGION, "htcondor_annex_ami": world["image"],
                 "htcondor_annex_key_path": world["key_path"], "htcondor_annex_count": count,
                 "htcondor_annex_state": state, "htcondor_annex_wait_for_ssh": False}
    tasks = [{"name": "The annex", "ansible.builtin.include_role": {"name": "cloudburst.aws.htcondor_annex"},
              "vars": role_vars}]
    if state == "present":
        tasks.append({"name": "Its nodes for the drain", "ansible.builtin.include_role": {
            "name": "cloudburst.aws.htcondor_annex", "tasks_from": "hosts"}, "vars": dict(
                role_vars, htcondor_annex_inventory_group="annex_drain")})
        tasks.append({"name": "Note the groups", "ansible.builtin.set_fact": {
            "launched_group": "{{ groups['htcondor_annex'] | default([]) | sort }}",
            "drain_group": "{{ groups['annex_drain'] | default([]) | sort }}"}})
    return tasks


def states(ec2):
    found = ec2.describe_instances(Filters=[{"Name": "tag:htcondor:AnnexName", "Values": [NAME]}])
    return {i["InstanceId"]: i for r in found["Reservations"] for i in r["Instances"]}


def test_a_planted_node_gets_no_lease_no_inventory_and_is_never_terminated(world, moto_server, tmp_path):
    ec2 = world["ec2"]
    first = run_play(tmp_path, moto_server, annex(world, 1), region=REGION)
    assert first.rc == 0, first.failure_messages()
    (ours,) = states(ec2)
    lease_end = first.fact("htcondor_annex_result")["lease_end"]

    ec2.create_key_pair(KeyName="annex-trust-stranger")
    planted = ec2.run_instances(ImageId=world["image"], MinCount=1, MaxCount=1, KeyName="annex-trust-stranger",
                                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                    {"Key": "htcondor:AnnexName", "Value": NAME},
                                    {"Key": "cloudburst:cluster", "Value": CLUSTER},
                                    {"Key": "cloudburst:role", "Value": "annex"},
                                    {"Key": "managed-by", "Value": "cloudburst.aws"},
                                    {"Key": "cloudburst:lease-end", "Value": "2099-01-01T00:00:00Z"}]}])
    planted = planted["Instances"][0]["InstanceId"]

    up = run_play(tmp_path, moto_server, annex(world, 3), region=REGION)
    assert up.rc == 0, up.failure_messages()
    # The scale-up keeps the launch's lease: every node this controller launched, the new ones included, is tagged
    # with it and its backstop counts to it, not to the planted 2099.
    described = states(ec2)
    ids = sorted(i for i in described if i != planted)
    assert up.fact("htcondor_annex_result")["lease_end"] == lease_end
    assert {i: {t["Key"]: t["Value"] for t in described[i]["Tags"]}["cloudburst:lease-end"] for i in ids} == {
        i: lease_end for i in ids}
    # Reported; not counted (two nodes launched for a count of three), not in the launch's group nor the drain's.
    assert [w for w in up.warnings() if f"not launched by this controller: {planted}" in w], up.warnings()
    assert len(ids) == 3 and ours in ids
    assert sorted(i["instance_id"] for i in up.fact("htcondor_annex_result")["instances"]) == ids
    assert up.fact("launched_group") == ids and up.fact("drain_group") == ids
    epoch = calendar.timegm(time.strptime(lease_end, "%Y-%m-%dT%H:%M:%SZ"))
    for instance_id in ids:
        data = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
        assert re.search(rf"^end={epoch}$", base64.b64decode(data).decode(), re.M)
        # Hardened as every node the collection launches: IMDSv2 only, one hop, an encrypted root volume.
        options = described[instance_id]["MetadataOptions"]
        assert options["HttpTokens"] == "required" and options["HttpPutResponseHopLimit"] == 1
        volumes = [m["Ebs"]["VolumeId"] for m in described[instance_id]["BlockDeviceMappings"]]
        assert [v["Encrypted"] for v in ec2.describe_volumes(VolumeIds=volumes)["Volumes"]] == [True]

    gone = run_play(tmp_path, moto_server, annex(world, 1, state="absent"), region=REGION)
    assert gone.rc == 0, gone.failure_messages()
    described = states(ec2)
    assert {i: described[i]["State"]["Name"] for i in ids} == {i: "terminated" for i in ids}
    assert described[planted]["State"]["Name"] == "running"
    ec2.terminate_instances(InstanceIds=[planted])
