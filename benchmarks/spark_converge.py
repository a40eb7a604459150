#!/usr/bin/env python
"""Benchmark: converge time of playbooks/spark_cluster.yml with 1, 2 and 4 workers, and of a no-change re-run.

Hosts are fresh systemd podman containers from the local trixie image (tools/build-image), made by
the rig's local_hosts role (tests/roles/local_hosts, the one container creator), reached over
SSH with pipelining as real instances are (a key and known_hosts made for the run); the archive is the one
tools/build-spark-archive builds. Targets: 4 workers take at most 1.5x the time of 1 worker; a
no-change re-run takes at most a third of a first converge.

    tools/rig-python benchmarks/spark_converge.py [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# The rig (tests/rig): the benchmarks run through tools/rig-python, which puts tests/ on PYTHONPATH.
from rig import localcloud

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BENCHMARK_LABELS = {"owner": "cloudburst-benchmark"}


def sh(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def cpu_busy_seconds():
    """Busy CPU time of the whole machine (controller and every container), from /proc/stat."""
    with open("/proc/stat") as stream:
        fields = [int(value) for value in stream.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def playbook(path, inventory, extra, env, log=None):
    """Run one converge; return its wall time, its changed count and the machine's busy CPU seconds."""
    started, busy = time.monotonic(), cpu_busy_seconds()
    proc = subprocess.run(["ansible-playbook", "-i", inventory, "-e", f"@{extra}", path], env=env,
                          capture_output=True, text=True, check=False)
    if log:
        with open(log, "w") as stream:
            stream.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f"{path} failed:\n{proc.stdout[-4000:]}")
    changed = sum(int(part.split("=")[1]) for part in proc.stdout.split() if part.startswith("changed="))
    return time.monotonic() - started, changed, cpu_busy_seconds() - busy


def write_ssh_inventory(path, names, workdir):
    """Let the controller in as root over SSH, with each container's own host key known."""
    key = os.path.join(workdir, "id_ed25519")
    if not os.path.exists(key):
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
    known_hosts, hosts = [], {}
    for name in names:
        sh(["podman", "exec", name, "mkdir", "-m", "0700", "-p", "/root/.ssh"])
        sh(["podman", "cp", key + ".pub", f"{name}:/root/.ssh/authorized_keys"])
        address = sh(["podman", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                      name]).stdout.strip()
        host_key = sh(["podman", "exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()[:2]
        known_hosts.append(f"{address} {' '.join(host_key)}")
        hosts[name] = {"ansible_host": address}
    with open(os.path.join(workdir, "known_hosts"), "w") as stream:
        stream.write("\n".join(known_hosts) + "\n")
    ssh_args = f"-o UserKnownHostsFile={workdir}/known_hosts -o StrictHostKeyChecking=yes"
    with open(path, "w") as stream:
        json.dump({"all": {"vars": {"ansible_connection": "ssh", "ansible_user": "root",
                                    "ansible_ssh_private_key_file": key, "ansible_ssh_common_args": ssh_args,
                                    "ansible_python_interpreter": "/usr/bin/python3"},
                           "children": {"spark_master": {"hosts": {names[0]: hosts[names[0]]}},
                                        "spark_workers": {"hosts": {n: hosts[n] for n in names[1:]}}}}}, stream)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--log-dir", help="keep each run's output here, with per-task times (profile_tasks)")
    args = parser.parse_args()
    archive = sh([os.path.join(ROOT, "tools", "build-spark-archive")]).stdout.strip().splitlines()[-1]
    digest = open(archive + ".sha512").read().split()[0]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    workdir = tempfile.mkdtemp(prefix="cloudburst-spark-bench-")
    extra = os.path.join(workdir, "vars.json")
    with open(extra, "w") as stream:
        json.dump({"spark_archive_src": archive, "spark_archive_checksum": f"sha512:{digest}",
                   "spark_auth_secret_file": os.path.join(workdir, "secret"), "spark_worker_cores": 1,
                   "spark_worker_memory": "1g"}, stream)
    rows = []
    for count in args.workers:
        names = ["bench-spark-master"] + [f"bench-spark-worker-{i}" for i in range(1, count + 1)]
        inventory = os.path.join(workdir, f"inventory-{count}.json")
        try:
            localcloud.local_hosts([{"name": name} for name in names], labels=BENCHMARK_LABELS)
            write_ssh_inventory(inventory, names, workdir)
            logs = [os.path.join(args.log_dir, f"{count}-{run}.log") if args.log_dir else None
                    for run in ("first", "again")]
            first, first_changed, first_cpu = playbook("playbooks/spark_cluster.yml", inventory, extra, env, logs[0])
            again, again_changed, _again_cpu = playbook("playbooks/spark_cluster.yml", inventory, extra, env, logs[1])
            rows.append((count, first, first_changed, again, again_changed, first_cpu))
            print(f"{count} worker(s): first converge {first:.1f} s, no-change re-run {again:.1f} s", flush=True)
        finally:
            localcloud.local_hosts([{"name": name} for name in names], state="absent")
    cores = os.cpu_count()
    print(f"\n{'workers':>7} {'converge s':>11} {'changed':>8} {'re-run s':>9} {'changed':>8} {'re-run/first':>13}"
          f" {'CPU s':>7} {'CPU busy':>9}")
    for count, first, first_changed, again, again_changed, cpu in rows:
        print(f"{count:>7} {first:>11.1f} {first_changed:>8} {again:>9.1f} {again_changed:>8} {again / first:>13.2f}"
              f" {cpu:>7.1f} {cpu / (first * cores):>9.0%}")
    print(f"(CPU s: busy CPU seconds of the whole machine during the first converge, {cores} cores shared by the "
          f"controller and every container)")
    by_count = {row[0]: row for row in rows}
    if 1 in by_count and 4 in by_count:
        ratio = by_count[4][1] / by_count[1][1]
        print(f"\n4 workers / 1 worker: {ratio:.2f} (target at most 1.5): {'met' if ratio <= 1.5 else 'NOT met'}")
        # Wall time can never be less than the CPU work divided by the cores that share it.
        floor = by_count[4][5] / cores / by_count[1][1]
        print(f"lowest 4/1 ratio this machine allows for the CPU work measured with 4 workers "
              f"({by_count[4][5]:.0f} CPU s / {cores} cores / {by_count[1][1]:.1f} s): {floor:.2f}")
    worst = max(row[3] / row[1] for row in rows)
    print(f"worst re-run / first converge: {worst:.2f} (target at most 0.33): {'met' if worst <= 1 / 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
