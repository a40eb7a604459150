#!/usr/bin/env python
"""Benchmark: seconds from launching an annex of N nodes to N slots in condor_status, and controller CPU per node.

On a moto server and the local cloud (tests/localcloud.py), with a central manager that is itself a local-cloud
instance configured by playbooks/htcondor_pool.yml, it runs playbooks/annex_launch.yml for N = 1, 2 and 4 (each a
new annex, terminated with playbooks/annex_terminate.yml before the next) and measures:

- seconds from starting the launch playbook to N slots of that annex in condor_status on the central manager;
- the controller's CPU (user + system of ansible-playbook and its children) for each launch, and per added node
  from the difference between the largest and the smallest N.

Container boot and the apt install of condor on each node are part of the time, as on EC2 (seed 000 reported
"about three minutes" for real EC2 nodes to join; context only).

    .venv/bin/python benchmarks/annex_burst.py [--sizes 1 2 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import localcloud  # noqa: E402
import rig  # noqa: E402
from annex_world import AnnexWorld  # noqa: E402

REGION = "eu-north-1"
VPC_CIDR = "10.151.0.0/16"
SUBNET_CIDR = "10.151.1.0/24"


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def launch(world, name, count):
    """Run the launch in a thread; poll condor_status until count slots of the annex appear."""
    outcome = {}
    cpu_before = children_cpu()
    started = time.monotonic()
    thread = threading.Thread(target=lambda: outcome.update(run=world.playbook(
        "annex_launch.yml", {"htcondor_annex_name": name, "htcondor_annex_count": count,
                             "htcondor_annex_idle_seconds": 900, "htcondor_annex_lease_seconds": 3600})))
    thread.start()
    joined = None
    while joined is None and (thread.is_alive() or time.monotonic() - started < 3600):
        if len(world.annex_slots(name)) >= count:
            joined = time.monotonic() - started
            break
        if not thread.is_alive() and outcome["run"].returncode != 0:
            break
        time.sleep(1)
    thread.join()
    run = outcome["run"]
    if run.returncode != 0:
        sys.exit(f"annex_launch.yml for {name} failed:\n{(run.stdout + run.stderr)[-5000:]}")
    return joined, time.monotonic() - started, children_cpu() - cpu_before


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cloudburst-annex-burst-")
    clusters = ["bench-pool"] + [f"annex-bench-n{n}" for n in args.sizes]
    with rig.MotoServer(log_path=os.path.join(workdir, "moto.log")) as moto:
        moto.credentials = rig.bootstrap_credentials(moto.url)
        cloud = localcloud.LocalCloud(moto.url, REGION, moto.credentials["aws_access_key_id"],
                                      moto.credentials["aws_secret_access_key"],
                                      inventory_path=os.path.join(workdir, "inventory.json"),
                                      group_tags=["cloudburst:role"], clusters=clusters)
        cloud.start(interval=1.0)
        try:
            world = AnnexWorld(moto, REGION, VPC_CIDR, SUBNET_CIDR, workdir, "bench", cloud.inventory_path,
                               "bench-pool")
            world.configure_pool()
            rows = []
            for count in args.sizes:
                name = f"bench-n{count}"
                joined, wall, cpu = launch(world, name, count)
                rows.append((count, joined, wall, cpu))
                print(f"N={count}: {joined:.1f} s to {count} slot(s), playbook {wall:.1f} s, controller CPU {cpu:.1f} s",
                      flush=True)
                done = world.playbook("annex_terminate.yml", {"htcondor_annex_name": name})
                if done.returncode != 0:
                    sys.exit(f"annex_terminate.yml failed:\n{(done.stdout + done.stderr)[-4000:]}")
        finally:
            cloud.stop()
            cloud.clean()
    print("\n| N | seconds to N slots | launch playbook s | controller CPU s |")
    print("| ---: | ---: | ---: | ---: |")
    for count, joined, wall, cpu in rows:
        print(f"| {count} | {joined:.1f} | {wall:.1f} | {cpu:.1f} |")
    small, cpu_small = rows[0][0], rows[0][3]
    large, cpu_large = rows[-1][0], rows[-1][3]
    if large > small:
        print(f"\ncontroller CPU per added node: {(cpu_large - cpu_small) / (large - small):.2f} s")


if __name__ == "__main__":
    main()
