# -*- coding: utf-8 -*-
"""An annex's world on the moto server and the local cloud, shared by tests/integration/test_annex_lifecycle.py and
benchmarks/annex_burst.py: a network, the annex setup (bucket, instance profile, security group, lease function ARN
and the four HTCondorAnnex-* stacks with the outputs cloudburst.aws.htcondor_annex_setup gives), the key pair, an
image, and a central manager that is itself a local-cloud instance, configured by playbooks/htcondor_pool.yml."""

from __future__ import annotations

import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
import rig  # noqa: E402
from localcloud import wait_until  # noqa: E402

ACCOUNT = "123456789012"
CM_ROLE = "htcondor_central_manager"
BOOT_TIMEOUT = 300


def podman(*argv, check=True, timeout=300):
    return subprocess.run(["podman", *argv], capture_output=True, text=True, check=check, timeout=timeout)


def stack_template(outputs):
    return json.dumps({"Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                       "Outputs": {k: {"Value": v} for k, v in outputs.items()}})


def playbook_env(moto, json_output=False):
    """What a user has: credentials in the environment, the endpoint for the playbooks' group_vars, no AWS_ENDPOINT_URL."""
    env = rig.clean_aws_environment(dict(os.environ))
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    venv_bin = os.path.dirname(os.path.abspath(sys.executable))
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=venv_bin + os.pathsep + env.get("PATH", ""), CLOUDBURST_AWS_ENDPOINT_URL=moto.url,
               AWS_ACCESS_KEY_ID=moto.credentials["aws_access_key_id"],
               AWS_SECRET_ACCESS_KEY=moto.credentials["aws_secret_access_key"])
    if json_output:
        env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    return env


class AnnexWorld:
    """Everything an annex launch needs, made in one region with names that start with prefix."""

    def __init__(self, moto, region, vpc_cidr, subnet_cidr, workdir, prefix, inventory_path, cm_cluster):
        import boto3

        self.moto, self.region, self.prefix, self.inventory = moto, region, prefix, inventory_path
        session = boto3.session.Session(aws_access_key_id=moto.credentials["aws_access_key_id"],
                                        aws_secret_access_key=moto.credentials["aws_secret_access_key"])

        def client(name):
            return session.client(name, endpoint_url=moto.url, region_name=region)

        self.ec2, self.s3, self.events = client("ec2"), client("s3"), client("events")
        iam, cfn = client("iam"), client("cloudformation")
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:HTCondorAnnex-LambdaFunctions-odi-lease"

        vpc = self.ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
        self.group = self.ec2.create_security_group(GroupName=f"cloudburst-{prefix}-annex", Description="annex nodes",
                                                    VpcId=vpc)["GroupId"]
        self.image = self.ec2.register_image(Name=f"debian-13-amd64-{prefix}", RootDeviceName="/dev/xvda",
                                             Architecture="x86_64")["ImageId"]
        self.key_path = os.path.join(workdir, "HTCondorAnnex-KeyPair_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key_path], check=True)
        with open(self.key_path + ".pub", "rb") as stream:
            self.ec2.import_key_pair(KeyName="HTCondorAnnex-KeyPair", PublicKeyMaterial=stream.read())
        self.bucket = f"cloudburst-annex-{prefix}"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": region})
        assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"Service": "ec2.amazonaws.com"}}]}
        name = f"cloudburst-{prefix}-annex-node"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(assume))
        self.profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        for stack, outputs in (("ConfigurationBucket", {"BucketName": self.bucket}),
                               ("LambdaFunctions", {"OdiLeaseFunctionArn": self.function_arn}),
                               ("InstanceProfile", {"InstanceProfileArn": self.profile}),
                               ("SecurityGroup", {"SecurityGroupId": self.group})):
            cfn.create_stack(StackName=f"HTCondorAnnex-{stack}", TemplateBody=stack_template(outputs))

        # The central manager: an instance of another cluster in the same subnet, tagged with the role that the
        # local cloud's inventory groups it by.
        cm = self.ec2.run_instances(
            ImageId=self.image, MinCount=1, MaxCount=1, InstanceType="t3.medium", SubnetId=self.subnet,
            KeyName="HTCondorAnnex-KeyPair", TagSpecifications=[{"ResourceType": "instance", "Tags": [
                {"Key": "managed-by", "Value": "cloudburst.aws"}, {"Key": "cloudburst:cluster", "Value": cm_cluster},
                {"Key": "cloudburst:role", "Value": CM_ROLE}]}])["Instances"][0]
        self.cm, self.cm_ip = cm["InstanceId"], cm["PrivateIpAddress"]

    def cm_listed(self):
        try:
            with open(self.inventory) as stream:
                return self.cm in json.load(stream)["all"]["hosts"]
        except (OSError, ValueError, KeyError):
            return False

    def configure_pool(self):
        """Wait for the central manager's host, configure the pool on it and add the submitting user alice."""
        wait_until(self.cm_listed, BOOT_TIMEOUT, interval=2, message="central manager host ready")
        pool = self.playbook("htcondor_pool.yml", {})
        if pool.returncode != 0:
            raise RuntimeError(f"htcondor_pool.yml failed:\n{(pool.stdout + pool.stderr)[-5000:]}")
        self.on_cm("useradd", "-m", "-s", "/bin/bash", "alice")
        # Test pacing only: negotiate every 10 s instead of 60 s, so a queued job meets a node whose idle time
        # is 60 s; the pool's security settings are untouched.
        self.on_cm("sh", "-c", "printf 'NEGOTIATOR_INTERVAL = 10\\nNEGOTIATOR_CYCLE_DELAY = 5\\n' "
                               "> /etc/condor/config.d/90-test-pacing.conf && condor_reconfig")

    def on_cm(self, *argv, user=None, check=True):
        """A command on the central manager's container, as root or as user in their home."""
        who = ["--user", user, "--workdir", f"/home/{user}"] if user else []
        return podman("exec", *who, self.cm, *argv, check=check)

    def playbook(self, name, extra, json_output=False, timeout=1800):
        variables = dict({
            "cloudburst_aws_region": self.region,
            "htcondor_central_manager": self.cm_ip,
            "htcondor_annex_ami": self.image,
            "htcondor_annex_subnet_id": self.subnet,
            "htcondor_annex_key_path": self.key_path,
        }, **extra)
        return subprocess.run(["ansible-playbook", "-i", self.inventory, os.path.join("playbooks", name),
                               "-e", json.dumps(variables)], cwd=REPO_ROOT, env=playbook_env(self.moto, json_output),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def annex_states(self, name):
        found = self.ec2.describe_instances(Filters=[{"Name": "tag:htcondor:AnnexName", "Values": [name]}])
        return {i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}

    def annex_slots(self, name):
        """Name and Machine of the annex's slots in condor_status on the central manager."""
        found = self.on_cm("condor_status", "-constraint", f'AnnexName == "{name}" && IsAnnex', "-af", "Name",
                           "Machine", check=False)
        return set(found.stdout.split("\n")) - {""} if found.returncode == 0 else set()
