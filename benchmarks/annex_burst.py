#!/usr/bin/env python
"""Benchmark: seconds from launching an annex of N nodes to N slots in condor_status, and controller CPU per node.

On a moto server of its own and the local cloud (tests/rig/localcloud.py), with a central manager that is itself a
local-cloud instance configured by playbooks/htcondor_pool.yml and the account set up as a user does it
(playbooks/iam_restricted_user.yml, then playbooks/annex_setup.yml), it runs playbooks/annex_launch.yml for N = 1, 2 and 4 (each a new annex, terminated with
playbooks/annex_terminate.yml before the next) and measures:

- seconds from starting the launch playbook to N slots of that annex in condor_status on the central manager;
- the controller's CPU for each launch: user + system seconds of ansible-playbook's whole process tree (its forks,
  ssh and podman clients; the ssh masters it leaves are closed and counted), measured by benchmarks/spark_ec2.py's
  --measure mode; the local cloud's container work (what EC2 does) is not in it;
- the controller CPU per added node, from the difference between the largest and the smallest N.

Container boot and the apt install of condor on each node are part of the time, as on EC2 (seed 000 reported
"about three minutes" for real EC2 nodes to join; context only). The machine's load average is printed with each
row: on a shared machine the figures move with it.

    flock /tmp/cloudburst-heavy.lock tools/rig-python benchmarks/annex_burst.py [--sizes 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

# The rig (tests/rig): the benchmarks run through tools/rig-python, which puts tests/ on PYTHONPATH.
import rig
from rig import localcloud
from rig.annex_world import AnnexWorld

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REGION = "eu-north-1"
VPC_CIDR = "10.151.0.0/16"
SUBNET_CIDR = "10.151.1.0/24"
MEASURE = os.path.join(ROOT, "benchmarks", "spark_ec2.py")  # its --measure: one run's whole process tree


def measured_playbook(world, workdir, label, name, extra):
    """One playbook run under --measure: (wall s, CPU s, output), or exit with the output on failure."""
    run_dir = os.path.join(workdir, label)
    control_dir = os.path.join(run_dir, "cp")
    os.makedirs(control_dir)
    result_path, log_path = os.path.join(run_dir, "result.json"), os.path.join(run_dir, "output.log")
    world.playbook(name, extra, wrapper=[sys.executable, MEASURE, "--measure", result_path, control_dir, log_path, "--"],
                   env={"ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir}, timeout=3600)
    with open(log_path) as stream:
        output = stream.read()
    try:
        with open(result_path) as stream:
            result = json.load(stream)
    except (OSError, ValueError):
        result = {"rc": -1}
    if result["rc"] != 0:
        sys.exit(f"{name} for {label} failed:\n{output[-5000:]}")
    return result["wall"], result["cpu"], output


def launch(world, workdir, name, count):
    """The launch in a thread; condor_status polled every second until count slots of the annex are there."""
    outcome = {}
    started = time.monotonic()

    def run():
        try:
            outcome["run"] = measured_playbook(
                world, workdir, name, "annex_launch.yml", {"htcondor_annex_name": name, "htcondor_annex_count": count,
                                                           "htcondor_annex_idle_seconds": 900,
                                                           "htcondor_annex_lease_seconds": 3600})
        except SystemExit as failed:  # raised in this thread it would end the thread silently: keep its message
            outcome["failure"] = str(failed)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    joined = None
    while time.monotonic() - started < 3600:
        if len(world.annex_slots(name)) >= count:
            joined = time.monotonic() - started
            break
        if not thread.is_alive() and "run" not in outcome:
            break  # the launch failed: outcome["failure"] says why
        time.sleep(1)
    thread.join()
    if "run" not in outcome:
        sys.exit(outcome.get("failure", f"annex_launch.yml for {name} failed"))
    wall, cpu, _output = outcome["run"]
    if joined is None:
        sys.exit(f"annex {name}: {count} slot(s) never appeared in condor_status")
    return joined, wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cloudburst-annex-burst-")
    clusters = ["bench-pool"] + [f"annex-bench-n{n}" for n in args.sizes]
    rows = []
    with rig.MotoServer(log_path=os.path.join(workdir, "moto.log")) as moto, rig.CheckipServer() as checkip:
        moto.credentials = rig.bootstrap_credentials(moto.url)
        cloud = localcloud.LocalCloud(moto.url, REGION, moto.credentials["aws_access_key_id"],
                                      moto.credentials["aws_secret_access_key"],
                                      inventory_path=os.path.join(workdir, "inventory.json"),
                                      group_tags=["cloudburst:role"], clusters=clusters)
        cloud.start(interval=1.0)
        try:
            home = os.path.join(workdir, "home")
            os.makedirs(home)
            world = AnnexWorld(moto, REGION, VPC_CIDR, SUBNET_CIDR, home, "bench", cloud.inventory_path, "bench-pool",
                               checkip.url)
            world.configure_pool()
            # The account as seed 000 leaves it: the restricted user's key in the condor dir, then the setup.
            for playbook, extra in (("iam_restricted_user.yml", {
                    "iam_restricted_user_condor_dir": world.condor_dir, "iam_restricted_user_checkip_url": checkip.url}),
                    ("annex_setup.yml", {"htcondor_annex_setup_collector_host": world.cm_ip})):
                done = world.playbook(playbook, extra)
                if done.returncode != 0:
                    sys.exit(f"{playbook} failed:\n{(done.stdout + done.stderr)[-5000:]}")
            for count in args.sizes:
                name = f"bench-n{count}"
                load = os.getloadavg()[0]
                joined, wall, cpu = launch(world, workdir, name, count)
                rows.append((count, joined, wall, cpu, load, os.getloadavg()[0]))
                print(f"N={count}: {joined:.1f} s to {count} slot(s), launch playbook {wall:.1f} s, controller CPU "
                      f"{cpu:.1f} s (load average {load:.2f} before, {os.getloadavg()[0]:.2f} after)", flush=True)
                done = world.playbook("annex_terminate.yml", {"htcondor_annex_name": name})
                if done.returncode != 0:
                    sys.exit(f"annex_terminate.yml failed:\n{(done.stdout + done.stderr)[-4000:]}")
        finally:
            cloud.stop()
            cloud.clean()
    print(f"\n{os.cpu_count()} CPUs; load average is the 1-minute one before and after each launch.\n")
    print("| N | seconds to N slots | launch playbook s | controller CPU s | CPU s per node | load before / after |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for count, joined, wall, cpu, before, after in rows:
        print(f"| {count} | {joined:.1f} | {wall:.1f} | {cpu:.1f} | {cpu / count:.1f} | {before:.2f} / {after:.2f} |")
    small, large = rows[0], rows[-1]
    if large[0] > small[0]:
        print(f"\ncontroller CPU per added node (N={small[0]} to N={large[0]}): "
              f"{(large[3] - small[3]) / (large[0] - small[0]):.2f} s; "
              f"seconds to slots per added node: {(large[1] - small[1]) / (large[0] - small[0]):.1f} s")


if __name__ == "__main__":
    main()
