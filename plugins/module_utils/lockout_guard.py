# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lockout guard's question: can the controller still make the requests the collection needs?

iam_user asks it before it restricts a user to an allow-list. The requests are real ones, as the collection
makes them (SELF_ACTIONS, LAUNCH_REQUESTS): the IAM calls that manage the user itself (its policies and keys)
and the launch calls of the annex and Spark flows (EC2 with the collection's tags, the annex bucket, the lease rule, the
setup's stacks, passing the setup's instance role to EC2), each in two regions of the user's partition.

A request counts only when the user is meant to make it: some Allow of its identity policies may apply to it
from some address. Such a request is a lockout when, from the
controller's address, evaluation (policy_evaluation.evaluate: explicit Deny, Allow, boundary) does not allow it
in any of the regions. Every condition key the guard does not know for the controller's requests counts against
them (fail closed): an Allow that depends on one does not apply, a Deny that depends on one does. The guard
knows the source address, aws:ViaAWSService (false), the principal's keys (user name and ARN, account, type),
the request's own tags, resource tags and service keys it sets (ec2:CreateAction, iam:PassedToService),
aws:SecureTransport, aws:RequestedRegion and the time; not aws:SourceVpc, aws:SourceVpce, aws:VpcSourceIp,
aws:MultiFactorAuthPresent or anything else.
"""

from __future__ import annotations

import datetime
import ipaddress

from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import LEASE_TAG_KEY
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import SETUP_CONNECTIVITY_FUNCTION
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import SETUP_INSTANCE_ROLE_PREFIX
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import SETUP_LEASE_FUNCTIONS
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import PolicyEvaluationError
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import PARTITION_REGIONS

# The calls iam_user and iam_access_key make on the user itself, with the user's own key when the play runs
# as the user (undoing a restriction needs them).
SELF_ACTIONS = (
    "iam:GetUser", "iam:ListUserPolicies", "iam:GetUserPolicy", "iam:PutUserPolicy", "iam:DeleteUserPolicy",
    "iam:ListAttachedUserPolicies", "iam:AttachUserPolicy", "iam:DetachUserPolicy", "iam:ListGroupsForUser",
    "iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey",
)
# The tags the EC2 layer and the annex role put on what they launch.
LAUNCH_TAGS = {"cloudburst:cluster": "cloudburst-guard", "cloudburst:role": "guard", "managed-by": "cloudburst.aws",
               "htcondor:AnnexName": "guard", "Name": "cloudburst-guard"}
_INSTANCE = "i-0123456789abcdef0"
_GROUP = "sg-0123456789abcdef0"
# (action, resource template, what the request carries): the launch calls of the annex and Spark flows.
# {p} partition, {r} region, {a} account; "request_tags"/"resource_tags" are the request's own tags.
LAUNCH_REQUESTS = (
    ("ec2:DescribeInstances", "*", {}),
    ("ec2:RunInstances", "arn:{p}:ec2:{r}:{a}:instance/*", {"request_tags": LAUNCH_TAGS}),
    ("ec2:RunInstances", "arn:{p}:ec2:{r}::image/ami-0123456789abcdef0", {}),
    ("ec2:RunInstances", "arn:{p}:ec2:{r}:{a}:subnet/subnet-0123456789abcdef0", {}),
    ("ec2:RunInstances", "arn:{p}:ec2:{r}:{a}:security-group/" + _GROUP, {}),
    ("ec2:RunInstances", "arn:{p}:ec2:{r}:{a}:key-pair/cloudburst-guard", {}),
    ("ec2:CreateTags", "arn:{p}:ec2:{r}:{a}:instance/*",
     {"request_tags": LAUNCH_TAGS, "keys": {"ec2:CreateAction": "RunInstances"}}),
    ("ec2:TerminateInstances", "arn:{p}:ec2:{r}:{a}:instance/" + _INSTANCE, {"resource_tags": LAUNCH_TAGS}),
    # A lease end moves (an annex's renewal, a Spark cluster's extend) on an instance already under a lease.
    ("ec2:CreateTags", "arn:{p}:ec2:{r}:{a}:instance/" + _INSTANCE,
     {"resource_tags": dict(LAUNCH_TAGS, **{LEASE_TAG_KEY: "2029-12-31T23:00:00Z"}),
      "request_tags": {LEASE_TAG_KEY: "2030-01-01T00:00:00Z"}}),
    ("ec2:CreateSecurityGroup", "arn:{p}:ec2:{r}:{a}:security-group/*", {"request_tags": LAUNCH_TAGS}),
    ("ec2:AuthorizeSecurityGroupIngress", "arn:{p}:ec2:{r}:{a}:security-group/" + _GROUP,
     {"resource_tags": LAUNCH_TAGS}),
    ("ec2:ImportKeyPair", "arn:{p}:ec2:{r}:{a}:key-pair/cloudburst-guard", {}),
    ("iam:PassRole", "arn:{p}:iam::{a}:role/" + SETUP_INSTANCE_ROLE_PREFIX + "{r}",
     {"keys": {"iam:PassedToService": "ec2.amazonaws.com"}}),
    ("s3:PutObject", "arn:{p}:s3:::cloudburst-annex-{a}-{r}/config-guard/annex.json", {}),
    ("s3:ListBucket", "arn:{p}:s3:::cloudburst-annex-{a}-{r}", {}),
    ("events:PutRule", "arn:{p}:events:{r}:{a}:rule/HTCondorAnnex-guard-lease", {}),
    ("events:PutTargets", "arn:{p}:events:{r}:{a}:rule/HTCondorAnnex-guard-lease",
     {"keys": {"events:TargetArn": ["arn:{p}:lambda:{r}:{a}:function:" + SETUP_LEASE_FUNCTIONS[0]]}}),
    ("lambda:InvokeFunction", "arn:{p}:lambda:{r}:{a}:function:" + SETUP_CONNECTIVITY_FUNCTION, {}),
    ("cloudformation:DescribeStacks",
     "arn:{p}:cloudformation:{r}:{a}:stack/HTCondorAnnex-ConfigurationBucket/00000000-0000-0000-0000-000000000000",
     {}),
)
_TAG_FAMILIES = ("aws:RequestTag/", "aws:ResourceTag/", "ec2:ResourceTag/")


class GuardError(PolicyEvaluationError):
    """Input the guard cannot decide on (a bad address or user ARN, an unreadable policy)."""


def _context(user_arn, region, source_ip, carries):
    partition, account = user_arn.split(":")[1], user_arn.split(":")[4]
    now = datetime.datetime.now(datetime.timezone.utc)
    values = {
        "aws:ViaAWSService": "false", "aws:SecureTransport": "true", "aws:PrincipalType": "User",
        "aws:PrincipalArn": user_arn, "aws:username": user_arn.rsplit("/", 1)[-1], "aws:PrincipalAccount": account,
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "aws:EpochTime": str(int(now.timestamp())),
        "aws:PrincipalPartition": partition,
    }
    if region:
        values["aws:RequestedRegion"] = region
    if source_ip is not None:
        values["aws:SourceIp"] = source_ip
    request_tags = carries.get("request_tags", {})
    for key, value in request_tags.items():
        values[f"aws:RequestTag/{key}"] = value
    if request_tags:
        values["aws:TagKeys"] = sorted(request_tags)
    for key, value in carries.get("resource_tags", {}).items():
        values[f"aws:ResourceTag/{key}"] = value
        values[f"ec2:ResourceTag/{key}"] = value
    for key, value in carries.get("keys", {}).items():
        values[key] = [v.format(p=partition, r=region, a=account) for v in value] if isinstance(value, list) else value
    absent = [] if request_tags else ["aws:TagKeys"]
    return RequestContext(values, absent=absent, absent_prefixes=_TAG_FAMILIES)


def needed_requests(user_arn, source_ip):
    """[(what, [Request per region])] for the user: its own IAM calls, then the launch calls in two regions."""
    partition, account = user_arn.split(":")[1], user_arn.split(":")[4]
    needed = [("IAM calls on the user itself", [Request(action, user_arn, _context(user_arn, None, source_ip, {}))])
              for action in SELF_ACTIONS]
    regions = PARTITION_REGIONS.get(partition, ())
    for action, template, carries in LAUNCH_REQUESTS:
        variants = [Request(action, template.format(p=partition, r=region, a=account),
                            _context(user_arn, region, source_ip, carries)) for region in regions]
        if variants:
            needed.append((action, variants))
    return needed


def lockout_reasons(policies, source_ip, user_arn, boundary=None):
    """Why the controller at source_ip could no longer make a request the user is meant to make.

    policies: (label, document) for every identity policy that will apply to the user (its inline and attached
    policies and its groups'); boundary: (label, document) of its permissions boundary, or None. user_arn: the
    user's ARN (its partition, account and name shape the requests). Returns reasons, each naming the
    statements that deny (or may deny) and the requests they stop; an empty list means the controller keeps
    working.
    """
    try:
        address = str(ipaddress.ip_address(source_ip))
    except ValueError:
        raise GuardError(f"{source_ip!r} is not an IP address")
    if not isinstance(user_arn, str) or not user_arn.startswith("arn:") or len(user_arn.split(":")) < 6:
        raise GuardError(f"{user_arn!r} is not a user ARN")
    policies = list(policies)
    causes = {}  # reason -> [what], in the order found
    for what, variants in needed_requests(user_arn, address):
        if not any(_meant(request, policies) for request in variants):
            continue
        decisions = [evaluate(request, policies, boundary) for request in variants]
        if any(decision.allowed for decision in decisions):
            continue
        for reason in _why(decisions[0], address):
            whats = causes.setdefault(reason, [])
            if what not in whats:
                whats.append(what)
    return [f"{reason} (needed for {', '.join(whats)})" for reason, whats in causes.items()]


def _meant(request, policies):
    """Whether some Allow of the identity policies may apply to the request from some address (its source
    address unknown): the user is meant to make it, whatever the Deny statements and the boundary say."""
    anywhere = Request(request.action, request.resource, request.context.without("aws:SourceIp"))
    return bool(evaluate(anywhere, policies).allows)


def _why(decision, address):
    reasons = []
    for match in decision.denies:
        if match.state is True:
            reasons.append(f"{match.name} denies requests from {address}")
        else:
            reasons.append(f"{match.name} cannot be evaluated here ({match.unknown}) and may deny requests from "
                           f"{address}")
    groups = [("the policies", decision.allows)]
    if decision.has_boundary:
        groups.append(("the permissions boundary", decision.boundary_allows))
    for what, allows in groups:
        if any(match.state is True for match in allows):
            continue
        unknown = sorted({match.unknown for match in allows if match.unknown})
        if unknown:
            reasons.append(f"no Allow statement of {what} is known to hold for requests from {address}; "
                           f"cannot evaluate {', '.join(unknown)}")
        else:
            reasons.append(f"no Allow statement of {what} holds for requests from {address}")
    return reasons
