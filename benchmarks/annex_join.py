#!/usr/bin/env python
"""Benchmark: how fast an annex node joins the pool, and how close idle shutdown comes to its setting.

Builds a central manager and one annex node as systemd podman containers (made by the rig's local_hosts role,
tests/roles/local_hosts, the one container creator) with playbooks/htcondor_pool.yml,
then measures (a) seconds from starting condor on the annex node to its slot appearing in condor_status on
the central manager, over several restarts, and (b) seconds from condor starting to condor stopping by
itself with an idle time of --idle seconds. Targets: join within 30 s; idle shutdown within 10 % of the
setting.

    tools/rig-python benchmarks/annex_join.py [--joins 5] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# The rig (tests/rig): the benchmarks run through tools/rig-python, which puts tests/ on PYTHONPATH.
from rig import localcloud

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CM, NODE = "bench-condor-cm", "bench-condor-annex"


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def converge(inventory, env, **extra):
    proc = subprocess.run(["ansible-playbook", "-i", inventory, "-e", json.dumps(extra),
                           "playbooks/htcondor_pool.yml"], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(proc.stdout[-4000:])


def monotonic_of(unit_property):
    return int(sh("podman", "exec", NODE, "systemctl", "show", "condor", "-p", unit_property, "--value").stdout) / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=5)
    parser.add_argument("--idle", type=int, default=60)
    args = parser.parse_args()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    inventory = os.path.join(tempfile.mkdtemp(prefix="cloudburst-annex-bench-"), "inventory.json")
    with open(inventory, "w") as stream:
        json.dump({"all": {"vars": {"ansible_connection": "containers.podman.podman",
                                    "ansible_python_interpreter": "/usr/bin/python3",
                                    "annex_shutdown_action": "stop", "annex_name": "bench-annex"},
                           "children": {"htcondor_central_manager": {"hosts": {CM: {}}},
                                        "htcondor_submit": {"hosts": {CM: {}}},
                                        "htcondor_annex": {"hosts": {NODE: {}}}}}}, stream)
    try:
        localcloud.local_hosts([{"name": CM}, {"name": NODE}], labels={"owner": "cloudburst-benchmark"})
        converge(inventory, env)
        joins = []
        for attempt in range(args.joins):
            sh("podman", "exec", NODE, "systemctl", "stop", "condor")
            while sh("podman", "exec", CM, "condor_status", "-af", "Machine").stdout.strip():
                time.sleep(0.5)  # wait until the old ad is gone
            started = time.monotonic()
            sh("podman", "exec", NODE, "systemctl", "start", "condor")
            while NODE not in sh("podman", "exec", CM, "condor_status", "-af", "Machine").stdout:
                time.sleep(0.25)
            joins.append(time.monotonic() - started)
        print(f"join: {len(joins)} restarts, seconds from starting condor to the slot in condor_status:")
        print(f"  min {min(joins):.1f}  median {statistics.median(joins):.1f}  max {max(joins):.1f} "
              f"(target 30): {'met' if max(joins) <= 30 else 'NOT met'}")

        converge(inventory, env, annex_idle_seconds=args.idle)
        sh("podman", "exec", NODE, "systemctl", "restart", "condor")
        while sh("podman", "exec", NODE, "systemctl", "is-active", "condor", check=False).stdout.strip() == "active":
            time.sleep(1)
        idle = monotonic_of("ExecMainExitTimestampMonotonic") - monotonic_of("ExecMainStartTimestampMonotonic")
        error = (idle - args.idle) / args.idle
        print(f"idle shutdown: setting {args.idle} s, measured {idle:.1f} s ({error:+.1%}) "
              f"(target within 10 %): {'met' if abs(error) <= 0.10 else 'NOT met'}")
    finally:
        localcloud.local_hosts([{"name": CM}, {"name": NODE}], state="absent")


if __name__ == "__main__":
    main()
