# -*- coding: utf-8 -*-
"""What AWS authorizes for each request the collection makes: the authorizing front's map.

A Call is one HTTP request as the front parsed it: the service and region of its SigV4 credential scope, the
operation and its parameters (query and JSON protocols), or the method, bucket, key and sub-resources (S3).
authorizations(call, lookup) answers the list of Authorization objects AWS evaluates for it, each an IAM action
on one resource ARN with the condition keys that belong to that request and resource:

- EC2's multi-resource actions authorize every resource on its own, as the Service Authorization Reference lists
  them: RunInstances its image, subnet, security groups, network interfaces, volumes, key pair, instance (and a
  spot request or launch template when used), and iam:PassRole of the instance profile's role to EC2. Resources
  the request creates are ARNs with a * id, with the request's tags for that resource type (aws:RequestTag/*,
  aws:TagKeys); existing ones carry their tags (ec2:ResourceTag/*, aws:ResourceTag/*), read from moto. Tags given
  at creation add ec2:CreateTags with ec2:CreateAction for each tagged resource.
- S3 object and bucket calls, EventBridge rules (events:TargetArn for PutTargets), CloudFormation stacks, Lambda
  functions, STS and the IAM calls the collection's modules make.

An operation this map does not know raises Unmapped: the front refuses it for every principal but the rig's
administrator, so the map grows with the code. Only what the collection (and the suite's restricted flows)
call is mapped.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from xml.etree import ElementTree

# The condition keys this map sets when they belong to a request (anything else a policy names is unknown to
# the front, which then refuses to decide: see authfront.AuthFront.decide).
SERVICE_KEYS = ("ec2:CreateAction", "ec2:Region", "ec2:InstanceType", "iam:PassedToService", "iam:PolicyARN",
                "iam:PermissionsBoundary", "events:TargetArn", "s3:prefix")
TAG_PREFIXES = ("aws:RequestTag/", "aws:ResourceTag/", "ec2:ResourceTag/")


class Unmapped(Exception):
    """An operation the map does not know (the front refuses it for a restricted principal)."""


class Authorization:
    """One IAM authorization of a request: action, resource ARN, resource type, and the request's own keys
    (tags given, tags of the resource, service keys). tags_known: the request's and resource's tags are all in
    values, so aws:RequestTag/* and aws:ResourceTag/* keys not there are absent."""

    def __init__(self, action, resource, resource_type, values=None):
        self.action, self.resource, self.resource_type = action, resource, resource_type
        self.values = dict(values or {})

    def __repr__(self):
        return f"Authorization({self.action!r}, {self.resource!r})"


class Call:
    """One request as the front parsed it."""

    def __init__(self, service, region, method, path, query, headers, body):
        self.service, self.region, self.method = service, region, method
        self.path, self.query, self.headers, self.body = path, query, headers, body
        self.operation, self.params = None, {}
        self.account = "123456789012"

    def text(self):
        return self.body.decode("utf-8", "replace")


# --- protocols ------------------------------------------------------------------------------------------

QUERY_SERVICES = {"ec2", "iam", "sts", "cloudformation", "sns", "autoscaling"}
JSON_SERVICES = {"events", "logs", "ssm", "secretsmanager", "kms"}


def parse(call):
    """Fill call.operation and call.params from its protocol; raise Unmapped for a service the front does not
    parse."""
    if call.service in QUERY_SERVICES:
        params = dict(urllib.parse.parse_qsl(call.query, keep_blank_values=True))
        if call.body:
            params.update(urllib.parse.parse_qsl(call.text(), keep_blank_values=True))
        call.params = params
        call.operation = params.get("Action")
    elif call.service in JSON_SERVICES:
        target = call.headers.get("x-amz-target", "")
        call.operation = target.rsplit(".", 1)[-1] or None
        call.params = json.loads(call.text() or "{}")
    elif call.service == "lambda":
        call.operation, call.params = _lambda_operation(call)
    elif call.service == "s3":
        call.operation, call.params = _s3_operation(call)
    else:
        raise Unmapped(f"{call.service} ({call.method} {call.path})")
    if not call.operation:
        raise Unmapped(f"{call.service} ({call.method} {call.path}): no operation found")
    return call


def members(params, prefix):
    """The values of prefix.1, prefix.2, ... in order (EC2's and IAM's query lists)."""
    found = []
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)$")
    for name, value in params.items():
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), value))
    return [value for _index, value in sorted(found)]


def structs(params, prefix):
    """The structures prefix.N.* as dicts of their fields (prefix.N.Field...), in order."""
    found = {}
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.+)$")
    for name, value in params.items():
        match = pattern.match(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [found[index] for index in sorted(found)]


def tag_specifications(params, name="TagSpecification"):
    """{resource type: {key: value}} from an EC2 request's TagSpecification.N list."""
    specs = {}
    for spec in structs(params, name):
        tags = specs.setdefault(spec.get("ResourceType", ""), {})
        for field, value in spec.items():
            match = re.match(r"Tag\.(\d+)\.Key$", field)
            if match:
                tags[value] = spec.get(f"Tag.{match.group(1)}.Value", "")
    return specs


def request_tag_values(tags):
    """aws:RequestTag/* and aws:TagKeys for tags given in a request."""
    values = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
    if tags:
        values["aws:TagKeys"] = list(tags)
    return values


def resource_tag_values(tags, service_prefix=None):
    """aws:ResourceTag/* (and the service's own ec2:ResourceTag/*) for an existing resource's tags."""
    values = {f"aws:ResourceTag/{key}": value for key, value in tags.items()}
    if service_prefix:
        values.update({f"{service_prefix}:ResourceTag/{key}": value for key, value in tags.items()})
    return values


# --- EC2 ------------------------------------------------------------------------------------------------

EC2_ID_TYPES = {"i": "instance", "sg": "security-group", "vpc": "vpc", "subnet": "subnet",
                "igw": "internet-gateway", "rtb": "route-table", "vol": "volume", "eni": "network-interface",
                "ami": "image", "snap": "snapshot", "key": "key-pair", "lt": "launch-template",
                "sir": "spot-instances-request"}
# EC2 actions on one existing resource named by a parameter: operation -> [(parameter or list prefix, type)].
EC2_ON_EXISTING = {
    "StartInstances": [("InstanceId", "instance")],
    "StopInstances": [("InstanceId", "instance")],
    "TerminateInstances": [("InstanceId", "instance")],
    "RebootInstances": [("InstanceId", "instance")],
    "GetConsoleOutput": [("InstanceId", "instance")],
    "ModifyInstanceAttribute": [("InstanceId", "instance")],
    "DeleteSecurityGroup": [("GroupId", "security-group")],
    "AuthorizeSecurityGroupIngress": [("GroupId", "security-group")],
    "RevokeSecurityGroupIngress": [("GroupId", "security-group")],
    "UpdateSecurityGroupRuleDescriptionsIngress": [("GroupId", "security-group")],
    "AuthorizeSecurityGroupEgress": [("GroupId", "security-group")],
    "RevokeSecurityGroupEgress": [("GroupId", "security-group")],
    "ModifyVpcAttribute": [("VpcId", "vpc")],
    "ModifySubnetAttribute": [("SubnetId", "subnet")],
    "AttachInternetGateway": [("InternetGatewayId", "internet-gateway"), ("VpcId", "vpc")],
    "DetachInternetGateway": [("InternetGatewayId", "internet-gateway"), ("VpcId", "vpc")],
    "CreateRoute": [("RouteTableId", "route-table")],
    "ReplaceRoute": [("RouteTableId", "route-table")],
    "DeleteRoute": [("RouteTableId", "route-table")],
    "AssociateRouteTable": [("RouteTableId", "route-table"), ("SubnetId", "subnet")],
    "DeleteVpc": [("VpcId", "vpc")],
    "DeleteSubnet": [("SubnetId", "subnet")],
    "DeleteInternetGateway": [("InternetGatewayId", "internet-gateway")],
    "DeleteRouteTable": [("RouteTableId", "route-table")],
    "CancelSpotInstanceRequests": [("SpotInstanceRequestId", "spot-instances-request")],
}
# EC2 calls that create one resource (tagged by TagSpecification of its type), with the existing resources
# they act in: operation -> (created type, [(parameter, existing type)]).
EC2_CREATES = {
    "CreateVpc": ("vpc", []),
    "CreateSubnet": ("subnet", [("VpcId", "vpc")]),
    "CreateInternetGateway": ("internet-gateway", []),
    "CreateRouteTable": ("route-table", [("VpcId", "vpc")]),
    "CreateSecurityGroup": ("security-group", [("VpcId", "vpc")]),
    "ImportKeyPair": ("key-pair", []),
    "CreateKeyPair": ("key-pair", []),
}
# Describe and other read-only calls: no resource-level permissions, so the resource is "*".
EC2_UNSCOPED_PREFIXES = ("Describe", "GetEbs", "GetSerialConsole")


class Ec2:
    """EC2's authorizations, with lookup (an EC2Lookup) to read existing resources' tags from moto."""

    def __init__(self, call, principal_account, lookup):
        self.call, self.params, self.region = call, call.params, call.region
        self.account, self.lookup = principal_account, lookup

    def arn(self, kind, ident):
        account = "" if kind in ("image", "snapshot") else self.account
        return f"arn:aws:ec2:{self.region}:{account}:{kind}/{ident}"

    def base(self):
        return {"ec2:Region": self.region}

    def existing(self, action, kind, ident):
        tags = self.lookup.tags(self.region, kind, ident)
        values = dict(self.base(), **resource_tag_values(tags, "ec2"))
        name = self.lookup.key_name(self.region, ident) if kind == "key-pair" and ident.startswith("key-") else ident
        return Authorization(action, self.arn(kind, name), kind, values)

    def created(self, action, kind, tags, extra=None):
        """A resource the request creates: its ARN's id is * (not known yet), except a key pair's, which is its
        name."""
        values = dict(self.base(), **request_tag_values(tags))
        values.update(extra or {})
        ident = self.params.get("KeyName", "*") if kind == "key-pair" else "*"
        return Authorization(action, self.arn(kind, ident), kind, values)

    def tag_on_create(self, operation, specs, kinds):
        """ec2:CreateTags for each resource type the request tags while creating it."""
        return [self.created("ec2:CreateTags", kind, tags, {"ec2:CreateAction": operation})
                for kind, tags in specs.items() if kind in kinds and tags]

    def authorizations(self):
        operation = self.call.operation
        action = f"ec2:{operation}"
        if operation.startswith(EC2_UNSCOPED_PREFIXES):
            return [Authorization(action, "*", "*", self.base())]
        if operation == "RunInstances":
            return self.run_instances()
        if operation in ("CreateTags", "DeleteTags"):
            tags = {t["Key"]: t.get("Value", "") for t in structs(self.params, "Tag") if "Key" in t}
            found = []
            for ident in members(self.params, "ResourceId"):
                kind = EC2_ID_TYPES.get(ident.split("-", 1)[0])
                if not kind:
                    raise Unmapped(f"ec2:{operation} on {ident}, a resource type the front does not know")
                one = self.existing(action, kind, ident)
                one.values.update(request_tag_values(tags))
                found.append(one)
            return found
        if operation in EC2_CREATES:
            kind, parents = EC2_CREATES[operation]
            specs = tag_specifications(self.params)
            found = [self.created(action, kind, specs.get(kind, {}))]
            for parameter, parent in parents:
                ident = self.params.get(parameter) or (self.lookup.default_vpc(self.region) if parent == "vpc" else None)
                if ident:
                    found.append(self.existing(action, parent, ident))
            return found + self.tag_on_create(operation, specs, {kind})
        if operation == "DeleteKeyPair":
            name = self.params.get("KeyName") or self.lookup.key_name(self.region, self.params.get("KeyPairId", ""))
            return [self.existing(action, "key-pair", name)]
        if operation == "DisassociateRouteTable":
            table = self.lookup.route_table_of_association(self.region, self.params.get("AssociationId", ""))
            return [self.existing(action, "route-table", table or "*")]
        if operation in EC2_ON_EXISTING:
            found = []
            for parameter, kind in EC2_ON_EXISTING[operation]:
                idents = members(self.params, parameter) or ([self.params[parameter]] if parameter in self.params else [])
                if kind == "security-group" and not idents and "GroupName" in self.params:
                    idents = [self.lookup.group_id(self.region, self.params["GroupName"])]
                found += [self.existing(action, kind, ident) for ident in idents]
            return found
        raise Unmapped(action)

    def run_instances(self):
        """RunInstances, resource by resource (the EC2 User Guide's "Launch instances (RunInstances)"), with
        tag-on-create and the instance profile's PassRole."""
        p, action = self.params, "ec2:RunInstances"
        specs = tag_specifications(p)
        found = []
        image = p.get("ImageId")
        template = p.get("LaunchTemplate.LaunchTemplateId") or p.get("LaunchTemplate.LaunchTemplateName")
        if template:
            ident = template if template.startswith("lt-") else self.lookup.template_id(self.region, template)
            found.append(self.existing(action, "launch-template", ident))
        if image:
            found.append(self.existing(action, "image", image))
        interfaces = structs(p, "NetworkInterface")
        subnets = [n["SubnetId"] for n in interfaces if "SubnetId" in n] or ([p["SubnetId"]] if "SubnetId" in p else [])
        if not subnets and not template:
            default = self.lookup.default_subnet(self.region, p.get("Placement.AvailabilityZone"))
            subnets = [default] if default else []
        groups = members(p, "SecurityGroupId") + [
            v for n in interfaces for k, v in sorted(n.items()) if re.match(r"SecurityGroupId\.\d+$", k)]
        groups += [self.lookup.group_id(self.region, name, subnets[0] if subnets else None)
                   for name in members(p, "SecurityGroup")]
        if not groups and not template and subnets:
            groups = [self.lookup.default_group(self.region, subnets[0])]
        found += [self.existing(action, "subnet", s) for s in dict.fromkeys(subnets)]
        found += [self.existing(action, "security-group", g) for g in dict.fromkeys(groups) if g]
        if p.get("KeyName"):
            found.append(self.existing(action, "key-pair", p["KeyName"]))
        existing_interfaces = [n["NetworkInterfaceId"] for n in interfaces if "NetworkInterfaceId" in n]
        found += [self.existing(action, "network-interface", n) for n in existing_interfaces]
        if not existing_interfaces:
            found.append(self.created(action, "network-interface", specs.get("network-interface", {})))
        found.append(self.created(action, "volume", specs.get("volume", {})))
        for mapping in structs(p, "BlockDeviceMapping"):
            if mapping.get("Ebs.SnapshotId"):
                found.append(self.existing(action, "snapshot", mapping["Ebs.SnapshotId"]))
        found.append(self.created(action, "instance", specs.get("instance", {}),
                                  {"ec2:InstanceType": p.get("InstanceType", "m1.small")}))
        kinds = {"instance", "volume", "network-interface"}
        if p.get("InstanceMarketOptions.MarketType") == "spot":
            found.append(self.created(action, "spot-instances-request", specs.get("spot-instances-request", {})))
            kinds.add("spot-instances-request")
        found += self.tag_on_create("RunInstances", specs, kinds)
        profile = p.get("IamInstanceProfile.Arn") or p.get("IamInstanceProfile.Name")
        if profile:
            role = self.lookup.profile_role(profile)
            found.append(Authorization("iam:PassRole", role or f"arn:aws:iam::{self.account}:role/*", "role",
                                       {"iam:PassedToService": "ec2.amazonaws.com"}))
        return found


# --- S3 -------------------------------------------------------------------------------------------------

S3_BUCKET_SUBRESOURCES = {
    # (method, sub-resource) -> action, for calls on a bucket
    ("GET", "location"): "s3:GetBucketLocation", ("GET", "versioning"): "s3:GetBucketVersioning",
    ("GET", "tagging"): "s3:GetBucketTagging", ("GET", "policy"): "s3:GetBucketPolicy",
    ("GET", "encryption"): "s3:GetEncryptionConfiguration", ("GET", "publicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("GET", "acl"): "s3:GetBucketAcl", ("GET", "ownershipControls"): "s3:GetBucketOwnershipControls",
    ("PUT", "versioning"): "s3:PutBucketVersioning", ("PUT", "tagging"): "s3:PutBucketTagging",
    ("PUT", "policy"): "s3:PutBucketPolicy", ("PUT", "encryption"): "s3:PutEncryptionConfiguration",
    ("PUT", "publicAccessBlock"): "s3:PutBucketPublicAccessBlock", ("DELETE", "policy"): "s3:DeleteBucketPolicy",
    ("DELETE", "tagging"): "s3:PutBucketTagging", ("GET", "versions"): "s3:ListBucketVersions",
    ("GET", "uploads"): "s3:ListBucketMultipartUploads", ("GET", "list-type"): "s3:ListBucket",
    ("PUT", "ownershipControls"): "s3:PutBucketOwnershipControls", ("GET", "requestPayment"): "s3:GetBucketRequestPayment",
    ("GET", "object-lock"): "s3:GetBucketObjectLockConfiguration",
}
S3_OBJECT_SUBRESOURCES = {
    ("GET", "tagging"): "s3:GetObjectTagging", ("PUT", "tagging"): "s3:PutObjectTagging",
    ("DELETE", "tagging"): "s3:DeleteObjectTagging", ("GET", "acl"): "s3:GetObjectAcl",
    ("PUT", "acl"): "s3:PutObjectAcl",
}
S3_OBJECT_METHODS = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject",
                     "DELETE": "s3:DeleteObject"}


def _s3_operation(call):
    """(operation, params) of a path-style or virtual-host S3 request: operation is the IAM action's name;
    params hold bucket, key, sub-resource and the query."""
    host = call.headers.get("host", "").split(":")[0]
    path = urllib.parse.unquote(call.path.split("?", 1)[0])
    query = dict(urllib.parse.parse_qsl(call.query, keep_blank_values=True))
    virtual = re.match(r"(.+)\.s3[.-]", host)
    if virtual:
        bucket, key = virtual.group(1), path.lstrip("/")
    else:
        bucket, _slash, key = path.lstrip("/").partition("/")
    sub = next((name for name in query if not name.startswith(("x-amz-", "X-Amz-"))
                and name not in ("prefix", "delimiter", "max-keys", "marker", "continuation-token",
                                 "start-after", "encoding-type", "fetch-owner", "versionId", "uploadId",
                                 "partNumber", "key-marker", "version-id-marker")), None)
    params = {"bucket": bucket, "key": key, "sub": sub, "query": query}
    method = call.method
    if not bucket:
        return ("ListAllMyBuckets" if method == "GET" else None), params
    if not key:
        if sub == "delete" and method == "POST":
            return "DeleteObject", params
        if (method, sub) in S3_BUCKET_SUBRESOURCES:
            return S3_BUCKET_SUBRESOURCES[(method, sub)].split(":")[1], params
        if sub is None:
            return {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket",
                    "DELETE": "DeleteBucket"}.get(method), params
        return None, params
    if (method, sub) in S3_OBJECT_SUBRESOURCES:
        return S3_OBJECT_SUBRESOURCES[(method, sub)].split(":")[1], params
    if sub is None or sub in ("uploads", "uploadId"):
        action = S3_OBJECT_METHODS.get(method) or ("s3:PutObject" if method == "POST" else None)
        return (action.split(":")[1] if action else None), params
    return None, params


def s3_authorizations(call):
    p = call.params
    bucket_arn = f"arn:aws:s3:::{p['bucket']}"
    if call.operation == "ListAllMyBuckets":
        return [Authorization("s3:ListAllMyBuckets", "*", "*")]
    if call.operation == "DeleteObject" and not p["key"]:
        keys = [element.text for element in ElementTree.fromstring(call.body or b"<Delete/>").iter()
                if element.tag.split("}")[-1] == "Key"]
        return [Authorization("s3:DeleteObject", f"{bucket_arn}/{key}", "object") for key in keys]
    if not p["key"]:
        values = {"s3:prefix": p["query"].get("prefix", "")} if call.operation == "ListBucket" else {}
        return [Authorization(f"s3:{call.operation}", bucket_arn, "bucket", values)]
    found = [Authorization(f"s3:{call.operation}", f"{bucket_arn}/{p['key']}", "object")]
    source = call.headers.get("x-amz-copy-source")
    if call.operation == "PutObject" and source:
        found.append(Authorization("s3:GetObject", "arn:aws:s3:::" + urllib.parse.unquote(source).lstrip("/"),
                                   "object"))
    if call.operation == "PutObject" and call.headers.get("x-amz-tagging"):
        tags = dict(urllib.parse.parse_qsl(call.headers["x-amz-tagging"]))
        found.append(Authorization("s3:PutObjectTagging", f"{bucket_arn}/{p['key']}", "object",
                                   request_tag_values(tags)))
    return found


# --- EventBridge, CloudFormation, Lambda, STS, IAM --------------------------------------------------------

EVENTS_RULE_OPERATIONS = {"PutRule": "Name", "DeleteRule": "Name", "DescribeRule": "Name", "EnableRule": "Name",
                          "DisableRule": "Name", "ListTargetsByRule": "Rule", "PutTargets": "Rule",
                          "RemoveTargets": "Rule"}


def events_authorizations(call, account):
    p, operation = call.params, call.operation
    if operation in EVENTS_RULE_OPERATIONS:
        bus = p.get("EventBusName") or "default"
        name = p.get(EVENTS_RULE_OPERATIONS[operation], "")
        path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
        values = {}
        if operation == "PutTargets":
            values["events:TargetArn"] = [t.get("Arn", "") for t in p.get("Targets", [])]
        if operation == "PutRule":
            values.update(request_tag_values({t["Key"]: t.get("Value", "") for t in p.get("Tags", [])}))
        return [Authorization(f"events:{operation}", f"arn:aws:events:{call.region}:{account}:{path}", "rule",
                              values)]
    if operation in ("ListRules", "ListRuleNamesByTarget", "ListEventBuses"):
        return [Authorization(f"events:{operation}", "*", "*")]
    if operation in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [Authorization(f"events:{operation}", p.get("ResourceARN", "*"), "rule")]
    raise Unmapped(f"events:{operation}")


CLOUDFORMATION_STACK_OPERATIONS = {"DescribeStacks", "DescribeStackResources", "DescribeStackResource",
                                   "ListStackResources", "GetTemplate", "DescribeStackEvents", "CreateStack",
                                   "UpdateStack", "DeleteStack", "GetTemplateSummary"}


def cloudformation_authorizations(call, account, lookup):
    operation = call.operation
    if operation in CLOUDFORMATION_STACK_OPERATIONS:
        name = call.params.get("StackName")
        if not name:
            return [Authorization(f"cloudformation:{operation}", "*", "*")]
        arn = name if name.startswith("arn:") else lookup.stack_arn(call.region, name)
        arn = arn or f"arn:aws:cloudformation:{call.region}:{account}:stack/{name}/*"
        return [Authorization(f"cloudformation:{operation}", arn, "stack")]
    if operation in ("ListStacks", "ValidateTemplate", "DescribeAccountLimits"):
        return [Authorization(f"cloudformation:{operation}", "*", "*")]
    raise Unmapped(f"cloudformation:{operation}")


LAMBDA_ROUTES = [
    ("GET", r"/2015-03-31/functions/([^/]+)/configuration", "GetFunctionConfiguration"),
    ("GET", r"/2015-03-31/functions/([^/]+)/policy", "GetPolicy"),
    ("POST", r"/2015-03-31/functions/([^/]+)/invocations", "InvokeFunction"),
    ("GET", r"/2015-03-31/functions/([^/]+)", "GetFunction"),
    ("GET", r"/2015-03-31/functions/?", "ListFunctions"),
]


def _lambda_operation(call):
    path = urllib.parse.unquote(call.path.split("?", 1)[0])
    for method, pattern, operation in LAMBDA_ROUTES:
        match = re.fullmatch(pattern, path)
        if method == call.method and match:
            return operation, {"function": match.group(1) if match.groups() else None}
    return None, {}


def lambda_authorizations(call, account):
    name = call.params.get("function")
    if not name:
        return [Authorization(f"lambda:{call.operation}", "*", "*")]
    arn = name if name.startswith("arn:") else f"arn:aws:lambda:{call.region}:{account}:function:{name}"
    return [Authorization(f"lambda:{call.operation}", arn, "function")]


def sts_authorizations(call):
    if call.operation in ("GetSessionToken", "GetAccessKeyInfo", "DecodeAuthorizationMessage"):
        return [Authorization(f"sts:{call.operation}", "*", "*")]
    if call.operation == "AssumeRole":
        return [Authorization("sts:AssumeRole", call.params.get("RoleArn", "*"), "role")]
    raise Unmapped(f"sts:{call.operation}")


# IAM: the resource an operation acts on is named by the first of these parameters it has (a group's
# membership calls act on the group, every other call naming a user on the user).
IAM_RESOURCE_PARAMETERS = ("UserName", "GroupName", "RoleName", "InstanceProfileName", "PolicyArn", "SerialNumber",
                           "PolicyName")
IAM_GROUP_OPERATIONS = {"AddUserToGroup", "RemoveUserFromGroup"}
# Account-level IAM calls (no resource).
IAM_ACCOUNT_OPERATIONS = {"ListUsers", "ListRoles", "ListPolicies", "ListGroups", "ListInstanceProfiles",
                          "GetAccountSummary", "GetAccountPasswordPolicy", "GenerateCredentialReport",
                          "GetCredentialReport", "GetAccountAuthorizationDetails", "ListVirtualMFADevices",
                          "ListAccountAliases", "CreateVirtualMFADevice", "SimulateCustomPolicy"}
# The IAM calls the collection's modules (and the suite's non-administrator identities) make.
IAM_OPERATIONS = {
    "GetUser", "CreateUser", "DeleteUser", "UpdateUser", "TagUser", "UntagUser", "ListUserTags",
    "ListUserPolicies", "GetUserPolicy", "PutUserPolicy", "DeleteUserPolicy",
    "ListAttachedUserPolicies", "AttachUserPolicy", "DetachUserPolicy", "ListGroupsForUser",
    "AddUserToGroup", "RemoveUserFromGroup", "PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary",
    "ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey", "GetAccessKeyLastUsed",
    "ListMFADevices", "EnableMFADevice", "DeactivateMFADevice", "DeleteVirtualMFADevice", "ResyncMFADevice",
    "GetLoginProfile", "DeleteLoginProfile", "ListSigningCertificates", "DeleteSigningCertificate",
    "ListSSHPublicKeys", "DeleteSSHPublicKey", "ListServiceSpecificCredentials",
    "DeleteServiceSpecificCredential", "GetPolicy", "GetPolicyVersion", "CreatePolicy", "DeletePolicy",
    "CreatePolicyVersion", "DeletePolicyVersion", "ListPolicyVersions", "ListEntitiesForPolicy",
    "SetDefaultPolicyVersion", "TagPolicy", "UntagPolicy", "ListPolicyTags", "GetGroup", "ListGroupPolicies",
    "GetGroupPolicy", "ListAttachedGroupPolicies", "GetRole", "GetInstanceProfile", "ListUsers",
} | IAM_ACCOUNT_OPERATIONS
# Calls that act on the caller when they name no user.
IAM_SELF_OPERATIONS = {"ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey", "GetUser",
                       "ListMFADevices", "ListSigningCertificates", "ListSSHPublicKeys",
                       "ListServiceSpecificCredentials"}


def iam_authorizations(call, principal, lookup):
    operation = call.operation
    if operation not in IAM_OPERATIONS:
        raise Unmapped(f"iam:{operation}")
    action, p, account = f"iam:{operation}", call.params, principal.account
    if operation in IAM_ACCOUNT_OPERATIONS:
        return [Authorization(action, "*", "*")]
    if operation == "GetAccessKeyLastUsed":
        user = lookup.key_user(p.get("AccessKeyId", ""))
        return [Authorization(action, lookup.user_arn(account, user) if user else "*", "user")]
    values = {}
    if operation in ("AttachUserPolicy", "DetachUserPolicy"):
        values["iam:PolicyARN"] = p.get("PolicyArn", "")
    if "PermissionsBoundary" in p:
        values["iam:PermissionsBoundary"] = p["PermissionsBoundary"]
    names = [name for name in IAM_RESOURCE_PARAMETERS if name in p]
    if operation in IAM_GROUP_OPERATIONS:
        names = ["GroupName"]
    if names:
        name = names[0]
        if name == "UserName":
            path = p.get("Path", "/") if operation == "CreateUser" else None
            return [Authorization(action, lookup.user_arn(account, p[name], path), "user", values)]
        if name in ("PolicyArn", "SerialNumber"):
            return [Authorization(action, p[name], "policy" if name == "PolicyArn" else "mfa", values)]
        if name == "PolicyName":
            return [Authorization(action, f"arn:aws:iam::{account}:policy{p.get('Path', '/')}{p[name]}", "policy")]
        kind = {"GroupName": "group", "RoleName": "role", "InstanceProfileName": "instance-profile"}[name]
        return [Authorization(action, f"arn:aws:iam::{account}:{kind}/{p[name]}", kind, values)]
    if operation in IAM_SELF_OPERATIONS and principal.user_arn:
        return [Authorization(action, principal.user_arn, "user")]
    raise Unmapped(f"iam:{operation} (no resource the front can name)")


def authorizations(call, principal, lookup):
    """What AWS authorizes for call, made by principal (an authfront.Principal); raise Unmapped if unknown."""
    service = call.service
    if service == "ec2":
        return Ec2(call, principal.account, lookup).authorizations()
    if service == "s3":
        return s3_authorizations(call)
    if service == "events":
        return events_authorizations(call, principal.account)
    if service == "cloudformation":
        return cloudformation_authorizations(call, principal.account, lookup)
    if service == "lambda":
        return lambda_authorizations(call, principal.account)
    if service == "sts":
        return sts_authorizations(call)
    if service == "iam":
        return iam_authorizations(call, principal, lookup)
    raise Unmapped(f"{service}:{call.operation}")
