#!/usr/bin/env python
"""Benchmark: AWS API calls and wall time to launch N = 1, 4 and 16 instances with the ec2_instances role on
moto, and to re-run it with no change.

The VPC, subnet, security group and image are made once with boto3; each N gets its own cluster name, so
each launch starts from zero. Calls are counted from moto's request recording. Targets: calls(16)/calls(1)
<= 1.5 (one RunInstances with a count, batched describes, no per-instance loop) and no write call on the
no-change re-run.

    tools/rig-python benchmarks/ec2_launch.py [--sizes 1 4 16]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

# The rig (tests/rig): the benchmarks run through tools/rig-python, which puts tests/ on PYTHONPATH.
import rig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REGION = "eu-west-1"
READS = ("Describe", "Get", "List")


def play(moto, cluster, count, world, workdir):
    return [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": moto.url, "region": REGION}},
        "tasks": [{"ansible.builtin.include_role": {"name": "cloudburst.aws.ec2_instances"}, "vars": {
            "ec2_instances_cluster": cluster, "ec2_instances_role": "worker", "ec2_instances_count": count,
            "ec2_instances_ami": world["image"], "ec2_instances_instance_type": "t3.micro",
            "ec2_instances_subnet_id": world["subnet"], "ec2_instances_security_group_ids": [world["group"]],
            "ec2_instances_wait_for_ssh": False,
            "ec2_instances_launch_records_file": os.path.join(workdir, "launched", f"{cluster}.json")}}],
    }]


def converge(moto, workdir, cluster, count, world):
    path = os.path.join(workdir, f"{cluster}-{count}.yml")
    with open(path, "w") as stream:
        json.dump(play(moto, cluster, count, world, workdir), stream)
    env = rig.clean_aws_environment(dict(os.environ))
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               AWS_ACCESS_KEY_ID=moto.credentials["aws_access_key_id"],
               AWS_SECRET_ACCESS_KEY=moto.credentials["aws_secret_access_key"])
    moto.reset_recording()
    started = time.monotonic()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), path],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    actions = moto.recorded_actions()
    return actions, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    import boto3

    with tempfile.TemporaryDirectory() as workdir:
        moto = rig.MotoServer(log_path=os.path.join(workdir, "moto.log"),
                              recording_path=os.path.join(workdir, "recording.jsonl")).start()
        try:
            moto.credentials = rig.bootstrap_credentials(moto.url)
            ec2 = boto3.client("ec2", endpoint_url=moto.url, region_name=REGION, **moto.credentials)
            vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
            world = {
                "subnet": ec2.create_subnet(VpcId=vpc, CidrBlock="10.70.0.0/20")["Subnet"]["SubnetId"],
                "group": ec2.create_security_group(GroupName="bench", Description="bench", VpcId=vpc)["GroupId"],
                "image": ec2.register_image(Name="debian-13-amd64-bench", RootDeviceName="/dev/xvda")["ImageId"],
            }
            rows = []
            for size in args.sizes:
                cluster = f"bench-{size}"
                launch, launch_time = converge(moto, workdir, cluster, size, world)
                rerun, rerun_time = converge(moto, workdir, cluster, size, world)
                rows.append((size, launch, launch_time, rerun, rerun_time))
        finally:
            moto.stop()

    print(f"{'N':>3} {'launch calls':>12} {'writes':>6} {'wall s':>7}   {'re-run calls':>12} {'writes':>6} {'wall s':>7}")
    for size, launch, launch_time, rerun, rerun_time in rows:
        writes = [a for a in launch if not a.split(':', 1)[-1].startswith(READS)]
        rerun_writes = [a for a in rerun if not a.split(':', 1)[-1].startswith(READS)]
        print(f"{size:>3} {len(launch):>12} {len(writes):>6} {launch_time:>7.1f}   {len(rerun):>12} "
              f"{len(rerun_writes):>6} {rerun_time:>7.1f}")
    for size, launch, _launch_time, rerun, _rerun_time in rows:
        print(f"N={size} launch: " + ", ".join(f"{a} x{n}" for a, n in collections.Counter(launch).most_common()))
        print(f"N={size} re-run: " + ", ".join(f"{a} x{n}" for a, n in collections.Counter(rerun).most_common()))
    first, last = rows[0], rows[-1]
    ratio = len(last[1]) / len(first[1])
    no_write_rerun = all(not [a for a in r[3] if not a.split(':', 1)[-1].startswith(READS)] for r in rows)
    print(f"calls({last[0]})/calls({first[0]}) = {ratio:.2f} (target <= 1.5): {'met' if ratio <= 1.5 else 'MISSED'}")
    print(f"no write call on any re-run: {'met' if no_write_rerun else 'MISSED'}")


if __name__ == "__main__":
    main()
