# -*- coding: utf-8 -*-
"""An annex's world on the moto server and the local cloud, shared by tests/integration/test_annex_lifecycle.py and
benchmarks/annex_burst.py: a network and an image (what an account has before the setup), a central manager that
is itself a local-cloud instance configured by playbooks/htcondor_pool.yml, and a user's home for the
playbooks (CLOUDBURST_CREDENTIALS_HOME: the key files, the annex key pair and the HTCondor config go to its
.condor). The annex setup itself is made by the playbooks, as a user makes it: playbooks/annex_seed000.yml (the
lifecycle test) or playbooks/annex_setup.yml (the benchmark)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import rig
from rig import REPO_ROOT
from rig.fake_spark_mirror import gateway
from rig.localcloud import wait_until

CM_ROLE = "htcondor_central_manager"
BOOT_TIMEOUT = 300
STACKS = {"bucket": "HTCondorAnnex-ConfigurationBucket", "lambda": "HTCondorAnnex-LambdaFunctions",
          "profile": "HTCondorAnnex-InstanceProfile", "security_group": "HTCondorAnnex-SecurityGroup"}


def podman(*argv, check=True, timeout=300):
    return subprocess.run(["podman", *argv], capture_output=True, text=True, check=check, timeout=timeout)


def playbook_env(moto, json_output=False, region=None, home=None, checkip_url=None):
    """What a user has: credentials and region in the environment, the endpoint for the playbooks' group_vars,
    no AWS_ENDPOINT_URL."""
    env = rig.clean_aws_environment(dict(os.environ))
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    venv_bin = os.path.dirname(os.path.abspath(sys.executable))
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=venv_bin + os.pathsep + env.get("PATH", ""), CLOUDBURST_AWS_ENDPOINT_URL=moto.url,
               AWS_ACCESS_KEY_ID=moto.credentials["aws_access_key_id"],
               AWS_SECRET_ACCESS_KEY=moto.credentials["aws_secret_access_key"])
    for name, value in (("AWS_REGION", region), ("CLOUDBURST_CREDENTIALS_HOME", home),
                        ("CLOUDBURST_CHECKIP_URL", checkip_url)):
        if value:
            env[name] = value
    if json_output:
        env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    return env


def task_result(parsed, name, host="localhost"):
    """The result on host of the task called name (a role's task as "role : name") in a JSON callback run (the last
    one of that name)."""
    found = [task["hosts"][host] for play in parsed["plays"] for task in play["tasks"]
             if task["task"]["name"].split(" : ")[-1] == name and host in task["hosts"]]
    assert found, f"no task {name!r} ran on {host}"
    return found[-1]


class AnnexWorld:
    """An account's network and image, a central manager on the local cloud, and a user's home, in one region.

    With vpc_cidr None the world is the region's default VPC and the default subnet of its first zone, where the
    stock condor_annex launches (it names no subnet). The central manager's security group lets the subnet reach its
    HTCondor port: the annex nodes, and the connectivity check, which the rig runs on this machine (the subnet's
    gateway). The controller reaches the nodes over SSH from that gateway too, so it is the setup's SSH allow-list."""

    def __init__(self, moto, region, vpc_cidr, subnet_cidr, home, prefix, inventory_path, cm_cluster, checkip_url):
        import boto3

        self.moto, self.region, self.prefix, self.inventory = moto, region, prefix, inventory_path
        self.home, self.checkip_url = home, checkip_url
        self.condor_dir = os.path.join(home, ".condor")
        self.key_path = os.path.join(self.condor_dir, "HTCondorAnnex-KeyPair_ed25519")
        session = boto3.session.Session(aws_access_key_id=moto.credentials["aws_access_key_id"],
                                        aws_secret_access_key=moto.credentials["aws_secret_access_key"])

        def client(name):
            return session.client(name, endpoint_url=moto.url, region_name=region)

        self.ec2, self.s3, self.events, self.cfn = client("ec2"), client("s3"), client("events"), client("cloudformation")
        if vpc_cidr is None:
            default = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]},
                                                         {"Name": "availability-zone", "Values": [f"{region}a"]}])
            found = default["Subnets"][0]
            self.vpc, self.subnet, self.subnet_cidr = found["VpcId"], found["SubnetId"], found["CidrBlock"]
        else:
            self.vpc = self.ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
            self.subnet = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
            self.subnet_cidr = subnet_cidr
        self.gateway = gateway(self.subnet_cidr)
        self.cm_group = self.ec2.create_security_group(
            GroupName=f"{prefix}-central-manager", Description="HTCondor from the subnet", VpcId=self.vpc)["GroupId"]
        self.ec2.authorize_security_group_ingress(GroupId=self.cm_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 9618, "ToPort": 9618, "IpRanges": [{"CidrIp": self.subnet_cidr}]}])
        self.image = self.ec2.register_image(Name=f"debian-13-amd64-{prefix}", RootDeviceName="/dev/xvda",
                                             Architecture="x86_64")["ImageId"]
        # The central manager: an instance of another cluster in the same subnet, tagged with the role that the
        # local cloud's inventory groups it by.
        cm = self.ec2.run_instances(
            ImageId=self.image, MinCount=1, MaxCount=1, InstanceType="t3.medium", SubnetId=self.subnet,
            SecurityGroupIds=[self.cm_group], TagSpecifications=[{"ResourceType": "instance", "Tags": [
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

    def user_vars(self):
        """What the user tells the playbooks about their pool and account (inventory or -e)."""
        return {
            "htcondor_central_manager": self.cm_ip,
            "htcondor_annex_setup_central_manager_cidrs": [f"{self.cm_ip}/32"],
            # The controller reaches the nodes from the subnet's gateway (the local cloud filters by security group).
            "htcondor_annex_setup_ssh_allowlist": [f"{self.gateway}/32"],
            "htcondor_annex_setup_vpc_id": self.vpc,
            "htcondor_annex_ami": self.image,
            "htcondor_annex_subnet_id": self.subnet,
        }

    def user_key(self):
        """The restricted user's key as a user's environment holds it: from the files the collection wrote to the
        user's condor dir (condor_annex's publicKeyFile and privateKeyFile)."""
        read = {name: open(os.path.join(self.condor_dir, name)).read().strip()
                for name in ("publicKeyFile", "privateKeyFile")}
        return {"AWS_ACCESS_KEY_ID": read["publicKeyFile"], "AWS_SECRET_ACCESS_KEY": read["privateKeyFile"]}

    def playbook(self, name, extra, json_output=False, timeout=1800, wrapper=(), env=None):
        """playbooks/<name> with this world's inventory, the user's variables plus extra, and a user's environment
        (plus env); wrapper is a command that runs the ansible-playbook command line it is given (a measurement)."""
        environment = dict(playbook_env(self.moto, json_output, self.region, self.home, self.checkip_url), **(env or {}))
        return subprocess.run([*wrapper, "ansible-playbook", "-i", self.inventory, os.path.join("playbooks", name),
                               "-e", json.dumps(dict(self.user_vars(), **extra))], cwd=REPO_ROOT, env=environment,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def setup_outputs(self):
        """The four stacks' outputs, by stack kind."""
        return {kind: {o["OutputKey"]: o["OutputValue"] for o in self.cfn.describe_stacks(StackName=name)[
            "Stacks"][0].get("Outputs", [])} for kind, name in STACKS.items()}

    @property
    def bucket(self):
        return self.setup_outputs()["bucket"]["BucketName"]

    @property
    def function_arn(self):
        return self.setup_outputs()["lambda"]["OdiLeaseFunctionArn"]

    @property
    def profile(self):
        return self.setup_outputs()["profile"]["InstanceProfileArn"]

    def annex_states(self, name):
        found = self.ec2.describe_instances(Filters=[{"Name": "tag:htcondor:AnnexName", "Values": [name]}])
        return {i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}

    def annex_slots(self, name):
        """Name and Machine of the annex's slots in condor_status on the central manager."""
        found = self.on_cm("condor_status", "-constraint", f'AnnexName == "{name}" && IsAnnex', "-af", "Name",
                           "Machine", check=False)
        return set(found.stdout.split("\n")) - {""} if found.returncode == 0 else set()
