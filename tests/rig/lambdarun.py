# -*- coding: utf-8 -*-
"""Lambda functions deployed in moto, run as Lambda would run them: the rig's stand-in for the Lambda service.

moto stores functions but runs none without Docker (and with `lambda.use_docker` false it answers Invoke with a
fixed text). The rig runs them itself, for the schedules that fire (tests/rig/schedules.py) and for Invoke calls that
reach the rig's front (tests/rig/awsfront.py):

- the code is the function's own: GetFunction names the S3 key of its package, and the object in moto's S3 under
  that key whose SHA-256 is the function's CodeSha256 is unpacked (a function made from a ZipFile upload has no
  such object and is refused by name);
- the runtime: python3.x functions run in a subprocess of this machine's Python (the rig's venv, with boto3 as in
  Lambda's Python runtimes); other runtimes are refused by name;
- the handler (module.function) gets the event (JSON) and a context with the function's name, ARN, memory,
  request id and remaining time; what it returns, or the error it raises, is the answer, as Invoke gives it;
- credentials are the function role's: the rig assumes the role through moto's STS (as Lambda assumes the execution
  role) and hands the session's key, secret and token to the subprocess, nothing of the rig's own; AWS_REGION and
  AWS_ENDPOINT_URL point boto3 in the handler at the rig's endpoint; the function's environment variables and
  Lambda's own (AWS_LAMBDA_FUNCTION_NAME, ...) are set, nothing else of this machine's environment;
- the function's Timeout ends the subprocess, as Lambda ends an invocation ("Task timed out after N seconds").

moto does not check the execution role's trust policy (lambda.amazonaws.com) when the rig assumes it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile

# Runs in the subprocess: imports the handler from the unpacked code and calls it with the event from stdin.
BOOTSTRAP = r"""
import importlib, json, os, sys, time, traceback
code, handler, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
sys.path.insert(0, code)
class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = os.environ["CLOUDBURST_LAMBDA_FUNCTION_ARN"]
    memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    aws_request_id = os.environ["CLOUDBURST_LAMBDA_REQUEST_ID"]
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "cloudburst-rig"
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.time()) * 1000))
event = json.loads(sys.stdin.read() or "null")
module_name, _, function_name = handler.rpartition(".")
try:
    result = getattr(importlib.import_module(module_name), function_name)(event, Context())
    answer = {"result": result}
except Exception as error:
    answer = {"error": {"errorMessage": str(error), "errorType": type(error).__name__,
                        "stackTrace": traceback.format_exc().splitlines()}}
sys.stdout.write("\n" + MARKER + json.dumps(answer, default=str) + "\n")
""".replace("MARKER", repr("CLOUDBURST-LAMBDA-ANSWER "))
MARKER = "CLOUDBURST-LAMBDA-ANSWER "


class LambdaRunError(Exception):
    """A function the rig cannot run (its code, runtime or role); the message says which."""


@dataclasses.dataclass
class Invocation:
    function: str           # the function's ARN
    event: object
    source: str             # who invoked it: a rule's or a schedule's ARN, or "Invoke"
    started: float
    seconds: float = 0.0
    result: object = None
    error: dict = None      # Lambda's error payload (errorMessage, errorType) when the handler failed
    logs: str = ""

    @property
    def ok(self):
        return self.error is None


class LambdaRunner:
    """Runs the functions of one moto endpoint, in any region (a function ARN names its own; region is the default
    for bare names). endpoint_url is where the handlers' boto3 goes (moto, or a front chained before it); moto_url
    is where the runner reads functions and code and assumes roles (moto itself)."""

    def __init__(self, moto_url, region, credentials, endpoint_url=None, log=None, python=sys.executable):
        import boto3

        self.moto_url, self.region = moto_url, region
        self.endpoint_url = endpoint_url or moto_url
        self.session = boto3.session.Session(aws_access_key_id=credentials["aws_access_key_id"],
                                             aws_secret_access_key=credentials["aws_secret_access_key"])
        self.python = python
        self.log = log or (lambda message: print(f"lambda: {message}", file=sys.stderr, flush=True))
        self.invocations = []
        self._code = {}  # CodeSha256 -> unpacked directory
        self._lock = threading.Lock()
        self._workdir = tempfile.mkdtemp(prefix="cloudburst-lambda-")

    def client(self, service, region=None):
        return self.session.client(service, endpoint_url=self.moto_url, region_name=region or self.region)

    # --- the function --------------------------------------------------------------------------------------

    def code_directory(self, name, response, region):
        """The function's package, unpacked: the S3 object under GetFunction's key whose digest is CodeSha256."""
        configuration, code = response["Configuration"], response.get("Code") or {}
        digest = configuration.get("CodeSha256")
        with self._lock:
            if digest in self._code:
                return self._code[digest]
        if code.get("RepositoryType") != "S3" or not code.get("Location"):
            raise LambdaRunError(f"function {name}: no S3 package to run (RepositoryType {code.get('RepositoryType')})")
        key = urllib.parse.urlsplit(code["Location"]).path.lstrip("/")
        s3 = self.client("s3", region)
        for bucket in s3.list_buckets().get("Buckets", []):
            try:
                data = s3.get_object(Bucket=bucket["Name"], Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                continue
            except Exception:  # noqa: BLE001 (another region's bucket, or none: look on)
                continue
            if base64.b64encode(hashlib.sha256(data).digest()).decode() == digest:
                target = os.path.join(self._workdir, hashlib.sha256(data).hexdigest())
                with zipfile.ZipFile(io.BytesIO(data)) as package:
                    package.extractall(target)
                with self._lock:
                    self._code[digest] = target
                return target
        raise LambdaRunError(f"function {name}: no object {key!r} with its CodeSha256 in moto's S3 (a function "
                             "made from a ZipFile upload cannot be run by the rig)")

    def role_credentials(self, name, role_arn, region):
        """The execution role's session credentials, as Lambda assumes the role for every invocation."""
        session = name[-64:] if len(name) >= 2 else f"{name}-lambda"
        answer = self.client("sts", region).assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        return answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]

    def environment(self, configuration, credentials, request_id, region):
        key, secret, token = credentials
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC",
               "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token,
               "AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ENDPOINT_URL": self.endpoint_url,
               "AWS_LAMBDA_FUNCTION_NAME": configuration["FunctionName"],
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
               "AWS_EXECUTION_ENV": f"AWS_Lambda_{configuration.get('Runtime')}",
               "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{configuration['FunctionName']}",
               "CLOUDBURST_LAMBDA_FUNCTION_ARN": configuration["FunctionArn"],
               "CLOUDBURST_LAMBDA_REQUEST_ID": request_id}
        env.update((configuration.get("Environment") or {}).get("Variables") or {})
        return env

    # --- running ---------------------------------------------------------------------------------------------

    def invoke(self, function, event, source="Invoke", region=None):
        """Run the function (name or ARN; a bare name in region, default the runner's) with event; returns the
        Invocation (result or error)."""
        if function.startswith("arn:"):
            region = function.split(":")[3]
        region = region or self.region
        response = self.client("lambda", region).get_function(FunctionName=function)
        configuration = response["Configuration"]
        runtime = configuration.get("Runtime") or ""
        if not runtime.startswith("python3"):
            raise LambdaRunError(f"function {function}: runtime {runtime!r} is not run by the rig (python3.x only)")
        code = self.code_directory(function, response, region)
        request_id = str(uuid.uuid4())
        credentials = self.role_credentials(configuration["FunctionName"], configuration["Role"], region)
        env = self.environment(configuration, credentials, request_id, region)
        timeout = int(configuration.get("Timeout") or 3)
        started = time.time()
        invocation = Invocation(configuration["FunctionArn"], event, source, started)
        try:
            argv = [self.python, "-c", BOOTSTRAP, code, configuration["Handler"], str(started + timeout)]
            proc = subprocess.run(argv, input=json.dumps(event), capture_output=True, text=True, env=env, cwd=code,
                                  timeout=timeout, check=False)
            out, invocation.logs = proc.stdout, proc.stderr
            exited = {"errorMessage": f"Runtime exited with error: exit status {proc.returncode}",
                      "errorType": "Runtime.ExitError"}
            answer = json.loads(out.rsplit(MARKER, 1)[1]) if MARKER in out else {"error": exited}
            invocation.logs = out.rsplit(MARKER, 1)[0] + invocation.logs
        except subprocess.TimeoutExpired as expired:
            answer = {"error": {"errorMessage": f"Task timed out after {timeout:.2f} seconds",
                                "errorType": "Sandbox.Timedout"}}
            invocation.logs = (expired.stdout or b"").decode("utf-8", "replace") if isinstance(expired.stdout, bytes) \
                else (expired.stdout or "")
        invocation.seconds = round(time.time() - started, 3)
        invocation.result, invocation.error = answer.get("result"), answer.get("error")
        with self._lock:
            self.invocations.append(invocation)
        outcome = "ok" if invocation.ok else f"{invocation.error['errorType']}: {invocation.error['errorMessage']}"
        self.log(f"{configuration['FunctionName']} for {source}: {outcome} ({invocation.seconds} s)")
        return invocation

    def ran(self, function=None, source=None):
        """The invocations so far (of one function, by name or ARN, and/or for one source)."""
        with self._lock:
            found = list(self.invocations)
        return [i for i in found if (function is None or i.function == function or i.function.endswith(":" + function))
                and (source is None or i.source == source)]
