# -*- coding: utf-8 -*-
"""The local test rig: a real moto server on 127.0.0.1 and a checkip-style answerer.

Used by the pytest fixtures (tests/conftest.py) and by the `tools/local-aws` command that the demo and
manual runs use. Nothing here talks to any address but 127.0.0.1.

The rest of the rig is this package's modules: the fronts (authfront, awsfront, tlsfront, faultproxy), the local
cloud (localcloud, sgfilter), what runs in its stead of AWS's services (schedules, lambdarun), the stand-in Spark
mirror, the hostile neighbour, the annex's world, and the commands local_aws and local_cloud. `import rig` works
wherever tests/ is on the path: pytest.ini's pythonpath for the tests, tools/rig-python for the tools and the
benchmarks (which run through it); no file changes sys.path.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REGION = "us-east-1"
RIG_ADMIN_USER = "cloudburst-rig-admin"
# The authorizing front's own user: it reads principals' policies and resources' tags with it (tests/rig/authfront.py).
RIG_FRONT_USER = "cloudburst-rig-front"

# Placeholder credentials used only for the first call that creates the rig's own IAM user and key in
# moto; every later call uses that generated key, so caller identity is a real moto user.
BOOTSTRAP_KEY_ID = "rig-bootstrap"
_BOOTSTRAP_CREDENTIALS = {"aws_access_key_id": BOOTSTRAP_KEY_ID, "aws_secret_access_key": "rig-bootstrap"}

# What the local checkip answerer says when asked: a globally routable address, as the real checkip gives,
# because public_ip_info refuses documentation, private and other non-global answers as the controller's
# address (documentation ranges stay fine in allow-list tests). 11.0.0.0/8 is allocated to the US DoD: it is
# no service of ours or of anyone the tests know. It is never contacted: the rig only writes it as text into
# HTTP answers and into IAM policies held by moto, which does not evaluate aws:SourceIp, and nothing here
# opens a connection to any address but 127.0.0.1.
DEFAULT_CHECKIP_ANSWER = "11.22.33.44"


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """moto in server mode as a child process on a free 127.0.0.1 port."""

    def __init__(self, port=None, log_path=None, recording_path=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        # moto's recorder appends every request it serves to this file; tests count AWS calls from it.
        self.recording_path = recording_path
        # Keys whose requests recorded_actions() leaves out: the rig's own look-ups (the authorizing front's).
        self.unrecorded_keys = set()
        self._process = None
        self._log = None

    def start(self, timeout=60):
        env = dict(os.environ)
        # AWS managed policies (AdministratorAccess, ...) exist in moto only when loaded explicitly.
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        if self.recording_path:
            env["MOTO_ENABLE_RECORDING"] = "true"
            env["MOTO_RECORDER_FILEPATH"] = self.recording_path
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url} within {timeout}s")

    def reset(self):
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def reset_recording(self):
        """Forget the requests recorded so far."""
        request = urllib.request.Request(f"{self.url}/moto-api/recorder/reset-recording", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def recorded_actions(self):
        """The AWS API actions served since the last reset_recording(), in order (e.g. "iam:CreateUser")."""
        if not self.recording_path or not os.path.exists(self.recording_path):
            return []
        with open(self.recording_path) as stream:
            entries = [json.loads(line) for line in stream if line.strip()]
        return [request_action(entry) for entry in entries
                if "/moto-api/" not in entry.get("url", "") and signing_key(entry) not in self.unrecorded_keys]

    def stop(self):
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def signing_key(entry):
    """The access key id that signed one request of moto's recording, or None."""
    headers = {name.lower(): value for name, value in entry.get("headers", {}).items()}
    match = re.search(r"Credential=([^/]+)/", headers.get("authorization", ""))
    return match.group(1) if match else None


def request_action(entry):
    """Name the API action of one request in moto's recording: "service:Action"."""
    import base64
    import urllib.parse

    headers = {name.lower(): value for name, value in entry.get("headers", {}).items()}
    credential = headers.get("authorization", "").split("Credential=")[-1].split(",")[0]
    service = credential.split("/")[3] if credential.count("/") >= 4 else "?"
    target = headers.get("x-amz-target")
    if target:
        return f"{service}:{target.split('.')[-1]}"
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    action = urllib.parse.parse_qs(body).get("Action") or urllib.parse.parse_qs(
        urllib.parse.urlsplit(entry.get("url", "")).query).get("Action")
    if action:
        return f"{service}:{action[0]}"
    return f"{service}:{entry.get('method')} {urllib.parse.urlsplit(entry.get('url', '')).path}"


def bootstrap_credentials(endpoint_url, region=DEFAULT_REGION, user_name=RIG_ADMIN_USER):
    """Create an administrator user with an access key in moto and return its credentials."""
    import boto3  # imported here so that the module can be loaded without boto3 for its HTTP helpers

    iam = boto3.client("iam", endpoint_url=endpoint_url, region_name=region, **_BOOTSTRAP_CREDENTIALS)
    iam.create_user(UserName=user_name)
    iam.attach_user_policy(UserName=user_name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def aws_environment(endpoint_url, credentials, region=DEFAULT_REGION):
    """Environment variables that point boto3, amazon.aws and our playbooks at the local endpoint."""
    return {
        # Only our playbooks read this, and hand it to modules through module_defaults. AWS_ENDPOINT_URL is
        # deliberately not set: botocore would honour it, and it hid a module_defaults group that never
        # reached the collection's own modules. Users have no such variable; neither do the tests.
        "CLOUDBURST_AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def clean_aws_environment(env):
    """Drop settings that could send a call to a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_URL", "EC2_URL", "S3_URL",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_EC2",
                 "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
    return env


class LocalHTTPServer:
    """A threaded HTTP server on 127.0.0.1 (port chosen by the system) that the rig's stand-ins share:
    start/stop and use as a context manager."""

    def _serve(self, handler, url_suffix=""):
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{url_suffix}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class CheckipServer(LocalHTTPServer):
    """A checkip-style HTTP server on 127.0.0.1 whose answer tests can change between requests.

    `answer` is a list of (status, body, delay_seconds) played in order; the last one repeats.
    """

    def __init__(self, answers=None):
        self.answers = list(answers or [(200, DEFAULT_CHECKIP_ANSWER + "\n", 0)])
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                index = min(server.requests, len(server.answers) - 1)
                server.requests += 1
                status, body, delay = server.answers[index]
                if delay:
                    time.sleep(delay)
                data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        self._serve(Handler, "/")

    def set_answers(self, answers):
        self.answers = list(answers)
        self.requests = 0
