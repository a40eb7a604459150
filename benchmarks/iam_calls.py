#!/usr/bin/env python
"""Benchmark: AWS API calls and wall time to converge 20 restricted IAM users, and to re-run with no change.

Each user has 2 managed policies, 1 inline policy, a source IP restriction and one access key written to a
file. The same end state is reached once with cloudburst.aws's modules and once with amazon.aws's
iam_user / iam_policy / iam_access_key(_info), on the same moto server; calls are counted from moto's
request recording. Target: our no-change re-run makes at most half the calls of amazon.aws's.

    tools/rig-python benchmarks/iam_calls.py [--users 20]
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

MANAGED = ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
INLINE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
ALLOWLIST = ["203.0.113.0/24"]


def ours(users, workdir):
    return [
        {"cloudburst.aws.iam_user": {"name": "{{ item }}", "managed_policies": MANAGED,
                                     "inline_policies": {"read-objects": INLINE}, "source_ip_allowlist": ALLOWLIST},
         "loop": users},
        {"cloudburst.aws.iam_access_key": {"user_name": "{{ item }}", "dest": f"{workdir}/ours/{{{{ item }}}}"},
         "loop": users},
    ]


def amazon(users, workdir):
    restriction = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": ALLOWLIST}, "Bool": {"aws:ViaAWSService": "false"}}}]}
    return [
        {"amazon.aws.iam_user": {"name": "{{ item }}", "state": "present", "managed_policies": MANAGED},
         "loop": users},
        {"amazon.aws.iam_policy": {"iam_type": "user", "iam_name": "{{ item }}", "policy_name": "read-objects", "state": "present",
                                   "policy_json": json.dumps(INLINE)}, "loop": users},
        {"amazon.aws.iam_policy": {"iam_type": "user", "iam_name": "{{ item }}", "policy_name": "source-ip", "state": "present",
                                   "policy_json": json.dumps(restriction)}, "loop": users},
        # amazon.aws.iam_access_key makes a new key on every run without `id`, so ask first, as a user must.
        {"amazon.aws.iam_access_key_info": {"user_name": "{{ item }}"}, "loop": users, "register": "keys"},
        {"amazon.aws.iam_access_key": {"user_name": "{{ item.item }}", "state": "present"},
         "loop": "{{ keys.results }}", "when": "item.access_keys | length == 0", "register": "made", "no_log": True},
        {"ansible.builtin.copy": {
            "dest": f"{workdir}/amazon/{{{{ item.item.item }}}}", "mode": "0600",
            "content": "[default]\naws_access_key_id = {{ item.access_key_id }}\n"
                       "aws_secret_access_key = {{ item.secret_access_key }}\n"},
         "loop": "{{ made.results }}", "when": "item is not skipped", "no_log": True},
    ]


def converge(moto, tasks, env, workdir, name):
    playbook = os.path.join(workdir, f"{name}.yml")
    with open(playbook, "w") as stream:
        json.dump([{"hosts": "localhost", "gather_facts": False,
                    "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": moto.url,
                                                                     "region": rig.DEFAULT_REGION}},
                    "tasks": tasks}], stream)
    moto.reset_recording()
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", playbook], env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    changed = int(proc.stdout.rsplit("changed=", 1)[1].split()[0])
    return moto.recorded_actions(), elapsed, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cloudburst-bench-")
    for side in ("ours", "amazon"):
        os.makedirs(os.path.join(workdir, side), mode=0o700)
    env = rig.clean_aws_environment(dict(os.environ))
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + env["PATH"])
    with rig.MotoServer(recording_path=os.path.join(workdir, "recording.jsonl")) as moto:
        env.update(rig.aws_environment(moto.url, rig.bootstrap_credentials(moto.url)))
        rows = {}
        for side, build in (("cloudburst.aws", ours), ("amazon.aws", amazon)):
            users = [f"{side.split('.', maxsplit=1)[0]}-{i:02d}" for i in range(args.users)]
            for phase in ("converge", "no-change re-run"):
                rows[(side, phase)] = converge(moto, build(users, workdir), env, workdir, f"{side}-{phase[:2]}")
    print(f"{args.users} users, each with {len(MANAGED)} managed policies, 1 inline policy, "
          "an IP restriction and one key written to a file\n")
    print(f"{'phase':<18} {'':<15} {'AWS calls':>9} {'seconds':>8} {'changed':>8}")
    for (side, phase), (actions, elapsed, changed) in rows.items():
        print(f"{phase:<18} {side:<15} {len(actions):>9} {elapsed:>8.1f} {changed:>8}")
    print()
    for phase in ("converge", "no-change re-run"):
        ours_calls, amazon_calls = len(rows[("cloudburst.aws", phase)][0]), len(rows[("amazon.aws", phase)][0])
        ratio = ours_calls / amazon_calls if amazon_calls else float("nan")
        time_ratio = rows[("cloudburst.aws", phase)][1] / rows[("amazon.aws", phase)][1]
        print(f"{phase}: calls ours/amazon = {ours_calls}/{amazon_calls} = {ratio:.2f}; time ratio {time_ratio:.2f}")
    rerun_ratio = len(rows[("cloudburst.aws", "no-change re-run")][0]) / len(rows[("amazon.aws", "no-change re-run")][0])
    print(f"\ntarget (no-change re-run calls at most half of amazon.aws's): {'met' if rerun_ratio <= 0.5 else 'NOT met'}")
    for side in ("cloudburst.aws", "amazon.aws"):
        counts = collections.Counter(rows[(side, "no-change re-run")][0])
        print(f"\n{side} no-change re-run calls by action:")
        for action, count in counts.most_common():
            print(f"  {count:>5}  {action}")


if __name__ == "__main__":
    main()
