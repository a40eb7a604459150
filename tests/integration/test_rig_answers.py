# -*- coding: utf-8 -*-
"""The rig answers as AWS does where moto does not: schedules fire and run their Lambda targets' code with the
function role's credentials (tests/rig/schedules.py, tests/rig/lambdarun.py), Invoke runs the code, and EC2 refuses
to stop a one-time spot instance (tests/rig/awsfront.py). Against the session's moto, in a region of its own; the clock is the
test's, so nothing waits for a real minute."""

from __future__ import annotations

import datetime
import io
import json
import zipfile

import pytest

REGION = "af-south-1"
BUCKET = "rig-answers-code"
UTC = datetime.timezone.utc
# A handler that proves what it ran with: it writes the event, its caller and its endpoint into the bucket with the
# credentials it was given, and returns them.
HANDLER = '''
import json, os, time, boto3
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    caller = boto3.client("sts").get_caller_identity()["Arn"]
    seen = {"event": event, "caller": caller, "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
            "name": context.function_name, "rig_key": os.environ.get("CLOUDBURST_AWS_ENDPOINT_URL"),
            "setting": os.environ.get("SETTING")}
    boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key="ran/" + context.aws_request_id,
                                  Body=json.dumps(seen).encode())
    return seen
'''


def zipped(files):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as package:
        for name, text in files.items():
            package.writestr(name, text)
    return data.getvalue()


@pytest.fixture(scope="module")
def world(moto_server):
    import boto3

    from rig.awsfront import AwsFront
    from rig.lambdarun import LambdaRunner
    from rig.schedules import ScheduleRunner

    session = boto3.session.Session(aws_access_key_id=moto_server.credentials["aws_access_key_id"],
                                    aws_secret_access_key=moto_server.credentials["aws_secret_access_key"],
                                    region_name=REGION)

    def client(service):
        return session.client(service, endpoint_url=moto_server.url)

    iam, s3, lam = client("iam"), client("s3"), client("lambda")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="rig-answers-fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key="code/fn.zip", Body=zipped({"fn.py": HANDLER}))
    functions = {}
    for name, timeout in (("rig-answers", 30), ("rig-answers-short", 2)):
        functions[name] = lam.create_function(
            FunctionName=name, Runtime="python3.13", Role=role, Handler="fn.handler", Timeout=timeout,
            Code={"S3Bucket": BUCKET, "S3Key": "code/fn.zip"},
            Environment={"Variables": {"BUCKET": BUCKET, "SETTING": "from the function"}})["FunctionArn"]
    lam.add_permission(FunctionName="rig-answers", StatementId="events", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceAccount="123456789012",
                       SourceArn=f"arn:aws:events:{REGION}:123456789012:rule/RigAnswers-*")
    # This module's own answering front, straight before moto (the session's stands behind the authorizing front,
    # which would refuse the functions' role sessions as keys it does not know).
    lambdas = LambdaRunner(moto_server.moto_url, REGION, moto_server.credentials)
    front = AwsFront(moto_server.moto_url, moto_server.credentials, lambdas=lambdas).start()
    yield {"client": client, "role": role, "functions": functions, "lambdas": lambdas, "front": front,
           "schedules": ScheduleRunner(lambdas), "session": session}
    front.stop()


def proofs(world):
    s3 = world["client"]("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="ran/").get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]


def at(seconds, base=datetime.datetime(2030, 1, 1, tzinfo=UTC)):
    return base + datetime.timedelta(seconds=seconds)


def test_a_due_rule_runs_its_target_with_its_input_and_the_functions_role(world):
    events, runner = world["client"]("events"), world["schedules"]
    events.put_rule(Name="RigAnswers-lease", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="RigAnswers-lease", Targets=[
        {"Id": "t", "Arn": world["functions"]["rig-answers"], "Input": json.dumps({"annex_name": "a"})}])
    before = len(proofs(world))
    assert runner.tick(at(0)) == [] and runner.tick(at(59)) == []
    (ran,) = runner.tick(at(60))
    assert ran.ok, ran.error
    assert ran.result["event"] == {"annex_name": "a"} and ran.result["name"] == "rig-answers"
    # The function role's session (moto's assumed-role ARN), not the rig's administrator; boto3 went to the rig.
    assert ran.result["caller"].endswith(":assumed-role/rig-answers-fn/rig-answers"), ran.result["caller"]
    assert ran.result["endpoint"] and ran.result["rig_key"] is None and ran.result["setting"] == "from the function"
    assert len(proofs(world)) == before + 1
    assert runner.tick(at(90)) == [] and len(runner.tick(at(120))) == 1

    # Disabled, it does not fire; enabled again, its clock starts again; deleted, it never fires.
    events.disable_rule(Name="RigAnswers-lease")
    assert runner.tick(at(180)) == [] and runner.tick(at(400)) == []
    events.enable_rule(Name="RigAnswers-lease")
    assert runner.tick(at(420)) == [] and len(runner.tick(at(480))) == 1
    events.remove_targets(Rule="RigAnswers-lease", Ids=["t"])
    events.delete_rule(Name="RigAnswers-lease")
    assert runner.tick(at(600)) == [] and runner.tick(at(6000)) == []


def test_a_rule_the_functions_policy_does_not_name_cannot_invoke_it(world):
    events, runner = world["client"]("events"), world["schedules"]
    events.put_rule(Name="Other-lease", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="Other-lease",
                       Targets=[{"Id": "t", "Arn": world["functions"]["rig-answers"], "Input": "{}"}])
    try:
        runner.tick(at(10000))
        assert runner.tick(at(10060)) == []
        assert any("EventBridge may not invoke" in str(e) and "Other-lease" in str(e) for e in runner.errors)
    finally:
        events.remove_targets(Rule="Other-lease", Ids=["t"])
        events.delete_rule(Name="Other-lease")


def test_an_at_schedule_fires_once_and_goes_when_it_says_so(world):
    scheduler, runner = world["client"]("scheduler"), world["schedules"]
    scheduler.create_schedule(Name="rig-once", ScheduleExpression="at(2030-02-01T00:00:30)",
                              FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
                              Target={"Arn": world["functions"]["rig-answers"], "RoleArn": world["role"],
                                      "Input": json.dumps({"once": True})})
    base = datetime.datetime(2030, 2, 1, tzinfo=UTC)
    assert runner.tick(at(0, base)) == []
    (ran,) = runner.tick(at(31, base))
    assert ran.ok and ran.result["event"] == {"once": True}
    assert [s["Name"] for s in scheduler.list_schedules()["Schedules"] if s["Name"] == "rig-once"] == []


def test_invoke_through_the_front_runs_the_code(world):
    import boto3

    lam = boto3.client("lambda", endpoint_url=world["front"].url, region_name=REGION,
                       aws_access_key_id=world["session"].get_credentials().access_key,
                       aws_secret_access_key=world["session"].get_credentials().secret_key)
    answer = lam.invoke(FunctionName="rig-answers", Payload=json.dumps({"condor_host": "10.0.0.1"}))
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer and payload["event"] == {"condor_host": "10.0.0.1"}
    failed = lam.invoke(FunctionName="rig-answers", Payload=json.dumps({"fail": True}))
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorMessage"] == "asked to fail"
    late = lam.invoke(FunctionName="rig-answers-short", Payload=json.dumps({"sleep": 5}))
    assert late["FunctionError"] == "Unhandled"
    assert json.loads(late["Payload"].read())["errorMessage"] == "Task timed out after 2.00 seconds"


def test_ec2_refuses_to_stop_a_one_time_spot_instance(world):
    import boto3
    from botocore.exceptions import ClientError

    ec2 = boto3.client("ec2", endpoint_url=world["front"].url, region_name=REGION,
                       aws_access_key_id=world["session"].get_credentials().access_key,
                       aws_secret_access_key=world["session"].get_credentials().secret_key)
    image = ec2.register_image(Name="rig-answers-image", RootDeviceName="/dev/xvda")["ImageId"]

    def launch(spot_type=None):
        extra = {} if spot_type is None else {"InstanceMarketOptions": {
            "MarketType": "spot", "SpotOptions": {"SpotInstanceType": spot_type, "InstanceInterruptionBehavior": "stop"
                                                  if spot_type == "persistent" else "terminate"}}}
        return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, **extra)["Instances"][0]["InstanceId"]

    on_demand, one_time, persistent = launch(), launch("one-time"), launch("persistent")
    with pytest.raises(ClientError) as refused:
        ec2.stop_instances(InstanceIds=[on_demand, one_time])
    assert refused.value.response["Error"]["Code"] == "UnsupportedOperation"
    assert f"Spot Instance '{one_time}'" in refused.value.response["Error"]["Message"]
    # Nothing stopped: EC2 refuses the whole call.
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=[on_demand, one_time])[
        "Reservations"] for i in r["Instances"]}
    assert states == {on_demand: "running", one_time: "running"}
    ec2.stop_instances(InstanceIds=[on_demand, persistent])
    ec2.terminate_instances(InstanceIds=[on_demand, one_time, persistent])
    assert ("one_time_spot_stop", [one_time]) in world["front"].answered


def test_everything_else_passes_the_front_unchanged(world):
    """The playbooks of tools/local-aws go through the front: S3 uploads (multipart, 100-continue), HEAD sizes and
    query-protocol errors arrive as moto gives them."""
    import boto3
    from botocore.exceptions import ClientError

    def client(service):
        return boto3.client(service, endpoint_url=world["front"].url, region_name=REGION,
                            aws_access_key_id=world["session"].get_credentials().access_key,
                            aws_secret_access_key=world["session"].get_credentials().secret_key)

    s3 = client("s3")
    s3.upload_fileobj(io.BytesIO(b"x" * 9_000_000), BUCKET, "through/multipart")
    s3.upload_fileobj(io.BytesIO(b"y" * 1000), BUCKET, "through/small")
    assert s3.head_object(Bucket=BUCKET, Key="through/multipart")["ContentLength"] == 9_000_000
    assert s3.get_object(Bucket=BUCKET, Key="through/small")["Body"].read() == b"y" * 1000
    with pytest.raises(ClientError) as missing:
        client("iam").get_user(UserName="nobody-at-all")
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"


def test_a_rule_descriptions_update_answers_return_as_ec2_does(world):
    """amazon.aws reads Return from UpdateSecurityGroupRuleDescriptionsIngress when it puts a description back."""
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=world["front"].url, region_name=REGION,
                       aws_access_key_id=world["session"].get_credentials().access_key,
                       aws_secret_access_key=world["session"].get_credentials().secret_key)
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="rig-answers-desc", Description="d", VpcId=vpc)["GroupId"]
    rule = {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "192.0.2.7/32"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule])
    described = dict(rule, IpRanges=[{"CidrIp": "192.0.2.7/32", "Description": "allow-list"}])
    assert ec2.update_security_group_rule_descriptions_ingress(GroupId=group, IpPermissions=[described])["Return"]
    ranges = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"][0]["IpRanges"]
    assert ranges == [{"CidrIp": "192.0.2.7/32", "Description": "allow-list"}]
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)


def test_an_instance_without_a_subnet_lands_in_the_default_subnet_as_on_ec2(world):
    """The stock condor_annex names no subnet: EC2 picks the zone's default subnet (and refuses a group of another
    VPC); moto would give the instance an address outside every subnet."""
    import ipaddress

    import boto3
    from botocore.exceptions import ClientError

    ec2 = boto3.client("ec2", endpoint_url=world["front"].url, region_name=REGION,
                       aws_access_key_id=world["session"].get_credentials().access_key,
                       aws_secret_access_key=world["session"].get_credentials().secret_key)
    image = ec2.register_image(Name="rig-answers-subnet", RootDeviceName="/dev/xvda")["ImageId"]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="rig-default", Description="d", VpcId=default_vpc)["GroupId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=[group])["Instances"][0]
    subnet = ec2.describe_subnets(SubnetIds=[instance["SubnetId"]])["Subnets"][0]
    assert subnet["DefaultForAz"] and subnet["VpcId"] == default_vpc
    assert ipaddress.ip_address(instance["PrivateIpAddress"]) in ipaddress.ip_network(subnet["CidrBlock"])
    other_vpc = ec2.create_vpc(CidrBlock="10.177.0.0/16")["Vpc"]["VpcId"]
    stranger = ec2.create_security_group(GroupName="rig-other", Description="o", VpcId=other_vpc)["GroupId"]
    with pytest.raises(ClientError) as refused:
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=[stranger])
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
