# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""condor_annex -check-setup, done safely: the user's config, the files it names, the four HTCondorAnnex-*
stacks and the resources behind them, read only."""

from __future__ import annotations

import json
import os
import re
import stat

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import GOOD_STACK_STATES
from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import describe_stack
from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import not_owned
from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import stack_outputs
from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import stack_tags
from ansible_collections.cloudburst.aws.plugins.module_utils.condor_config import REGIONAL_SETTINGS
from ansible_collections.cloudburst.aws.plugins.module_utils.condor_config import hyphenated_prefixes
from ansible_collections.cloudburst.aws.plugins.module_utils.condor_config import lookup_setting
from ansible_collections.cloudburst.aws.plugins.module_utils.condor_config import parse_condor_config
from ansible_collections.cloudburst.aws.plugins.module_utils.condor_config import region_prefix
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import statements

STACK_NAMES = {
    "bucket": "HTCondorAnnex-ConfigurationBucket",
    "lambda": "HTCondorAnnex-LambdaFunctions",
    "profile": "HTCondorAnnex-InstanceProfile",
    "security_group": "HTCondorAnnex-SecurityGroup",
}
# The function condor_annex -count invokes before every launch, when ANNEX_DEFAULT_CONNECTIVITY_FUNCTION_ARN is unset.
STOCK_CONNECTIVITY_FUNCTION = "HTCondorAnnex-CheckConnectivity"
# What a node that the stock condor_annex -count launched lacks to join a pool set up by this collection.
STOCK_NODES_LACK = (
    "an HTCondor annex image: the stock node configures itself at boot with HTCondor's condor-annex-ec2 service "
    "(instance metadata, the aws command and condor from the AMI); Debian's images have none of it",
    "a pool credential it can use: the stock tarball (config-<AnnexID>.tar.gz) configures SEC_DEFAULT_AUTHENTICATION_"
    "METHODS = FS, PASSWORD with a copy of SEC_PASSWORD_FILE, but this pool admits remote daemons only with IDTOKENS "
    "and SEC_PASSWORD_FILE is an empty placeholder: the pool's signing key stays on the central manager, because "
    "with IDTOKENS the pool password is that key, and a copy in the bucket would let anyone who reads it mint "
    "any identity, an administrator's too",
)
# Lambda runtimes AWS supports for new and updated functions (python3.9 and nodejs18.x are deprecated).
SUPPORTED_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
                      "nodejs20.x", "nodejs22.x")


def _world(cidr):
    return cidr in ("0.0.0.0/0", "::/0")


def _as_list(value):
    return value if isinstance(value, list) else [value]


class SetupChecker:
    """condor_annex -check-setup, and a look behind each stack at the resources it should have made.

    Every item ends in the list as {"name", "status", "detail"}; status is ok, missing (a setting, file, stack or
    resource is not there), mismatch (the config says one thing, the account another) or problem (there,
    but wrong). Only read calls are made.
    """

    def __init__(self, clients, uid, config_file, region=None, central_manager_cidrs=None, ssh_allowlist=None,
                 supported_runtimes=SUPPORTED_RUNTIMES, owner_tags=None):
        self.connect = clients  # (service, region) -> boto3 client (with AWSRetry)
        self._clients = {}
        self.uid = uid
        self.config_file = config_file
        self.region = region
        self.central_manager_cidrs = central_manager_cidrs
        self.ssh_allowlist = ssh_allowlist
        self.supported_runtimes = supported_runtimes
        self.owner_tags = owner_tags or {}
        self.foreign = []  # stacks of the setup's names that lack the owner tags: {name, status, tags}
        self.items = []
        self.settings = {}
        self.prefix = None
        self.outputs = {}

    def client(self, service):
        if service not in self._clients:
            self._clients[service] = self.connect(service, self.region)
        return self._clients[service]

    def add(self, name, status, detail):
        self.items.append({"name": name, "status": status, "detail": detail})

    @property
    def ok(self):
        return all(item["status"] == "ok" for item in self.items)

    def summary(self):
        """condor_annex's last line, or the names of what is wrong."""
        if self.ok:
            return "Your setup looks OK."
        wrong = [f"{i['name']} ({i['status']})" for i in self.items if i["status"] != "ok"]
        return f"Your setup is incomplete or wrong: {', '.join(wrong)}."

    # -- the config file and the files it names

    def check_config(self):
        try:
            with open(self.config_file, encoding="utf-8") as stream:
                text = stream.read()
        except OSError as exc:
            self.add("config file", "missing", f"{self.config_file}: {exc.strerror or exc}")
            text = ""
        else:
            self.add("config file", "ok", self.config_file)
        self.settings = parse_condor_config(text)
        bad = hyphenated_prefixes(text)
        if bad:
            self.add("config syntax", "problem",
                     f"region prefixes must use underscores; these lines break every condor tool: {'; '.join(bad)}")
        configured_region = lookup_setting(self.settings, "ANNEX_DEFAULT_AWS_REGION")[1]
        if configured_region is None:
            self.add("ANNEX_DEFAULT_AWS_REGION", "missing", "unset")
        elif self.region and configured_region != self.region:
            self.add("ANNEX_DEFAULT_AWS_REGION", "mismatch",
                     f"the config says {configured_region}, the check runs in {self.region}")
        else:
            self.add("ANNEX_DEFAULT_AWS_REGION", "ok", configured_region)
        self.region = self.region or configured_region
        self.prefix = region_prefix(self.region) if self.region else None
        for name in REGIONAL_SETTINGS:
            shown = f"{self.prefix}.{name}" if self.prefix else name
            key, value = lookup_setting(self.settings, name, self.prefix)
            if value is None:
                self.add(shown, "missing", "unset")
            else:
                self.add(key, "ok", value)
        for name in ("COLLECTOR_HOST", "SEC_PASSWORD_FILE"):
            key, value = lookup_setting(self.settings, name)
            self.add(name, "missing" if value is None else "ok", "unset" if value is None else value)
        self.check_files()

    def setting(self, name):
        return lookup_setting(self.settings, name, self.prefix)[1]

    def check_files(self):
        access = self.setting("ANNEX_DEFAULT_ACCESS_KEY_FILE")
        if access:
            self.add("access key file", "ok" if os.path.isfile(access) else "missing", access)
        secret = self.setting("ANNEX_DEFAULT_SECRET_KEY_FILE")
        if secret:
            try:
                info = os.lstat(secret)
            except OSError as exc:
                self.add("secret key file", "missing", f"{secret}: {exc.strerror or exc}")
            else:
                mode = stat.S_IMODE(info.st_mode)
                if not stat.S_ISREG(info.st_mode):
                    self.add("secret key file", "problem", f"{secret} is not a regular file")
                elif info.st_uid != self.uid or mode & 0o077:
                    self.add("secret key file", "problem",
                             f"{secret} must be the user's own (uid {self.uid}, it is {info.st_uid}) and private "
                             f"(0600; it is {mode:04o}), as condor_annex requires")
                else:
                    self.add("secret key file", "ok", f"{secret} (0{mode:03o})")
        password = lookup_setting(self.settings, "SEC_PASSWORD_FILE")[1]
        if password:
            try:
                with open(password, "rb"):
                    pass
            except OSError as exc:
                self.add("SEC_PASSWORD_FILE readable", "missing", f"{password}: {exc.strerror or exc}")
            else:
                self.add("SEC_PASSWORD_FILE readable", "ok", password)

    # -- the stacks

    def check_stacks(self):
        cfn = self.client("cloudformation")
        for kind, name in STACK_NAMES.items():
            stack = describe_stack(cfn, name)
            if stack is None:
                self.add(f"stack {name}", "missing", "does not exist")
                continue
            status = stack["StackStatus"]
            why = not_owned(stack, self.owner_tags)
            if why:
                self.foreign.append({"name": name, "status": status, "tags": stack_tags(stack)})
                self.add(f"stack {name}", "problem", f"{status}, but not made by the setup: {why}")
            else:
                self.add(f"stack {name}", "ok" if status in GOOD_STACK_STATES else "problem", status)
            self.outputs[kind] = stack_outputs(stack)

    def _compare(self, name, setting, output_kind, output_key):
        """A setting against the stack output it came from."""
        configured = self.setting(setting)
        deployed = self.outputs.get(output_kind, {}).get(output_key)
        if configured is not None and deployed is not None and configured != deployed:
            self.add(name, "mismatch", f"{setting} is {configured}, but the stack made {deployed}")
            return False
        return True

    # -- the resources behind the stacks

    def check_bucket(self):
        s3 = self.client("s3")
        bucket = self.outputs.get("bucket", {}).get("BucketName") or self.setting("ANNEX_DEFAULT_S3_BUCKET")
        if not bucket or not self._compare("bucket", "ANNEX_DEFAULT_S3_BUCKET", "bucket", "BucketName"):
            return
        try:
            s3.head_bucket(aws_retry=True, Bucket=bucket)
        except is_boto3_error_code(["404", "NoSuchBucket", "NotFound", "403"]):
            self.add("bucket", "missing", f"{bucket} does not exist (or is not this account's)")
            return
        self.add("bucket", "ok", bucket)
        try:
            block = s3.get_public_access_block(aws_retry=True, Bucket=bucket)["PublicAccessBlockConfiguration"]
        except is_boto3_error_code("NoSuchPublicAccessBlockConfiguration"):
            block = {}
        open_settings = [k for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
                         if not block.get(k)]
        self.add("bucket public access block", "problem" if open_settings else "ok",
                 f"not set: {', '.join(open_settings)}" if open_settings else "all four settings on")
        try:
            rules = s3.get_bucket_encryption(aws_retry=True, Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        except is_boto3_error_code("ServerSideEncryptionConfigurationNotFoundError"):
            rules = []
        algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
        algorithms = [a for a in algorithms if a]
        self.add("bucket encryption", "ok" if algorithms else "problem",
                 ", ".join(algorithms) if algorithms else "no default encryption")

    def check_functions(self):
        lam = self.client("lambda")
        for label, setting, output in (("ODI", "ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN", "OdiLeaseFunctionArn"),
                                       ("SFR", "ANNEX_DEFAULT_SFR_LEASE_FUNCTION_ARN", "SfrLeaseFunctionArn")):
            name = f"{label} lease function"
            arn = self.setting(setting) or self.outputs.get("lambda", {}).get(output)
            if not arn or not self._compare(name, setting, "lambda", output):
                continue
            try:
                config = lam.get_function(aws_retry=True, FunctionName=arn)["Configuration"]
            except is_boto3_error_code("ResourceNotFoundException"):
                self.add(name, "missing", f"{arn} does not exist")
                continue
            problems = []
            if config.get("Runtime") not in self.supported_runtimes:
                problems.append(f"runtime {config.get('Runtime')} is not one AWS supports "
                                f"({', '.join(self.supported_runtimes)})")
            try:
                policy = json.loads(lam.get_policy(aws_retry=True, FunctionName=arn)["Policy"])
            except is_boto3_error_code("ResourceNotFoundException"):
                policy = {}
            principals = [str(s.get("Principal", {}).get("Service", s.get("Principal")))
                          for s in statements(policy, missing_ok=True) if s.get("Effect") == "Allow"] if policy else []
            if "events.amazonaws.com" not in principals:
                problems.append("EventBridge (events.amazonaws.com) may not invoke it")
            problems += self.lease_role_problems(config.get("Role", ""))
            self.add(name, "problem" if problems else "ok",
                     "; ".join(problems) if problems else f"{arn} ({config.get('Runtime')}, {config.get('Handler')})")

    def check_connectivity_function(self):
        """The function condor_annex -count invokes before it launches: without it, no stock launch starts."""
        lam = self.client("lambda")
        name = "connectivity function"
        arn = self.setting("ANNEX_DEFAULT_CONNECTIVITY_FUNCTION_ARN") or STOCK_CONNECTIVITY_FUNCTION
        if not self._compare(name, "ANNEX_DEFAULT_CONNECTIVITY_FUNCTION_ARN", "lambda", "ConnectivityFunctionArn"):
            return
        try:
            config = lam.get_function(aws_retry=True, FunctionName=arn)["Configuration"]
        except is_boto3_error_code("ResourceNotFoundException"):
            self.add(name, "missing", f"{arn} does not exist: condor_annex -count invokes it before every launch, "
                                      "and launches nothing without it")
            return
        problems = []
        if config.get("Runtime") not in self.supported_runtimes:
            problems.append(f"runtime {config.get('Runtime')} is not one AWS supports")
        problems += list(self.role_problems(config.get("Role", ""),
                                            allowed=("logs:CreateLogStream", "logs:PutLogEvents")))
        self.add(name, "problem" if problems else "ok",
                 "; ".join(problems) if problems else f"{arn} ({config.get('Runtime')}, {config.get('Handler')})")

    def role_statements(self, role_arn):
        """(problems, [(policy name, Allow statement)]) for a role's inline policies; a missing role or an attached
        managed policy is a problem."""
        iam = self.client("iam")
        role = role_arn.rsplit("/", 1)[-1]
        try:
            names = iam.list_role_policies(aws_retry=True, RoleName=role).get("PolicyNames") or []
            attached = iam.list_attached_role_policies(aws_retry=True, RoleName=role).get("AttachedPolicies") or []
        except is_boto3_error_code("NoSuchEntity"):
            return [f"its role {role} does not exist"], []
        problems = [f"its role has managed policies attached: {', '.join(p['PolicyName'] for p in attached)}"] if attached else []
        allows = []
        for policy_name in names:
            document = iam.get_role_policy(aws_retry=True, RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            allows += [(policy_name, st) for st in statements(document, missing_ok=True)
                       if st.get("Effect") == "Allow"]
        return problems, allows

    def role_problems(self, role_arn, allowed):
        """Actions a role's inline policies allow beyond allowed, and any managed policy attached to it."""
        problems, allows = self.role_statements(role_arn)
        for policy_name, statement in allows:
            extra = sorted(set(_as_list(statement.get("Action", []))) - set(allowed))
            if extra:
                problems.append(f"its role's {policy_name} allows {', '.join(extra)}, and it calls no AWS API")
        return problems

    def stock_nodes(self):
        """Whether a node that the stock condor_annex -count launches on this setup joins the pool, and what it
        lacks."""
        password_file = self.setting("SEC_PASSWORD_FILE")
        try:
            empty = not password_file or os.path.getsize(os.path.expanduser(password_file)) == 0
        except OSError:
            empty = True
        lacks = list(STOCK_NODES_LACK) if empty else [STOCK_NODES_LACK[0]]
        return {"joins_pool": False, "lacks": lacks,
                "summary": "Annexes launched by the stock condor_annex -count start and end by their lease on this "
                           "setup, but their nodes do not join the pool; they lack " + "; and ".join(lacks) +
                           ". playbooks/annex_launch.yml launches annexes whose nodes join."}

    def lease_role_problems(self, role_arn):
        """What the lease functions' role may do beyond its job: any wildcard action, or terminating or stopping
        instances that are neither an annex's (htcondor:AnnexName) nor a leased cluster's (managed-by and
        cloudburst:lease-action)."""
        problems, allows = self.role_statements(role_arn)
        for policy_name, statement in allows:
            actions = _as_list(statement.get("Action", []))
            if any("*" in action for action in actions):
                problems.append(f"its role's {policy_name} allows {', '.join(a for a in actions if '*' in a)}")
            condition = json.dumps(statement.get("Condition") or {})
            # An annex's instances, or a leased cluster's (managed by this collection, with the lease's action).
            scoped = "htcondor:AnnexName" in condition or (
                "cloudburst:lease-action" in condition and "managed-by" in condition)
            if {"ec2:TerminateInstances", "ec2:StopInstances"} & set(actions) and not scoped:
                problems.append(f"its role's {policy_name} may end instances of any kind, not only annexes' and "
                                "leased clusters'")
        return problems

    def check_profile(self):
        iam = self.client("iam")
        arn = self.setting("ANNEX_DEFAULT_ODI_INSTANCE_PROFILE_ARN") or self.outputs.get("profile", {}).get(
            "InstanceProfileArn")
        if not arn or not self._compare("instance profile", "ANNEX_DEFAULT_ODI_INSTANCE_PROFILE_ARN", "profile",
                                        "InstanceProfileArn"):
            return
        try:
            profile = iam.get_instance_profile(aws_retry=True, InstanceProfileName=arn.rsplit("/", 1)[-1])[
                "InstanceProfile"]
        except is_boto3_error_code("NoSuchEntity"):
            self.add("instance profile", "missing", f"{arn} does not exist")
            return
        if profile["Arn"] != arn:
            self.add("instance profile", "mismatch", f"the config names {arn}, the account has {profile['Arn']}")
            return
        roles = profile.get("Roles") or []
        if len(roles) != 1:
            self.add("instance profile", "problem", f"{arn} holds {len(roles)} roles instead of one")
            return
        bucket = self.setting("ANNEX_DEFAULT_S3_BUCKET") or self.outputs.get("bucket", {}).get("BucketName") or ""
        problems = []
        role = roles[0]["RoleName"]
        if iam.list_attached_role_policies(aws_retry=True, RoleName=role).get("AttachedPolicies"):
            problems.append("managed policies are attached to its role")
        for policy_name in iam.list_role_policies(aws_retry=True, RoleName=role).get("PolicyNames") or []:
            document = iam.get_role_policy(aws_retry=True, RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            for statement in statements(document, missing_ok=True):
                if statement.get("Effect") != "Allow":
                    continue
                actions = _as_list(statement.get("Action", []))
                resources = _as_list(statement.get("Resource", []))
                if set(actions) - {"s3:GetObject"}:
                    problems.append(f"{policy_name} allows {', '.join(sorted(set(actions) - {'s3:GetObject'}))}")
                wide = [r for r in resources if not re.match(rf"^arn:[a-z-]+:s3:::{re.escape(bucket)}/config-", r)]
                if wide:
                    problems.append(f"{policy_name} reads beyond {bucket}/config-*: {', '.join(wide)}")
        self.add("instance profile", "problem" if problems else "ok",
                 "; ".join(problems) if problems else f"{arn} (role {role}: s3:GetObject on {bucket}/config-* only)")

    def check_security_group(self):
        ec2 = self.client("ec2")
        configured = self.setting("ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS")
        ids = [i.strip() for i in (configured or self.outputs.get("security_group", {}).get("SecurityGroupId", "")).split(",")
               if i.strip()]
        if not ids or not self._compare("security group", "ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS", "security_group",
                                        "SecurityGroupId"):
            return
        for group_id in ids:
            try:
                group = ec2.describe_security_groups(aws_retry=True, GroupIds=[group_id])["SecurityGroups"][0]
            except is_boto3_error_code(["InvalidGroup.NotFound", "InvalidGroupId.Malformed"]):
                self.add("security group", "missing", f"{group_id} does not exist")
                continue
            problems, sources = [], {22: set(), 9618: set()}
            for rule in group.get("IpPermissions") or []:
                cidrs = [r["CidrIp"] for r in rule.get("IpRanges") or []] + [
                    r["CidrIpv6"] for r in rule.get("Ipv6Ranges") or []]
                ports = (rule.get("FromPort"), rule.get("ToPort"))
                if any(_world(c) for c in cidrs):
                    problems.append(f"ports {ports[0]}-{ports[1]} are open to the whole internet")
                if rule.get("IpProtocol") == "tcp" and ports[0] == ports[1] and ports[0] in sources:
                    sources[ports[0]].update(cidrs)
                else:
                    problems.append(f"unexpected rule {rule.get('IpProtocol')} {ports[0]}-{ports[1]} from "
                                    f"{', '.join(cidrs) or 'other groups'}")
            for port, wanted, label in ((9618, self.central_manager_cidrs, "the central manager"),
                                        (22, self.ssh_allowlist, "the SSH allow-list")):
                if wanted is not None and sources[port] != set(wanted):
                    problems.append(f"port {port} is open to {', '.join(sorted(sources[port])) or 'nobody'}, "
                                    f"{label} is {', '.join(sorted(wanted)) or 'empty'}")
            self.add("security group", "problem" if problems else "ok",
                     "; ".join(problems) if problems else
                     f"{group_id}: 9618 from {', '.join(sorted(sources[9618]))}; 22 from {', '.join(sorted(sources[22]))}")

    def check_key_pair(self):
        name = self.setting("ANNEX_DEFAULT_ODI_KEY_NAME")
        if not name:
            return
        pairs = self.client("ec2").describe_key_pairs(aws_retry=True, Filters=[{"Name": "key-name", "Values": [name]}])
        self.add("key pair", "ok" if pairs.get("KeyPairs") else "missing", name)

    def run(self):
        self.check_config()
        if not self.region:
            return
        self.check_stacks()
        self.check_bucket()
        self.check_functions()
        self.check_connectivity_function()
        self.check_profile()
        self.check_security_group()
        self.check_key_pair()
