# -*- coding: utf-8 -*-
"""A stand-in Spark download server on this machine, reachable from the project's containers.

Nodes fetch Spark themselves (cloudburst.aws.spark, spark_download_on: node), so in the local cloud and in
molecule the archive must be served at an address the containers reach: the gateway of their podman
network, which is this machine's own address on that network's bridge. Nothing else can reach it. The
server binds with IP_FREEBIND, so it can start before podman brings the bridge (and so the address) up.
Every request is recorded (client address, method, path, status, bytes sent), so tests can tell who
downloaded what: the node (its own address) or the controller (the gateway address).

    tools/rig-python -m rig.fake_spark_mirror --subnet 10.171.0.0/24 --dir .build/cache
    tools/rig-python -m rig.fake_spark_mirror --network cloudburst --dir DIR [--port N] [--log FILE]
    tools/rig-python -m rig.fake_spark_mirror --bind 10.171.0.1 --dir DIR

prints the base URL (http://10.171.0.1:PORT/) on its first line of output and serves DIR until it is
stopped. An unspecified address (0.0.0.0, ::) is refused.

build_mirror() writes the molecule scenario's stand-in of Apache's tree: small archives in the official
layout with .sha512 files in the gpg --print-md format Apache uses; spark-4.0.1 with its right checksum and
spark-4.0.2 whose published checksum is wrong.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import io
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading

from rig import LocalHTTPServer

# Linux's IP_FREEBIND (socket.IP_FREEBIND exists only from Python 3.12).
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
# The podman network of molecule's hosts (the local_hosts role's default, made by make setup).
SCENARIO_NETWORK = "cloudburst"


def gateway(subnet):
    """The address podman gives the bridge of a network created with this subnet: its first host."""
    return str(next(ipaddress.ip_network(subnet).hosts()))


def network_gateway(name):
    """The gateway (IPv4) of an existing podman network."""
    proc = subprocess.run(["podman", "network", "inspect", name], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ValueError(f"no podman network {name} (make setup creates cloudburst): {proc.stderr.strip()}")
    for subnet in json.loads(proc.stdout)[0].get("subnets") or []:
        if ipaddress.ip_network(subnet["subnet"]).version == 4 and subnet.get("gateway"):
            return subnet["gateway"]
    raise ValueError(f"podman network {name} has no IPv4 gateway")


class _FreeBindServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        super().server_bind()


class SparkMirror(LocalHTTPServer):
    """Serves a directory on one given address (a free port unless given), recording every request."""

    def __init__(self, directory, bind="127.0.0.1", port=0, log_path=None):
        address = ipaddress.ip_address(bind)
        if address.is_unspecified or address.version != 4:
            raise ValueError(f"bind to one IPv4 address of this machine (a podman gateway), not {bind}")
        self.requests = []  # dicts: client, method, path, status, bytes
        self.log_path = log_path
        self._lock = threading.Lock()
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            sent = 0

            def send_response(self, code, message=None):
                self.status = code
                super().send_response(code, message)

            def copyfile(self, source, outputfile):
                while chunk := source.read(1 << 20):
                    outputfile.write(chunk)
                    self.sent += len(chunk)

            def do_GET(self):  # noqa: N802 (the stdlib's name)
                super().do_GET()
                mirror.record(self)

            def do_HEAD(self):  # noqa: N802 (the stdlib's name)
                super().do_HEAD()
                mirror.record(self)

            def log_message(self, *args):
                pass

        self._httpd = _FreeBindServer((bind, port), functools.partial(Handler, directory=directory))
        self.url = f"http://{bind}:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def record(self, handler):
        entry = {"client": handler.client_address[0], "method": handler.command, "path": handler.path,
                 "status": getattr(handler, "status", None), "bytes": handler.sent}
        with self._lock:
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, "a") as stream:
                    stream.write(json.dumps(entry) + "\n")

    def bytes_sent(self):
        with self._lock:
            return sum(entry["bytes"] for entry in self.requests)


def _archive(version):
    top = f"spark-{version}-bin-hadoop3"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content, mode in ((f"{top}/RELEASE", f"Spark {version} (test stand-in)\n", 0o644),
                                    (f"{top}/bin/spark-class", "#!/bin/sh\nexit 0\n", 0o755),
                                    (f"{top}/conf/.keep", "", 0o644)):
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _gpg_format(name, digest):
    groups = " ".join(digest.upper()[i:i + 8] for i in range(0, 128, 8))
    return f"{name}: {groups[:71]}\n{' ' * (len(name) + 2)}{groups[72:]}\n"


def build_mirror(root):
    for version, tamper in (("4.0.1", False), ("4.0.2", True)):
        directory = os.path.join(root, "spark", f"spark-{version}")
        os.makedirs(directory, exist_ok=True)
        name = f"spark-{version}-bin-hadoop3.tgz"
        data = _archive(version)
        with open(os.path.join(directory, name), "wb") as stream:
            stream.write(data)
        digest = hashlib.sha512(data + (b"tampered" if tamper else b"")).hexdigest()
        with open(os.path.join(directory, name + ".sha512"), "w") as stream:
            stream.write(_gpg_format(name, digest))


def scenario_env():
    """Start the spark_download scenario's stand-in mirror on the gateway of molecule's network; return the
    scenario's environment: the mirror's URL and its request log."""
    root = tempfile.mkdtemp(prefix="cloudburst-mirror-")
    build_mirror(root)
    log_path = os.path.join(root, "requests.jsonl")
    mirror = SparkMirror(root, bind=network_gateway(SCENARIO_NETWORK), log_path=log_path).start()
    return {"CLOUDBURST_SPARK_MIRROR": mirror.url + "spark", "CLOUDBURST_SPARK_MIRROR_LOG": log_path}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bind", help="address to serve on (a podman network's gateway)")
    where.add_argument("--subnet", help="serve on the gateway of the podman network with this CIDR (its first host;"
                       " the network may not exist yet, as a local cloud subnet's before its first instance)")
    where.add_argument("--network", help="serve on the gateway of this existing podman network")
    parser.add_argument("--dir", required=True, help="directory to serve")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--log", help="append every request to this file as JSON lines")
    args = parser.parse_args()
    if not os.path.isdir(args.dir):
        parser.error(f"--dir {args.dir} is not a directory")
    try:
        bind = args.bind or (gateway(args.subnet) if args.subnet else network_gateway(args.network))
        mirror = SparkMirror(os.path.abspath(args.dir), bind=bind, port=args.port, log_path=args.log)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    print(mirror.url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        mirror._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        mirror._httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
