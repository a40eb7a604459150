# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The least-privilege launch policy of the iam_restricted_user role, built as data.

What the policy lets its user do, and how each part is bounded:

- EC2: describe anything (read-only calls have no resource to scope). Launch instances only when the request tags
  them with one of the launch tag keys (aws:RequestTag), and create security groups only with the first key (the
  one the EC2 layer tags everything with); tag only while creating (ec2:CreateAction); start and stop instances,
  change the ingress rules of and delete groups only when they carry the first key, terminate instances that carry
  any key (ec2:ResourceTag). The same holds for the network the ec2_network role makes (VPC, subnet, internet
  gateway, route table): created only with a launch tag in the request, and in a VPC that carries the first key,
  changed, attached, routed or deleted only when it carries that key. Key pairs only by name prefix, imported.
- S3: list prefixed buckets (and read their ownership controls); read, write and delete only their config-*
  objects (an annex's record, condor_annex's config tarball) and read their tags, never the lease function's code
  package beside them.
- CloudWatch Events: rules with a resource prefix, whose targets may only be the annex setup's lease functions
  (events:TargetArn).
- CloudFormation: describe prefixed stacks (the setup's HTCondorAnnex-* stacks); no write. Lambda: read the
  setup's lease functions (condor_annex -count checks that its lease function exists) and invoke the setup's
  connectivity check (condor_annex -count asks it whether the collector answers, before it launches; the function
  calls no AWS API); no write, and no other invoke.
- A lease: change the lease-end tag (and only that tag) of instances that already carry one, so that the launch role
  can renew a running annex's lease as condor_annex -annex-name NAME -duration H does, and extend a Spark cluster's
  (spark_ec2_action=extend).
- IAM: pass the annex setup's instance roles (and named instance_roles) to EC2 only (iam:PassedToService).
  Nothing creates or changes a role, a policy or a function, and nothing passes a role to Lambda, CloudFormation
  or a scheduler, so a leaked key can neither grant itself more nor run code as the setup's roles.

What is granted is what the flows use: tests/gates/least_privilege.py measures every grant against the requests
the rig's authorizing front allowed the restricted flows, and least-privilege-allowlist.txt explains the few that no
flow of the suite makes.

Prefixes and tag keys are checked here (and again by the role before it writes anything): the document is
made of dicts and lists, so no input can add a statement or widen one by quoting.
"""

from __future__ import annotations

import json
import re

POLICY_VERSION = "2012-10-17"
# Name prefixes of the stacks, buckets, functions, rules, roles and key pairs the user may manage.
DEFAULT_RESOURCE_PREFIXES = ("cloudburst-", "HTCondorAnnex-")
# Tag keys that mark EC2 resources the user may launch and change: the cluster tag the collection's EC2
# layer puts on everything it creates, and the tag condor_annex puts on every instance it launches.
DEFAULT_EC2_TAG_KEYS = ("cloudburst:cluster", "htcondor:AnnexName")
# The names the annex setup (roles/htcondor_annex_setup) gives its roles and lease functions: outside every
# resource prefix, so that no write the policy grants by prefix can reach them. Roles are global, so their
# names end with the region (AnnexSetup-instance-us-east-1); functions are regional.
SETUP_NAME_PREFIX = "AnnexSetup-"
SETUP_INSTANCE_ROLE_PREFIX = SETUP_NAME_PREFIX + "instance-"
SETUP_LEASE_ROLE_PREFIX = SETUP_NAME_PREFIX + "lease-"
SETUP_LEASE_FUNCTIONS = (SETUP_NAME_PREFIX + "odi-lease", SETUP_NAME_PREFIX + "sfr-lease")
# The setup's connectivity check, which the stock condor_annex -count invokes before it launches.
SETUP_CONNECTIVITY_FUNCTION = SETUP_NAME_PREFIX + "check-connectivity"
# The tag on leased instances that the lease functions read (annex_lease.LEASE_TAG).
LEASE_TAG_KEY = "cloudburst:lease-end"
# IAM's limit for a customer managed policy, in characters without white space.
MANAGED_POLICY_LIMIT = 6144

# The characters IAM allows in role and user names; a prefix must be a non-empty run of them.
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
# EC2 tag keys: up to 128 characters of letters, digits, spaces and + - = . _ : / @, not starting with aws:.
TAG_KEY_PATTERN = re.compile(r"[A-Za-z0-9 +=._:/@-]{1,128}")

# Actions on the EC2 layer's own instances and security groups, which carry the first launch tag key
# (cloudburst:cluster by default): spark_ec2 stops and starts its nodes, ec2_security_groups keeps its ingress
# rules exact (never egress). An instance with any launch tag key may be terminated (an annex's carry
# htcondor:AnnexName too). tests/gates/least_privilege.py found no flow that reads a console or changes egress.
EC2_TAGGED_INSTANCE_ACTIONS = ("ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances")
# amazon.aws.ec2_security_group also rewrites an ingress rule's description in place when it differs.
EC2_TAGGED_GROUP_ACTIONS = ("ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupIngress",
                            "ec2:RevokeSecurityGroupIngress", "ec2:UpdateSecurityGroupRuleDescriptionsIngress")
# The network the ec2_network role makes: created only with a launch tag in the request, and changed or
# deleted only when it carries one.
EC2_NETWORK_CREATE_ACTIONS = ("ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateInternetGateway", "ec2:CreateRouteTable")
EC2_NETWORK_TAGGED_ACTIONS = (
    "ec2:ModifyVpcAttribute", "ec2:ModifySubnetAttribute", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
    "ec2:CreateRoute", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
    "ec2:DeleteVpc", "ec2:DeleteSubnet", "ec2:DeleteInternetGateway", "ec2:DeleteRouteTable",
)
EC2_NETWORK_RESOURCES = ("vpc/*", "subnet/*", "internet-gateway/*", "route-table/*")
# Creations that are also authorized on the VPC they are made in (which carries the first launch tag key).
EC2_NETWORK_IN_VPC_ACTIONS = ("ec2:CreateSubnet", "ec2:CreateRouteTable")
# The calls whose resources may be tagged while they are created (ec2:CreateAction).
EC2_CREATE_ACTIONS = ("RunInstances", "CreateSecurityGroup", "ImportKeyPair",
                      "CreateVpc", "CreateSubnet", "CreateInternetGateway", "CreateRouteTable")


class LaunchPolicyError(ValueError):
    """Input that cannot make a bounded launch policy."""


def _checked_list(values, what, plural, example, is_valid, rule):
    """values as a list of unique strings in order, or LaunchPolicyError naming the first bad one."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise LaunchPolicyError(f"the {plural} must be a list of strings")
    if not values:
        raise LaunchPolicyError(f"the {plural} are empty; name at least one, such as {example}")
    result = []
    for value in values:
        if not isinstance(value, str) or not is_valid(value):
            raise LaunchPolicyError(f"{what} {value!r} is not allowed: {rule}")
        if value not in result:
            result.append(value)
    return result


def validate_resource_prefixes(prefixes):
    """Return the prefixes as a list of strings, or raise LaunchPolicyError naming the bad one.

    A prefix must be 1 to 64 of the characters IAM allows in names (letters, digits and +=,.@_-): an empty
    prefix, `*` or a quote would widen the policy to every role, bucket or stack in the account.
    """
    checked = _checked_list(
        prefixes, "resource prefix", "resource prefixes", "cloudburst-", PREFIX_PATTERN.fullmatch,
        "use 1 to 64 letters, digits and the characters +=,.@_- (an empty prefix or a wildcard would cover every "
        "resource in the account)")
    setup = SETUP_NAME_PREFIX.lower()
    for prefix in checked:
        if setup.startswith(prefix.lower()) or prefix.lower().startswith(setup):
            raise LaunchPolicyError(
                f"resource prefix {prefix!r} is not allowed: it would cover the annex setup's roles and lease "
                f"functions ({SETUP_NAME_PREFIX}*), which the launch user must never change")
    return checked


def validate_instance_roles(names):
    """Return the extra instance role names as a list, or raise LaunchPolicyError naming the bad one. A name is
    a role at path / (no wildcard), and never one of the setup's lease roles."""
    if names is None or (isinstance(names, (list, tuple)) and not names):
        return []
    checked = _checked_list(
        names, "instance role", "instance roles", "cloudburst-spark-nodes",
        lambda name: PREFIX_PATTERN.fullmatch(name) and not name.lower().startswith(SETUP_LEASE_ROLE_PREFIX.lower()),
        "name one role by its whole name: 1 to 64 letters, digits and the characters +=,.@_-, no wildcard, and "
        f"not one of the annex setup's lease roles ({SETUP_LEASE_ROLE_PREFIX}*)")
    return checked


def validate_ec2_tag_keys(keys):
    """Return the tag keys as a list of strings, or raise LaunchPolicyError naming the bad one."""
    return _checked_list(
        keys, "EC2 tag key", "EC2 tag keys", "cloudburst:cluster",
        lambda key: TAG_KEY_PATTERN.fullmatch(key) and not key.lower().startswith("aws:"),
        "use 1 to 128 letters, digits, spaces and the characters +-=._:/@, not starting with aws:")


def build_launch_policy(resource_prefixes=DEFAULT_RESOURCE_PREFIXES, ec2_tag_keys=DEFAULT_EC2_TAG_KEYS,
                        partition="aws", size_limit=MANAGED_POLICY_LIMIT, instance_roles=None):
    """Return the launch policy document as a dict. instance_roles: names of more roles (besides the annex
    setup's instance roles) that instance profiles of launched nodes may hold, such as a Spark cluster's."""
    prefixes = validate_resource_prefixes(resource_prefixes)
    tag_keys = validate_ec2_tag_keys(ec2_tag_keys)
    role_names = validate_instance_roles(instance_roles)
    if not isinstance(partition, str) or partition not in ("aws", "aws-cn", "aws-us-gov"):
        raise LaunchPolicyError(f"partition {partition!r} is not one of aws, aws-cn, aws-us-gov")

    def arn(service, resource, region="*", account="*"):
        return f"arn:{partition}:{service}:{region}:{account}:{resource}"

    def ec2(resource, account="*"):
        return arn("ec2", resource, account=account)

    key_pairs = [ec2(f"key-pair/{prefix}*") for prefix in prefixes]
    rules = [arn("events", f"rule/{prefix}*") for prefix in prefixes]
    lease_functions = [arn("lambda", f"function:{name}") for name in SETUP_LEASE_FUNCTIONS]
    instance_roles = [arn("iam", f"role/{SETUP_INSTANCE_ROLE_PREFIX}*", region="")] + [
        arn("iam", f"role/{name}", region="") for name in role_names]
    statements = [
        {
            "Sid": "Ec2ReadOnly",
            "Effect": "Allow",
            "Action": ["ec2:Describe*"],
            "Resource": "*",
        },
        {
            # RunInstances is authorized resource by resource: the image, subnet, network interfaces, groups,
            # volumes, a spot worker's spot request and the key pair here, the instance itself only in the
            # Ec2LaunchTagged statements below. No snapshot: no flow names one in a block device mapping.
            "Sid": "Ec2LaunchWithImagesSubnetsAndGroups",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances"],
            "Resource": [ec2("image/*", account=""), ec2("subnet/*"), ec2("network-interface/*"),
                         ec2("security-group/*"), ec2("volume/*"), ec2("spot-instances-request/*")] + key_pairs,
        },
        {
            "Sid": "Ec2CreateSecurityGroupsInVpcs",
            "Effect": "Allow",
            "Action": ["ec2:CreateSecurityGroup"],
            "Resource": [ec2("vpc/*")],
        },
    ]
    for index, key in enumerate(tag_keys, start=1):
        statements.append({
            "Sid": f"Ec2LaunchTagged{index}",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances"],
            "Resource": [ec2("instance/*")],
            "Condition": {"StringLike": {f"aws:RequestTag/{key}": "*"}},
        })
    # The EC2 layer tags its groups with the first key, as everything it makes.
    statements.append({
        "Sid": "Ec2CreateTaggedSecurityGroups",
        "Effect": "Allow",
        "Action": ["ec2:CreateSecurityGroup"],
        "Resource": [ec2("security-group/*")],
        "Condition": {"StringLike": {f"aws:RequestTag/{tag_keys[0]}": "*"}},
    })
    network = [ec2(resource) for resource in EC2_NETWORK_RESOURCES]
    # One statement for every key: a create request must carry at least one of the launch tag keys. The request's
    # tags belong to the resource it creates only, so the VPC a subnet or route table is made in is authorized on
    # its own, below.
    statements.append({
        "Sid": "Ec2CreateTaggedNetwork",
        "Effect": "Allow",
        "Action": list(EC2_NETWORK_CREATE_ACTIONS),
        "Resource": network,
        "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": tag_keys}},
    })
    # Moving a lease end retags instances with the new end: that one tag key, on instances already under a lease (a
    # renewed annex's, as condor_annex -annex-name NAME -duration H does, and an extended Spark cluster's). It ends
    # nothing by itself: the reapers end only annex instances and managed cluster instances, which the user may
    # terminate anyway.
    statements.append({
        "Sid": "Ec2MoveLeaseEndTag",
        "Effect": "Allow",
        "Action": ["ec2:CreateTags"],
        "Resource": [ec2("instance/*")],
        "Condition": {"StringLike": {f"ec2:ResourceTag/{LEASE_TAG_KEY}": "*"},
                      "ForAllValues:StringEquals": {"aws:TagKeys": [LEASE_TAG_KEY]}, "Null": {"aws:TagKeys": "false"}},
    })
    statements.append({
        "Sid": "Ec2CreateNetworkInTaggedVpcs",
        "Effect": "Allow",
        "Action": list(EC2_NETWORK_IN_VPC_ACTIONS),
        "Resource": [ec2("vpc/*")],
        "Condition": {"StringLike": {f"ec2:ResourceTag/{tag_keys[0]}": "*"}},
    })
    statements.append({
        "Sid": "Ec2TagOnlyWhileCreating",
        "Effect": "Allow",
        "Action": ["ec2:CreateTags"],
        "Resource": [ec2("instance/*"), ec2("volume/*"), ec2("network-interface/*"), ec2("security-group/*")]
        + network + key_pairs,
        "Condition": {"StringEquals": {"ec2:CreateAction": list(EC2_CREATE_ACTIONS)}},
    })
    statements.append({
        "Sid": "Ec2ChangeTaggedInstances",
        "Effect": "Allow",
        "Action": list(EC2_TAGGED_INSTANCE_ACTIONS),
        "Resource": [ec2("instance/*")],
        "Condition": {"StringLike": {f"ec2:ResourceTag/{tag_keys[0]}": "*"}},
    })
    for index, key in enumerate(tag_keys[1:], start=2):
        statements.append({
            "Sid": f"Ec2TerminateTagged{index}",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances"],
            "Resource": [ec2("instance/*")],
            "Condition": {"StringLike": {f"ec2:ResourceTag/{key}": "*"}},
        })
    statements.append({
        "Sid": "Ec2ChangeTaggedSecurityGroups",
        "Effect": "Allow",
        "Action": list(EC2_TAGGED_GROUP_ACTIONS),
        "Resource": [ec2("security-group/*")],
        "Condition": {"StringLike": {f"ec2:ResourceTag/{tag_keys[0]}": "*"}},
    })
    # The network is changed only when it carries the first launch tag key (cloudburst:cluster by default, the
    # key ec2_network tags everything with): one statement, within IAM's size limit.
    statements.append({
        "Sid": "Ec2ChangeTaggedNetwork",
        "Effect": "Allow",
        "Action": list(EC2_NETWORK_TAGGED_ACTIONS),
        "Resource": [ec2("*")],
        "Condition": {"StringLike": {f"ec2:ResourceTag/{tag_keys[0]}": "*"}},
    })
    statements += [
        {
            "Sid": "Ec2PrefixedKeyPairs",
            "Effect": "Allow",
            # ec2_cluster_key imports a key made on the controller; it never calls CreateKeyPair.
            "Action": ["ec2:ImportKeyPair", "ec2:DeleteKeyPair"],
            "Resource": key_pairs,
        },
        {
            # amazon.aws.s3_object reads the bucket's ownership controls before it writes (the setup's bucket enforces
            # the owner, so no ACL call follows).
            "Sid": "S3ListPrefixedBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketOwnershipControls"],
            # Bucket names are lower case.
            "Resource": [f"arn:{partition}:s3:::{prefix.lower()}*" for prefix in prefixes],
        },
        {
            # An annex's record (config-NAME/annex.json) and condor_annex's tarball (config-NAME.tar.gz); the lease
            # function's code package lies beside them, outside config-*, and stays out of reach.
            "Sid": "S3AnnexConfigObjects",
            "Effect": "Allow",
            # amazon.aws.s3_object reads an object's tags after it writes the object.
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging"],
            "Resource": [f"arn:{partition}:s3:::{prefix.lower()}*/config-*" for prefix in prefixes],
        },
        {
            # The annex launch reads the setup's stacks' outputs; the setup itself runs as an administrator.
            "Sid": "CloudFormationDescribePrefixedStacks",
            "Effect": "Allow",
            "Action": ["cloudformation:DescribeStacks"],
            "Resource": [arn("cloudformation", f"stack/{prefix}*/*") for prefix in prefixes],
        },
        {
            # The stock condor_annex -count checks that its lease function exists before it launches.
            "Sid": "LambdaReadLeaseFunctions",
            "Effect": "Allow",
            "Action": ["lambda:GetFunction"],
            "Resource": lease_functions,
        },
        {
            # The stock condor_annex -count asks the setup's connectivity check whether the collector answers.
            "Sid": "LambdaInvokeConnectivityCheck",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [arn("lambda", f"function:{SETUP_CONNECTIVITY_FUNCTION}")],
        },
        {
            # The per-annex lease rule (amazon.aws.cloudwatchevent_rule also reads its targets, and enables a rule
            # it finds disabled: the lease must stay armed; condor_annex puts and removes its own).
            "Sid": "EventsPrefixedLeaseRules",
            "Effect": "Allow",
            "Action": ["events:PutRule", "events:DeleteRule", "events:DescribeRule", "events:ListTargetsByRule",
                       "events:EnableRule", "events:RemoveTargets"],
            "Resource": rules,
        },
        {
            # A rule's targets may only be the setup's lease functions, whose code and role the user cannot change.
            "Sid": "EventsTargetLeaseFunctionsOnly",
            "Effect": "Allow",
            "Action": ["events:PutTargets"],
            "Resource": rules,
            "Condition": {"ForAllValues:ArnLike": {"events:TargetArn": lease_functions}},
        },
        {
            "Sid": "IamPassInstanceRolesToEc2Only",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": instance_roles,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
    ]
    document = {"Version": POLICY_VERSION, "Statement": statements}
    size = len(json.dumps(document, separators=(",", ":")))
    if size > size_limit:
        raise LaunchPolicyError(
            f"the launch policy for {len(prefixes)} resource prefixes and {len(tag_keys)} EC2 tag keys is "
            f"{size} characters, over IAM's limit of {size_limit} for a managed policy; use fewer prefixes"
        )
    return document
