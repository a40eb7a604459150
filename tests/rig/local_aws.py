# -*- coding: utf-8 -*-
"""Run a command against a local AWS endpoint (moto server) and a local checkip answer.

    tools/local-aws -- ansible-playbook playbooks/site.yml    # run, then stop both servers
    tools/local-aws                                          # write .build/local-aws.env, wait for Ctrl-C
    tools/local-aws --start                                  # the demo: servers and the local cloud in the
                                                             # background; `source .build/local-aws.env`
    tools/local-aws --start --spark-archive A --spark-mirror-subnet CIDR   # ... and A served to the nodes
    tools/local-aws --stop                                   # stop them: containers, networks, processes gone

It starts moto_server on a free 127.0.0.1 port with AWS managed policies loaded, waits until it
answers, creates an administrator user with a fresh access key in it, puts the rig's authorizing front
(tests/rig/authfront.py) before it, and exports CLOUDBURST_AWS_ENDPOINT_URL (the front; the playbooks pass it on
through module_defaults; AWS_ENDPOINT_URL is deliberately not set), AWS_REGION, CLOUDBURST_CHECKIP_URL and
CLOUDBURST_CREDENTIALS_HOME (.build/demo-home, where playbooks write credential files) to the command. The
administrator's key is profile cloudburst-local-admin of .build/local-aws.config (AWS_CONFIG_FILE, AWS_PROFILE);
AWS_SHARED_CREDENTIALS_FILE is .build/demo-home/.aws/credentials, where the demo writes the restricted user's
profile annex, so `AWS_PROFILE=annex` runs a command as that user. The front authorizes every request signed
with another key than the administrator's as IAM would, from the checkip answer's address. Both servers stop
when the command ends.

moto's images include a stand-in for Debian 13 amd64 owned by Debian's account (136693071363), so the
EC2 layer's default AMI look-up finds an image as it would on AWS; the local cloud runs every instance as
the local trixie image whatever its AMI.

With --start, one background process keeps moto, the checkip answer and the local cloud (tests/rig/localcloud.py:
every managed instance on this endpoint becomes a systemd container, filtered by its security groups) running
after this command returns, with the rig's front before moto (tests/rig/awsfront.py: the exported endpoint; it refuses
to stop one-time spot instances as EC2 does and runs functions on Invoke) and the region's schedules firing their
Lambda targets (tests/rig/schedules.py), so
that `make demo` launches the cluster through the EC2 layer and `make demo-clean` destroys it through the same
layer later. The exports go to .build/local-aws.env (mode 0600), the process id to .build/local-aws.pid and
its log to .build/local-aws.log. --start reuses a running one. With --spark-archive it also serves that archive
and its .sha512 file on the gateway of --spark-mirror-subnet's podman network, as Apache's mirror would serve
them, and exports the URL as CLOUDBURST_SPARK_DOWNLOAD_URL: the nodes download Spark themselves and check it
against the published checksum, so the controller never uploads the ~400 MB archive. --stop ends it: the local cloud's containers are
removed, the podman networks made for this endpoint's subnets are deleted, and both servers stop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import rig
from rig import authfront

BUILD = os.path.join(rig.REPO_ROOT, ".build")
ENV_FILE = os.path.join(BUILD, "local-aws.env")
PID_FILE = os.path.join(BUILD, "local-aws.pid")
LOG_FILE = os.path.join(BUILD, "local-aws.log")
AMIS_FILE = os.path.join(BUILD, "local-aws-amis.json")
# The administrator's key, as profile ADMIN_PROFILE of this AWS config file (AWS_CONFIG_FILE, AWS_PROFILE).
CONFIG_FILE = os.path.join(BUILD, "local-aws.config")
ADMIN_PROFILE = "cloudburst-local-admin"
# The stand-in for Debian's own Debian 13 image: what the ec2_instances role's default look-up asks for.
DEBIAN_STAND_IN = {
    "ami_id": "ami-0cb0d1a5de13a1d64",
    "name": "debian-13-amd64-20251001-0000",
    "owner_id": "136693071363",
    "description": "Stand-in for Debian 13 (trixie) amd64: the local cloud runs localhost/cloudburst-trixie",
    "architecture": "x86_64",
    "state": "available",
    "public": True,
    "image_type": "machine",
    "image_location": "136693071363/debian-13-amd64-20251001-0000",
    "root_device_type": "ebs",
    "root_device_name": "/dev/xvda",
    "virtualization_type": "hvm",
    "hypervisor": "xen",
    "sriov": "simple",
    "creation_date": "2025-10-01T00:00:00.000Z",
}


def write_images():
    """moto's own images plus the Debian stand-in, for MOTO_AMIS_PATH (which replaces moto's list)."""
    from moto.utilities.utils import load_resource

    images = [dict(image) for image in load_resource("ec2/resources/amis.json")]
    images.append(DEBIAN_STAND_IN)
    os.makedirs(BUILD, exist_ok=True)
    with open(AMIS_FILE, "w") as stream:
        json.dump(images, stream, default=str)
    return AMIS_FILE


def private_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(text)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def read_pid():
    try:
        with open(PID_FILE) as stream:
            pid = int(stream.read().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def admin_profile(credentials, region):
    """Write the rig administrator's key as profile ADMIN_PROFILE of a private AWS config file; return its path."""
    private_file(CONFIG_FILE, f"[profile {ADMIN_PROFILE}]\naws_access_key_id = {credentials['aws_access_key_id']}\n"
                 f"aws_secret_access_key = {credentials['aws_secret_access_key']}\nregion = {region}\n")
    return CONFIG_FILE


@contextlib.contextmanager
def local_aws(args):
    """moto, its administrator, the rig's answering front before it (tests/rig/awsfront.py: EC2's refusals, Invoke
    running code) with the region's schedules firing (tests/rig/schedules.py), the authorizing front before that and
    the checkip answer, for as long as the block runs: yields (front, credentials of the administrator, checkip,
    moto, schedules). Clients use the authorizing front; the local cloud reads moto itself."""
    with rig.MotoServer(log_path=args.moto_log) as moto, rig.CheckipServer([(200, args.checkip_answer + "\n", 0)]) as checkip:
        credentials = rig.bootstrap_credentials(moto.url)
        looker = rig.bootstrap_credentials(moto.url, user_name=rig.RIG_FRONT_USER)
        answers, schedules = answering_front(moto.url, credentials, rig.DEFAULT_REGION)
        try:
            # Requests signed with any key but the administrator's are authorized by IAM's rules
            # (tests/rig/authfront.py), from the address the checkip answer names.
            with authfront.AuthFront(answers.url, looker, lookup_url=moto.url,
                                     administrators=[rig.BOOTSTRAP_KEY_ID, credentials["aws_access_key_id"]],
                                     source_ip=args.checkip_answer, flow=flow_name()) as front:
                yield front, credentials, checkip, moto, schedules
        finally:
            schedules.stop()
            answers.stop()


def flow_name():
    """What the front records its decisions under: CLOUDBURST_AUTHFRONT_FLOW, else the pytest test that runs this
    (test_demo's `make demo`), else local-aws."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    return os.environ.get(authfront.FLOW_VARIABLE) or test or "local-aws"


def exports_for(front, credentials, checkip):
    exports = rig.aws_environment(front.url, credentials)
    # The administrator is a named profile, as a user's would be, and the playbooks write the restricted user's
    # profile (annex) into the credentials file below: `AWS_PROFILE=annex` runs anything as that user.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del exports[name]
    exports["AWS_CONFIG_FILE"] = admin_profile(credentials, exports["AWS_REGION"])
    exports["AWS_PROFILE"] = ADMIN_PROFILE
    exports["CLOUDBURST_CHECKIP_URL"] = os.environ.get("CLOUDBURST_CHECKIP_URL") or checkip.url
    # Credential files the playbooks write go here, never into the real ~/.condor or ~/.aws.
    home = os.environ.get("CLOUDBURST_CREDENTIALS_HOME") or os.path.join(BUILD, "demo-home")
    os.makedirs(home, mode=0o700, exist_ok=True)
    exports["CLOUDBURST_CREDENTIALS_HOME"] = home
    exports["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(home, ".aws", "credentials")
    # Cluster hosts are EC2 instances of the local cloud on this machine unless the caller says otherwise.
    exports["CLOUDBURST_HOSTS"] = os.environ.get("CLOUDBURST_HOSTS", "local")
    return exports


def file_sha512(path):
    import hashlib

    digest = hashlib.sha512()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def serve_spark_archive(archive, subnet):
    """Serve the archive and its .sha512 file on the gateway of the podman network for subnet (this machine's own
    address there, the only one the local cloud's instances reach besides the package mirrors), so that the nodes
    download Spark themselves as they would from Apache; return the archive's URL."""
    from rig import fake_spark_mirror

    root = os.path.join(BUILD, "spark-mirror")
    os.makedirs(root, exist_ok=True)
    for path in (archive, archive + ".sha512"):
        served = os.path.join(root, os.path.basename(path))
        if os.path.exists(served):
            os.unlink(served)
        os.link(path, served)  # the same file, not a copy of ~400 MB
    mirror = fake_spark_mirror.SparkMirror(root, bind=fake_spark_mirror.gateway(subnet)).start()
    return mirror.url + os.path.basename(archive)


def answering_front(moto_url, credentials, region):
    """The rig's front before moto (tests/rig/awsfront.py: EC2's refusals, Invoke running code) and the schedules that
    fire in region (tests/rig/schedules.py), both running. Returns (front, schedules). The functions' own calls go to
    this front, not through the authorizing one (a gap: their role's policies are not evaluated)."""
    from rig.awsfront import AwsFront
    from rig.lambdarun import LambdaRunner
    from rig.schedules import ScheduleRunner

    lambdas = LambdaRunner(moto_url, region, credentials)
    front = AwsFront(moto_url, credentials, lambdas=lambdas).start()
    lambdas.endpoint_url = front.url
    return front, ScheduleRunner(lambdas, region).start()


def serve(args):
    """The --start process: servers and the local cloud until SIGTERM, then everything it made is removed."""
    from rig import localcloud

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with local_aws(args) as (front, credentials, checkip, moto, schedules):
        exports = exports_for(front, credentials, checkip)
        if args.spark_archive:
            exports["CLOUDBURST_SPARK_DOWNLOAD_URL"] = serve_spark_archive(args.spark_archive, args.spark_mirror_subnet)
            # The digest too: the mirror is on the demo network's gateway, which exists only once the network does,
            # after spark_ec2 checks the release (as a user of a private mirror gives spark_archive_checksum).
            exports["CLOUDBURST_SPARK_ARCHIVE_CHECKSUM"] = "sha512:" + file_sha512(args.spark_archive)
        cloud = localcloud.LocalCloud.from_environment(
            dict(exports, CLOUDBURST_AWS_ENDPOINT_URL=moto.url,  # the local cloud reads moto itself
                 AWS_ACCESS_KEY_ID=credentials["aws_access_key_id"],
                 AWS_SECRET_ACCESS_KEY=credentials["aws_secret_access_key"]),
            inventory_path=os.path.join(BUILD, "local-cloud", "inventory.json"), group_tags=["cloudburst:role"])
        networks = set()
        private_file(ENV_FILE, "".join(f"export {name}={value}\n" for name, value in sorted(exports.items())))
        print(f"local-aws: moto server behind the rig's fronts at {front.url}; local cloud running", flush=True)
        cloud.start_filter(args.interval)  # security groups filter the containers' traffic
        try:
            while not stop.is_set():
                try:
                    cloud.reconcile()
                    # The networks the local cloud makes are named after this endpoint's subnets.
                    networks |= {localcloud.network_name(s["CidrBlock"]) for s in cloud.ec2.describe_subnets()["Subnets"]}
                except Exception as error:  # noqa: BLE001 (one bad pass must not end the demo's cloud)
                    print(f"local-aws: local cloud pass failed: {error}", flush=True)
                stop.wait(args.interval)
        finally:
            cloud.stop()
            print(f"local-aws: filter {cloud.filter_cost}, schedules {schedules.cost}", flush=True)
            removed = cloud.clean()
            print(f"local-aws: removed {len(removed)} container(s)", flush=True)
            for name in sorted(networks):
                proc = subprocess.run(["podman", "network", "rm", name], capture_output=True, text=True, check=False)
                if proc.returncode == 0:
                    print(f"local-aws: removed network {name}", flush=True)
            for path in (ENV_FILE, PID_FILE, CONFIG_FILE):
                if os.path.exists(path):
                    os.unlink(path)
    return 0


def start(args):
    if read_pid():
        print(f"local-aws: already running (pid {read_pid()}); `source {ENV_FILE}`", file=sys.stderr)
        return 0
    for path in (ENV_FILE, PID_FILE, CONFIG_FILE):
        if os.path.exists(path):
            os.unlink(path)
    argv = [sys.executable, "-m", __spec__.name, "--serve", "--checkip-answer", args.checkip_answer,
            "--moto-log", args.moto_log, "--interval", str(args.interval)]
    if args.spark_archive:
        argv += ["--spark-archive", os.path.abspath(args.spark_archive), "--spark-mirror-subnet", args.spark_mirror_subnet]
    with open(LOG_FILE, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=os.environ)
    private_file(PID_FILE, f"{proc.pid}\n")
    deadline = time.monotonic() + 120
    while not os.path.exists(ENV_FILE):
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"local-aws: the background servers did not start; see {LOG_FILE}", file=sys.stderr)
            if proc.poll() is None:
                proc.terminate()
            return 1
        time.sleep(0.2)
    print(f"local-aws: moto, checkip and the local cloud run in the background (pid {proc.pid}); "
          f"`source {ENV_FILE}`; `tools/local-aws --stop` ends them", file=sys.stderr)
    return 0


def stop_background(timeout=600):
    pid = read_pid()
    if not pid:
        print("local-aws: nothing runs in the background", file=sys.stderr)
        for path in (ENV_FILE, PID_FILE, CONFIG_FILE):
            if os.path.exists(path):
                os.unlink(path)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            print(f"local-aws: pid {pid} did not stop within {timeout} s; see {LOG_FILE}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"local-aws: stopped (pid {pid}); containers, networks and servers are gone", file=sys.stderr)
    return 0


def main():
    parser = argparse.ArgumentParser(prog="tools/local-aws", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkip-answer", default=rig.DEFAULT_CHECKIP_ANSWER,
                        help="the address the local checkip URL answers with (default %(default)s)")
    parser.add_argument("--moto-log", default=os.path.join(BUILD, "moto.log"))
    parser.add_argument("--start", action="store_true", help="run servers and the local cloud in the background")
    parser.add_argument("--stop", action="store_true", help="stop what --start runs and remove what it made")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between local cloud passes")
    parser.add_argument("--spark-archive", help="with --start: a Spark archive (with its .sha512 file beside it) that "
                        "the local cloud's nodes download, exported as CLOUDBURST_SPARK_DOWNLOAD_URL")
    parser.add_argument("--spark-mirror-subnet", help="the subnet whose podman network's gateway serves --spark-archive")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args()
    if args.spark_archive and not (args.spark_mirror_subnet and os.path.isfile(args.spark_archive)
                                   and os.path.isfile(args.spark_archive + ".sha512")):
        parser.error("--spark-archive needs --spark-mirror-subnet, the archive and its .sha512 file beside it")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    os.makedirs(os.path.dirname(args.moto_log), exist_ok=True)
    # moto reads its image list once, when it starts: its own images plus the Debian stand-in.
    os.environ["MOTO_AMIS_PATH"] = write_images()
    if args.stop:
        return stop_background()
    if args.start:
        return start(args)
    if args.serve:
        return serve(args)
    with local_aws(args) as (front, credentials, checkip, _moto, _schedules):
        exports = exports_for(front, credentials, checkip)
        env = rig.clean_aws_environment(dict(os.environ))
        env.update(exports)
        print(f"local-aws: moto server behind the authorizing front at {front.url}, checkip answer at "
              f"{exports['CLOUDBURST_CHECKIP_URL']}", file=sys.stderr)
        if not command:
            # Manual runs: the exports go to a private file rather than to the terminal.
            private_file(ENV_FILE, "".join(f"export {name}={value}\n" for name, value in sorted(exports.items())))
            print(f"local-aws: run `source {ENV_FILE}` in another shell; Ctrl-C here stops the servers",
                  file=sys.stderr)
            try:
                signal.pause()
            except KeyboardInterrupt:
                return 0
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
