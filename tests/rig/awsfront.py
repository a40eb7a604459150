# -*- coding: utf-8 -*-
"""The rig's front that answers as AWS answers where moto is more lenient or does nothing.

Clients reach it as their endpoint (127.0.0.1). It forwards every request unchanged to its upstream (moto, or the
next front: fronts chain, each one an HTTP proxy with the same forwarding, tests/rig/faultproxy.py's) except where a
rule answers instead. Rules, each a callable (front, handler, body) -> (status, headers, data) or None:

- `one_time_spot_stop`: EC2 refuses StopInstances for an instance launched by a one-time spot request
  (UnsupportedOperation, nothing stopped); moto stops it. The front knows an instance's request type from the
  RunInstances calls it forwarded (InstanceMarketOptions.SpotOptions.SpotInstanceType, one-time by default) and,
  for the others, from moto's DescribeSpotInstanceRequests; an instance whose lifecycle is spot and that no
  persistent request launched is one-time.
- `run_instances_default_subnet`: EC2 launches an instance that names no subnet into the default subnet of its zone
  (of the region's first zone without one), at one of that subnet's addresses, and refuses security groups of
  another VPC (InvalidParameter); moto gives such an instance an address outside every subnet, which no network
  can hold. The front names the default subnet in the request, as EC2 chooses it, or answers EC2's refusal. (The
  stock condor_annex launches without a subnet.)
- `rule_descriptions_return`: EC2 answers UpdateSecurityGroupRuleDescriptionsIngress and ...Egress with
  `<return>true</return>`; moto answers an empty result, and amazon.aws's ec2_security_group, which reads
  `Return` when it puts back a rule's description, fails with a KeyError. The front adds what EC2 says.
- `lambda_invoke`: Invoke runs the function's code (tests/rig/lambdarun.py) and answers with what the handler returned,
  or with its error as X-Amz-Function-Error: Unhandled; InvocationType Event answers 202 and runs it after, DryRun
  204. moto cannot run code without Docker.

`answered` lists (rule name, detail) in order, for tests.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

from rig.faultproxy import forward, proxy_handler, read_body, send, upstream_of
from rig.lambdarun import LambdaRunError
from rig import LocalHTTPServer

EC2_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
             "<Message>{message}</Message></Error></Errors><RequestID>{request}</RequestID></Response>")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


def form(body):
    """A query-protocol request's parameters (EC2's): name -> value."""
    return {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}


def numbered(params, prefix):
    """The values of prefix.1, prefix.2, ... in order."""
    found = sorted((int(k[len(prefix) + 1:]), v) for k, v in params.items()
                   if k.startswith(prefix + ".") and k[len(prefix) + 1:].isdigit())
    return [v for _key, v in found]


def ec2_error(code, message):
    data = EC2_ERROR.format(code=code, message=message, request=uuid.uuid4()).encode()
    return 400, [("Content-Type", "text/xml;charset=UTF-8")], data


class AwsFront(LocalHTTPServer):
    """A front before upstream_url; rules default to every rule this module knows."""

    def __init__(self, upstream_url, admin_credentials, lambdas=None, rules=None):
        self.upstream = upstream_of(upstream_url)
        self.upstream_url = upstream_url
        self.credentials = admin_credentials
        self.lambdas = lambdas  # a LambdaRunner, for lambda_invoke
        self.rules = list(rules) if rules is not None else [
            one_time_spot_stop, run_instances_default_subnet, lambda_invoke, rule_descriptions_return]
        self.answered = []
        self.persistent_spot = set()  # instance ids that RunInstances launched from persistent spot requests
        self.lock = threading.Lock()
        self._serve(proxy_handler(self.handle))

    def handle(self, handler):
        body = read_body(handler)
        for rule in self.rules:
            answer = rule(self, handler, body)
            if isinstance(answer, bytes):
                body = answer  # the request as AWS would have taken it
            elif answer is not None:
                return send(handler, *answer)
        status, headers, data = forward(self.upstream, handler, body)
        if form(body).get("Action") == "RunInstances" and status == 200:
            self.note_run_instances(form(body), data)
        return send(handler, status, headers, data)

    def note(self, rule, detail):
        with self.lock:
            self.answered.append((rule, detail))

    def client(self, service, region):
        import boto3

        return boto3.client(service, endpoint_url=self.upstream_url, region_name=region,
                            aws_access_key_id=self.credentials["aws_access_key_id"],
                            aws_secret_access_key=self.credentials["aws_secret_access_key"])

    def note_run_instances(self, params, data):
        """Remember the instances a persistent spot RunInstances launched (moto keeps no record of the type)."""
        if params.get("InstanceMarketOptions.MarketType") != "spot":
            return
        if params.get("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time") != "persistent":
            return
        ids = [e.text for e in ET.fromstring(data).iter() if e.tag.endswith("instanceId")]
        with self.lock:
            self.persistent_spot.update(ids)


def region_of(handler):
    """The region a SigV4 request is signed for."""
    credential = handler.headers.get("Authorization", "").split("Credential=")[-1].split(",")[0]
    parts = credential.split("/")
    return parts[2] if len(parts) >= 4 else "us-east-1"


def one_time_spot_stop(front, handler, body):
    params = form(body)
    if params.get("Action") != "StopInstances":
        return None
    ids = numbered(params, "InstanceId")
    if not ids:
        return None
    ec2 = front.client("ec2", region_of(handler))
    try:
        found = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
    except Exception:  # noqa: BLE001 (unknown ids: moto answers as EC2 does)
        return None
    spot = [i["InstanceId"] for i in found if i.get("InstanceLifecycle") == "spot"]
    if not spot:
        return None
    requests = ec2.describe_spot_instance_requests(Filters=[{"Name": "instance-id", "Values": spot}])
    persistent = {r.get("InstanceId") for r in requests.get("SpotInstanceRequests", [])
                  if r.get("Type") == "persistent"}
    with front.lock:
        persistent |= front.persistent_spot
    one_time = [i for i in spot if i not in persistent]
    if not one_time:
        return None
    front.note("one_time_spot_stop", one_time)
    return ec2_error("UnsupportedOperation",
                     f"You can't stop the Spot Instance '{one_time[0]}' because it is associated with a one-time Spot "
                     "Instance request. You can only stop Spot Instances associated with persistent Spot Instance "
                     "requests.")


def run_instances_default_subnet(front, handler, body):
    """Returns the request with the default subnet named (bytes), EC2's refusal, or None."""
    params = form(body)
    if params.get("Action") != "RunInstances" or params.get("SubnetId") or any(
            k.startswith("NetworkInterface.") for k in params):
        return None
    ec2 = front.client("ec2", region_of(handler))
    zone = params.get("Placement.AvailabilityZone")
    filters = [{"Name": "default-for-az", "Values": ["true"]}] + (
        [{"Name": "availability-zone", "Values": [zone]}] if zone else [])
    subnets = sorted(ec2.describe_subnets(Filters=filters)["Subnets"], key=lambda s: s["AvailabilityZone"])
    if not subnets:
        return None  # no default VPC: EC2 would refuse, and so does moto (VPCIdNotSpecified)
    subnet = subnets[0]
    groups = numbered(params, "SecurityGroupId")
    if groups:
        found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
        other = [g["GroupId"] for g in found if g.get("VpcId") != subnet["VpcId"]]
        if other:
            front.note("run_instances_default_subnet", other)
            return ec2_error("InvalidParameter", f"Security group {other[0]} and subnet {subnet['SubnetId']} belong to "
                                                 "different networks.")
    front.note("run_instances_default_subnet", subnet["SubnetId"])
    return body + b"&" + urllib.parse.urlencode({"SubnetId": subnet["SubnetId"]}).encode()


def rule_descriptions_return(front, handler, body):
    if form(body).get("Action") not in ("UpdateSecurityGroupRuleDescriptionsIngress",
                                        "UpdateSecurityGroupRuleDescriptionsEgress"):
        return None
    status, headers, data = forward(front.upstream, handler, body)
    if status != 200 or b"<return>" in data:
        return status, headers, data
    closing = data.rstrip().rfind(b"</")
    front.note("rule_descriptions_return", form(body).get("GroupId"))
    return status, headers, data[:closing] + b"<return>true</return>" + data[closing:]


def lambda_invoke(front, handler, body):
    match = _INVOKE_PATH.match(urllib.parse.urlsplit(handler.path).path)
    if handler.command != "POST" or not match or front.lambdas is None:
        return None
    function = urllib.parse.unquote(match.group(1))
    kind = handler.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    event = json.loads(body or b"null")
    front.note("lambda_invoke", function)
    if kind == "DryRun":
        return 204, [], b""
    if kind == "Event":
        threading.Thread(target=_invoke, args=(front, function, event, region_of(handler)), daemon=True).start()
        return 202, [], b""
    try:
        invocation = front.lambdas.invoke(function, event, source="Invoke", region=region_of(handler))
    except LambdaRunError as error:
        data = json.dumps({"Type": "User", "message": str(error)}).encode()
        return 400, [("Content-Type", "application/json"), ("X-Amzn-ErrorType", "InvalidRuntimeException")], data
    headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
    if not invocation.ok:
        return 200, headers + [("X-Amz-Function-Error", "Unhandled")], json.dumps(invocation.error).encode()
    return 200, headers, json.dumps(invocation.result).encode()


def _invoke(front, function, event, region):
    try:
        front.lambdas.invoke(function, event, source="Invoke", region=region)
    except LambdaRunError as error:
        front.lambdas.log(f"{function}: {error}")
