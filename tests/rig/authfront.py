# -*- coding: utf-8 -*-
"""The authorizing front: between the modules and moto, it says no where IAM would.

moto does not evaluate IAM policies (its own access control ignores conditions and most resources), so without
this front every request of the restricted user succeeds. The front sits on 127.0.0.1 between the modules and
moto, as tests/rig/faultproxy.py does (and can stand before or behind it), and forwards requests unchanged (the
Host header too, so SigV4 signatures still match). For each request it reads the access key of the SigV4
credential scope, and:

- the rig's administrator (its bootstrap key and the key bootstrap_credentials made, plus sessions they asked
  for) passes through unmapped;
- a key moto does not know, or an inactive one, is refused as AWS refuses it (InvalidClientTokenId, AuthFailure,
  InvalidAccessKeyId, UnrecognizedClientException);
- any other key is a principal: its IAM user's inline, attached and group policies and its permissions boundary
  (read from moto with the administrator's key, per user call, cached per key until an IAM write goes through the
  front). authfront_map names the IAM action and every resource ARN AWS authorizes for the request, with the
  request's tags, the resources' tags (read from moto) and service keys; the front adds the global keys
  (aws:SourceIp from its source_ip setting, aws:SecureTransport false on http, aws:MultiFactorAuthPresent for
  sessions from GetSessionToken, the principal's keys, the time, the region, ...). Each authorization is decided
  by the collection's one evaluator (plugins/module_utils/policy_evaluation): an explicit Deny first, then an
  Allow, intersected with the boundary. A denial is answered in the service's own error format (EC2's
  UnauthorizedOperation, the query services' and S3's AccessDenied, the JSON services' AccessDeniedException)
  with AWS's message naming the principal, the action, the resource and why;
- an operation the map does not know, or a condition on a key the front does not model, is refused with a
  message that says so (AuthFrontUnmapped): for a restricted principal nothing passes unmapped.

Every decision is kept in `decisions` and, with a record directory, appended to a JSON-lines file there: the
flow (set by the tests per test, or CLOUDBURST_AUTHFRONT_FLOW), principal, action, resource type, effect and the
Allow statements (Sid and action pattern) that allowed it. tests/gates/least_privilege.py reads them.

moto gives every GetSessionToken session the same documentation key id; the front gives each session a key id
of its own in the answer (moto does not check signatures) and remembers whose it is and whether an MFA code
came with it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.server
import json
import os
import re
import secrets
import threading
import time
import urllib.parse

# The evaluator is the collection's own, imported as Ansible imports it: .build/collections is on the path (pytest.ini's
# pythonpath, tools/rig-python's PYTHONPATH).
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import matches
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate

from rig import DEFAULT_CHECKIP_ANSWER, LocalHTTPServer, authfront_map
from rig.faultproxy import HOP_BY_HOP, forward
from rig.authfront_map import Call, Unmapped

RECORD_DIR_VARIABLE = "CLOUDBURST_AUTHFRONT_RECORDS"
FLOW_VARIABLE = "CLOUDBURST_AUTHFRONT_FLOW"
# Global condition keys the front knows for every request; a key not listed here or in authfront_map's
# SERVICE_KEYS and tag families is unknown, and a policy that turns on it makes the front refuse to decide.
GLOBAL_KEYS = (
    "aws:SourceIp", "aws:SecureTransport", "aws:CurrentTime", "aws:EpochTime", "aws:RequestedRegion",
    "aws:username", "aws:userid", "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalType",
    "aws:PrincipalTag/", "aws:ViaAWSService", "aws:PrincipalIsAWSService", "aws:CalledVia", "aws:CalledViaFirst",
    "aws:CalledViaLast", "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:TokenIssueTime",
    "aws:SourceVpce", "aws:SourceVpc", "aws:VpcSourceIp", "aws:SourceArn", "aws:SourceAccount", "aws:SourceOrgID",
    "aws:SourceOrgPaths", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:ResourceAccount",
    "aws:ResourceOrgID", "aws:ResourceOrgPaths", "aws:UserAgent", "aws:Referer", "aws:FederatedProvider",
    "aws:SourceIdentity", "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:TagKeys",
    "aws:RequestTag/", "aws:ResourceTag/",
)
IAM_READ_PREFIXES = ("Get", "List", "Generate", "Simulate")
QUERY_NAMESPACES = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/", "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
                    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/"}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def signature_scope(headers, query):
    """(access key id, region, service) of a SigV4 request (header or presigned query), or None."""
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    if match:
        return match.groups()
    credential = dict(urllib.parse.parse_qsl(query)).get("X-Amz-Credential", "")
    parts = credential.split("/")
    return (parts[0], parts[2], parts[3]) if len(parts) == 5 else None


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class Principal:
    """Who signs: an IAM user (or a GetSessionToken session of one) and the policies that apply to it."""

    def __init__(self, arn, user_id, policies, boundary=None, tags=None, administrator=False):
        self.arn, self.user_arn, self.user_id = arn, arn, user_id
        self.account = arn.split(":")[4] if arn.count(":") >= 5 else "123456789012"
        self.user_name = arn.rsplit("/", 1)[-1]
        self.policies, self.boundary = policies, boundary
        self.tags = dict(tags or {})
        self.administrator = administrator
        self.session = None  # (mfa, issued) for a session

    def as_session(self, mfa, issued):
        copy = Principal(self.arn, self.user_id, self.policies, self.boundary, self.tags, self.administrator)
        copy.session = (mfa, issued)
        return copy


class MotoLookup:
    """Reads moto with the administrator's key, straight to moto (never through the front)."""

    def __init__(self, url, credentials):
        self.url, self.credentials = url, credentials
        self._clients, self._lock = {}, threading.Lock()

    def client(self, service, region="us-east-1"):
        with self._lock:
            if (service, region) not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[(service, region)] = boto3.session.Session().client(
                    service, endpoint_url=self.url, region_name=region, config=Config(retries={"max_attempts": 2}),
                    **self.credentials)
            return self._clients[(service, region)]

    # --- identity ---------------------------------------------------------------------------------------

    def key_user(self, access_key_id):
        from botocore.exceptions import ClientError

        try:
            return self.client("iam").get_access_key_last_used(AccessKeyId=access_key_id).get("UserName")
        except ClientError:
            return None

    def user_arn(self, account, name, path=None):
        if path is None:
            from botocore.exceptions import ClientError

            try:
                return self.client("iam").get_user(UserName=name)["User"]["Arn"]
            except ClientError:
                path = "/"
        return f"arn:aws:iam::{account}:user{path}{name}"

    def policy_document(self, arn):
        iam = self.client("iam")
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]

    def principal(self, access_key_id):
        """(Principal, None), or (None, why) for a key AWS would not accept."""
        iam = self.client("iam")
        name = self.key_user(access_key_id)
        if not name:
            return None, "unknown"
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        if not any(k["AccessKeyId"] == access_key_id and k["Status"] == "Active" for k in keys):
            return None, "inactive"
        user = iam.get_user(UserName=name)["User"]
        policies = []
        for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
            document = iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]
            policies.append((f"inline policy {policy} of user {name}", document))
        for attached in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
            policies.append((f"managed policy {attached['PolicyArn']}", self.policy_document(attached["PolicyArn"])))
        for group in iam.list_groups_for_user(UserName=name)["Groups"]:
            group_name = group["GroupName"]
            for policy in iam.list_group_policies(GroupName=group_name)["PolicyNames"]:
                document = iam.get_group_policy(GroupName=group_name, PolicyName=policy)["PolicyDocument"]
                policies.append((f"inline policy {policy} of group {group_name}", document))
            for attached in iam.list_attached_group_policies(GroupName=group_name)["AttachedPolicies"]:
                policies.append((f"managed policy {attached['PolicyArn']}",
                                 self.policy_document(attached["PolicyArn"])))
        boundary = None
        boundary_arn = user.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        if boundary_arn:
            boundary = (f"permissions boundary {boundary_arn}", self.policy_document(boundary_arn))
        tags = {t["Key"]: t["Value"] for t in user.get("Tags", [])}
        return Principal(user["Arn"], user["UserId"], policies, boundary, tags), None

    # --- EC2, CloudFormation, IAM resources -------------------------------------------------------------

    def tags(self, region, kind, ident):
        from botocore.exceptions import ClientError

        ec2 = self.client("ec2", region)
        try:
            if kind == "instance":
                found = [i for r in ec2.describe_instances(InstanceIds=[ident])["Reservations"] for i in r["Instances"]]
            elif kind == "image":
                found = ec2.describe_images(ImageIds=[ident])["Images"]
            elif kind == "key-pair":
                found = ec2.describe_key_pairs(KeyNames=[ident])["KeyPairs"]
            else:
                found = [{"Tags": ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ident]}])["Tags"]}]
        except ClientError:
            return {}
        return {t["Key"]: t.get("Value", "") for item in found[:1] for t in item.get("Tags", [])}

    def key_name(self, region, key_id):
        found = self.client("ec2", region).describe_key_pairs()["KeyPairs"]
        return next((k["KeyName"] for k in found if k.get("KeyPairId") == key_id), key_id)

    def default_vpc(self, region):
        found = self.client("ec2", region).describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        return found[0]["VpcId"] if found else None

    def default_subnet(self, region, zone=None):
        flt = [{"Name": "default-for-az", "Values": ["true"]}]
        if zone:
            flt.append({"Name": "availability-zone", "Values": [zone]})
        found = self.client("ec2", region).describe_subnets(Filters=flt)["Subnets"]
        return sorted(found, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"] if found else None

    def subnet_vpc(self, region, subnet):
        found = self.client("ec2", region).describe_subnets(SubnetIds=[subnet])["Subnets"]
        return found[0]["VpcId"] if found else None

    def group_id(self, region, name, subnet=None):
        vpc = self.subnet_vpc(region, subnet) if subnet else self.default_vpc(region)
        flt = [{"Name": "group-name", "Values": [name]}] + ([{"Name": "vpc-id", "Values": [vpc]}] if vpc else [])
        found = self.client("ec2", region).describe_security_groups(Filters=flt)["SecurityGroups"]
        return found[0]["GroupId"] if found else None

    def default_group(self, region, subnet):
        return self.group_id(region, "default", subnet)

    def template_id(self, region, name):
        found = self.client("ec2", region).describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
        return found[0]["LaunchTemplateId"] if found else name

    def route_table_of_association(self, region, association):
        flt = [{"Name": "association.route-table-association-id", "Values": [association]}]
        found = self.client("ec2", region).describe_route_tables(Filters=flt)["RouteTables"]
        return found[0]["RouteTableId"] if found else None

    def profile_role(self, profile):
        from botocore.exceptions import ClientError

        name = profile.rsplit("/", 1)[-1]
        try:
            roles = self.client("iam").get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        except ClientError:
            return None
        return roles[0]["Arn"] if roles else None

    def stack_arn(self, region, name):
        from botocore.exceptions import ClientError

        try:
            return self.client("cloudformation", region).describe_stacks(StackName=name)["Stacks"][0]["StackId"]
        except ClientError:
            return None


class Denial:
    """Why the front refuses a request: AWS's code and message, and its HTTP status, per protocol."""

    def __init__(self, kind, message, authorization=None):
        self.kind, self.message, self.authorization = kind, message, authorization


def denial_message(principal, authorization, decision):
    """AWS's access denied message for one authorization."""
    head = (f"User: {principal.arn} is not authorized to perform: {authorization.action} on resource: "
            f"{authorization.resource}")
    boundary_denies = [m for m in decision.denies if m.label.startswith("permissions boundary")]
    if decision.explicit_deny:
        where = "a permissions boundary" if boundary_denies and len(boundary_denies) == len(decision.denies) \
            else "an identity-based policy"
        return f"{head} with an explicit deny in {where}"
    if decision.allows and decision.has_boundary:
        return f"{head} because no permissions boundary allows the {authorization.action} action"
    return f"{head} because no identity-based policy allows the {authorization.action} action"


ERROR_CODES = {
    # kind -> {protocol: (status, code)}
    "denied": {"ec2": (403, "UnauthorizedOperation"), "query": (403, "AccessDenied"), "s3": (403, "AccessDenied"),
               "json": (400, "AccessDeniedException"), "rest-json": (403, "AccessDeniedException")},
    "invalid-key": {"ec2": (401, "AuthFailure"), "query": (403, "InvalidClientTokenId"),
                    "s3": (403, "InvalidAccessKeyId"), "json": (400, "UnrecognizedClientException"),
                    "rest-json": (403, "UnrecognizedClientException")},
    "unmapped": {name: (403, "AuthFrontUnmapped") for name in ("ec2", "query", "s3", "json", "rest-json")},
}


def protocol_of(service):
    if service == "ec2":
        return "ec2"
    if service == "s3":
        return "s3"
    if service in authfront_map.JSON_SERVICES:
        return "json"
    if service in authfront_map.QUERY_SERVICES:
        return "query"
    return "rest-json"


def _xml(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_response(service, kind, message, method="POST"):
    """(status, headers, body) of an error as service answers it."""
    protocol = protocol_of(service)
    status, code = ERROR_CODES[kind][protocol]
    request_id = secrets.token_hex(16)
    if protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{_xml(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return status, [("Content-Type", "text/xml;charset=UTF-8")], body.encode()
    if protocol == "query":
        namespace = QUERY_NAMESPACES.get(service, f"https://{service}.amazonaws.com/doc/")
        body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{_xml(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return status, [("Content-Type", "text/xml")], body.encode()
    if protocol == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{_xml(message)}'
                f"</Message><RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
        return status, [("Content-Type", "application/xml")], (b"" if method == "HEAD" else body.encode())
    headers = [("Content-Type", "application/x-amz-json-1.1" if protocol == "json" else "application/json"),
               ("x-amzn-RequestId", request_id)]
    if protocol == "rest-json":
        headers.append(("x-amzn-ErrorType", code))
        return status, headers, json.dumps({"Type": "User", "Message": message}).encode()
    return status, headers, json.dumps({"__type": code, "message": message}).encode()


INVALID_KEY_MESSAGES = {
    "ec2": "AWS was not able to validate the provided access credentials",
    "s3": "The AWS Access Key Id you provided does not exist in our records.",
}


class AuthFront(LocalHTTPServer):
    """The front on 127.0.0.1: `url` is what modules use as endpoint_url; upstream_url is moto (or the fault
    proxy before it); lookup_url is moto itself, read with credentials (the rig's administrator)."""

    def __init__(self, upstream_url, credentials, administrators=(), source_ip=DEFAULT_CHECKIP_ANSWER,
                 lookup_url=None, record_dir=None, flow=None):
        upstream = urllib.parse.urlsplit(upstream_url)
        self.upstream = (upstream.hostname, upstream.port)
        self.lookup = MotoLookup(lookup_url or upstream_url, credentials)
        self.administrators = set(administrators) | {credentials["aws_access_key_id"]}
        self.source_ip = source_ip
        self.fixed_flow = flow or os.environ.get(FLOW_VARIABLE)
        self.decisions = []  # every decision, as recorded
        self.expected = False  # see expecting_refusals
        self.timings = []  # (seconds spent deciding, restricted or not) per request
        self._principals, self._sessions = {}, {}
        self._lock = threading.Lock()
        record_dir = record_dir or os.environ.get(RECORD_DIR_VARIABLE)
        self.record_path = None
        if record_dir:
            os.makedirs(record_dir, exist_ok=True)
            self.record_path = os.path.join(record_dir, f"front-{os.getpid()}-{secrets.token_hex(4)}.jsonl")
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: with Nagle's algorithm and the client's delayed ACK
            # each answer would wait about 40 ms.
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802 (the stdlib's name)
                front.handle(self)

            do_GET = do_PUT = do_DELETE = do_HEAD = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self._serve(Handler)

    # --- settings and results -----------------------------------------------------------------------------

    @property
    def flow(self):
        """What decisions are recorded under: the flow the front was given, else the pytest test running now (its
        setup too, so a module fixture's requests count for the test that first needs it), else "unnamed"."""
        return self.fixed_flow or os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0] or "unnamed"

    def reset(self, source_ip=DEFAULT_CHECKIP_ANSWER):
        """Back to the rig's defaults (between tests): the checkip answer as the source address."""
        with self._lock:
            self.source_ip = source_ip

    @contextlib.contextmanager
    def expecting_refusals(self):
        """Requests the front cannot map or decide are wanted in this block (a test of the front itself): they are
        recorded as expected, and neither the per-test check nor the session's gate counts them."""
        self.expected = True
        try:
            yield
        finally:
            self.expected = False

    def denied(self, principal=None):
        return [d for d in self.decisions if d["effect"] != "Allow" and (principal is None or d["principal"] == principal)]

    def forget_policies(self):
        with self._lock:
            self._principals.clear()

    # --- serving ------------------------------------------------------------------------------------------

    def handle(self, handler):
        started = time.perf_counter()
        body = read_body(handler)
        split = urllib.parse.urlsplit(handler.path)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        scope = signature_scope(headers, split.query)
        call = None
        if scope and not split.path.startswith("/moto-api/"):
            access_key, region, service = scope
            call = Call(service, region, handler.command, split.path, split.query, headers, body)
            answer = self.authorize(call, access_key, headers.get("x-amz-security-token"))
            if answer is not None:
                self.timings.append((time.perf_counter() - started, True))
                return send(handler, *answer)
        restricted = scope is not None and scope[0] not in self.administrators
        self.timings.append((time.perf_counter() - started, restricted))
        status, response_headers, data = forward(self.upstream, handler, body)
        if call is not None and status < 300:
            data = self.after(call, scope[0], data)
        return send(handler, status, response_headers, data, keep_length=handler.command == "HEAD")

    def authorize(self, call, access_key, token):
        """None to forward the request, or the (status, headers, body) that refuses it."""
        if access_key in self.administrators:
            if call.service in ("iam", "sts"):
                self.parse_quietly(call)
            return None
        principal, why = self.principal(access_key, token)
        if principal is None:
            message = INVALID_KEY_MESSAGES.get(call.service, "The security token included in the request is invalid.")
            self.record(call, None, None, why == "inactive" and "InactiveKey" or "InvalidKey", access_key=access_key)
            return error_response(call.service, "invalid-key", message, call.method)
        if principal.administrator:
            self.parse_quietly(call)
            return None
        try:
            authfront_map.parse(call)
            if call.service == "sts" and call.operation == "GetCallerIdentity":
                return None  # AWS answers it for every valid key, whatever the policies say
            authorizations = authfront_map.authorizations(call, principal, self.lookup)
        except Unmapped as exc:
            message = (f"the rig's authorizing front cannot map {exc} (tests/rig/authfront_map.py): add what AWS "
                       f"authorizes for it; {principal.arn} made the request")
            self.record(call, principal, None, "Unmapped", detail=str(exc))
            return error_response(call.service, "unmapped", message, call.method)
        denial = None
        for authorization in authorizations:
            effect, grants, reason = self.decide(principal, call, authorization)
            self.record(call, principal, authorization, effect, grants=grants, detail=reason)
            if effect != "Allow" and denial is None:
                denial = (effect, reason)
        if denial is None:
            return None
        effect, reason = denial
        if effect == "Undecided":
            return error_response(call.service, "unmapped", f"the rig's authorizing front cannot decide: {reason}",
                                  call.method)
        message = reason
        if call.service == "ec2":
            message = f"You are not authorized to perform this operation. {reason}"
        return error_response(call.service, "denied", message, call.method)

    @staticmethod
    def parse_quietly(call):
        """Parse a call the front forwards anyway (the administrator's), only to see IAM writes and sessions."""
        try:
            authfront_map.parse(call)
        except (Unmapped, ValueError):
            call.operation = None

    def principal(self, access_key, token):
        with self._lock:
            if token is not None or access_key in self._sessions:
                session = self._sessions.get(access_key)
                if session is None:
                    return None, "unknown"
                owner, mfa, issued = session
                base, why = self._principal_locked(owner)
                return (base.as_session(mfa, issued) if base else None), why
            return self._principal_locked(access_key)

    def _principal_locked(self, access_key):
        if access_key in self.administrators:
            return Principal(f"arn:aws:iam::123456789012:user/administrator:{access_key}", access_key, [],
                             administrator=True), None
        if access_key not in self._principals:
            self._principals[access_key] = self.lookup.principal(access_key)
        return self._principals[access_key]

    def context(self, principal, call, authorization):
        values = {
            "aws:SourceIp": self.source_ip, "aws:SecureTransport": "false", "aws:ViaAWSService": "false",
            "aws:PrincipalIsAWSService": "false", "aws:CurrentTime": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(time.time())), "aws:RequestedRegion": call.region,
            "aws:username": principal.user_name, "aws:userid": principal.user_id, "aws:PrincipalArn": principal.arn,
            "aws:PrincipalAccount": principal.account, "aws:PrincipalType": "User",
            "aws:ResourceAccount": principal.account,
        }
        if call.headers.get("user-agent"):
            values["aws:UserAgent"] = call.headers["user-agent"]
        values.update({f"aws:PrincipalTag/{k}": v for k, v in principal.tags.items()})
        if principal.session:
            mfa, issued = principal.session
            values["aws:MultiFactorAuthPresent"] = "true" if mfa else "false"
            values["aws:TokenIssueTime"] = issued.strftime("%Y-%m-%dT%H:%M:%SZ")
            if mfa:
                values["aws:MultiFactorAuthAge"] = str(int((now() - issued).total_seconds()))
        values.update(authorization.values)
        absent = [key for key in GLOBAL_KEYS + authfront_map.SERVICE_KEYS if not key.endswith("/")]
        prefixes = [key for key in GLOBAL_KEYS if key.endswith("/")] + list(authfront_map.TAG_PREFIXES)
        return RequestContext(values, absent=[k for k in absent if k not in values], absent_prefixes=prefixes)

    def decide(self, principal, call, authorization):
        """(effect, grants, reason): effect Allow, ExplicitDeny, ImplicitDeny or Undecided (a condition on a key
        the front does not model); grants the (Sid, action pattern) of each Allow statement that applied."""
        context = self.context(principal, call, authorization)
        decision = evaluate(Request(authorization.action, authorization.resource, context), principal.policies,
                            principal.boundary)
        if decision.allowed != decision.possible:
            unknown = next((m.unknown for m in decision.denies + decision.allows + decision.boundary_allows
                            if m.state is None), "a condition")
            return "Undecided", [], (f"{authorization.action} on {authorization.resource} depends on {unknown}, "
                                     "a condition key the front does not model (tests/rig/authfront.py GLOBAL_KEYS)")
        if decision.allowed:
            grants = []
            for found in decision.allows:
                sid = found.statement.get("Sid") or f"{found.label}#{found.index + 1}"
                patterns = authfront_map_patterns(found.statement, authorization.action, context)
                grants += [[sid, pattern] for pattern in patterns]
            return "Allow", grants, None
        return decision.effect, [], denial_message(principal, authorization, decision)

    def record(self, call, principal, authorization, effect, grants=(), detail=None, access_key=None):
        entry = {"flow": self.flow, "principal": principal.arn if principal else access_key,
                 "operation": f"{call.service}:{call.operation}", "effect": effect,
                 "action": authorization.action if authorization else None,
                 "resource": authorization.resource if authorization else None,
                 "resource_type": authorization.resource_type if authorization else None,
                 "grants": list(grants), "source_ip": self.source_ip}
        if detail:
            entry["detail"] = detail
        if self.expected:
            entry["expected"] = True
        with self._lock:
            self.decisions.append(entry)
            if self.record_path:
                with open(self.record_path, "a") as stream:
                    stream.write(json.dumps(entry) + "\n")

    def after(self, call, access_key, data):
        """After a successful answer: an IAM write forgets the cached policies; a GetSessionToken answer gets a
        session key id of its own, remembered with its owner and whether an MFA code came with it."""
        if call.operation is None and call.service in ("iam", "sts"):
            self.parse_quietly(call)
        if call.service == "iam" and call.operation and not call.operation.startswith(IAM_READ_PREFIXES):
            self.forget_policies()
        if call.service == "sts" and call.operation == "GetSessionToken":
            mfa = bool(call.params.get("SerialNumber") and call.params.get("TokenCode"))
            owner = self._sessions.get(access_key, (access_key,))[0]
            session_key = "ASIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _position in range(16))
            token = base64.b64encode(secrets.token_bytes(48)).decode()
            data = re.sub(rb"<AccessKeyId>[^<]*</AccessKeyId>", b"<AccessKeyId>" + session_key.encode() + b"</AccessKeyId>",
                          data)
            data = re.sub(rb"<SessionToken>[^<]*</SessionToken>", b"<SessionToken>" + token.encode() + b"</SessionToken>",
                          data)
            with self._lock:
                self._sessions[session_key] = (owner, mfa, now())
                if owner in self.administrators:
                    self.administrators.add(session_key)
        return data

    def overhead(self):
        """Median seconds the front spent before forwarding, for administrator and restricted requests."""
        def median(values):
            values = sorted(values)
            return values[len(values) // 2] if values else None
        return {"administrator": median([t for t, restricted in self.timings if not restricted]),
                "restricted": median([t for t, restricted in self.timings if restricted]),
                "requests": len(self.timings)}


def authfront_map_patterns(statement, action, context):
    """The Action patterns of an Allow statement that match action (a NotAction statement: "NotAction")."""
    if "NotAction" in statement:
        return ["NotAction"]
    patterns = statement.get("Action")
    patterns = [patterns] if isinstance(patterns, str) else list(patterns or [])
    return [p for p in patterns if matches(p, action, context, ignore_case=True)]


# --- HTTP plumbing ----------------------------------------------------------------------------------------

def read_body(handler):
    """The request body, whether sent with Content-Length or chunked."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def send(handler, status, headers, data, keep_length=False):
    handler.send_response(status)
    length = None
    for name, value in headers:
        lower = name.lower()
        if lower == "content-length":
            length = value
        elif lower not in HOP_BY_HOP + ("server", "date"):
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(length if keep_length and length is not None else len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
