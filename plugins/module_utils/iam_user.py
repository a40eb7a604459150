# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_user: read a user's state once, plan, guard, change only what differs.

The user is read by iam_info.describe_user, the same read as iam_user_info's. Every write goes through
IamManager.change(), so check mode is honoured in one place.
"""

from __future__ import annotations

import ipaddress
import json

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
    from botocore.parsers import ResponseParserError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import POLICY_NAME_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import load_policy_document
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import partition_and_account
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_path
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_tags
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_user_name
from ansible_collections.cloudburst.aws.plugins.module_utils.mfa_policy import build_require_mfa_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import _paginate as paginate
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_user_guard import LockoutGuardMixin
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import describe_user
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import get_user
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import public_user
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import RESTRICTION_SID
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import SourceIpPolicyError
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import USER_INLINE_POLICY_LIMIT
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import allowed_cidrs
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import policy_size
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import restriction_policy_names
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import without_restriction

# IAM is eventually consistent: a user just created may not be found at once. Wait up to two minutes
# (amazon.aws's iam_user waits the same way, with botocore's user_exists waiter).
USER_EXISTS_WAITER = {"Delay": 2, "MaxAttempts": 60}


def managed_policy_candidates(name_or_arn, partition, account_id):
    """The ARNs a managed policy reference may mean: itself if it is an ARN; otherwise the AWS managed
    policy of that name (with an optional path such as service-role/NAME), then this account's own."""
    if name_or_arn.startswith("arn:"):
        return [name_or_arn]
    name = name_or_arn.strip("/")
    return [f"arn:{partition}:iam::aws:policy/{name}", f"arn:{partition}:iam::{account_id}:policy/{name}"]


def resolve_managed_policy(client, name_or_arn, partition, account_id):
    """The ARN of an existing managed policy, or raise IamInputError naming what was tried."""
    candidates = managed_policy_candidates(name_or_arn, partition, account_id)
    for arn in candidates:
        try:
            client.get_policy(PolicyArn=arn, aws_retry=True)
            return arn
        except is_boto3_error_code("NoSuchEntity"):
            continue
    raise IamInputError(f"unknown managed policy {name_or_arn!r}: no policy at {' or '.join(candidates)}")


class IamUserManager(LockoutGuardMixin, IamManager):
    def __init__(self, module, client, sts_client):
        super().__init__(module, client, sts_client)
        self.name = self.params["name"]
        self._caller = None

    # --- input ------------------------------------------------------------------------------------

    def validate(self):
        """Check every input before any call that changes something; raise IamInputError."""
        validate_user_name(self.name)
        if self.params["path"] is not None:
            validate_path(self.params["path"])
        validate_tags(self.params["tags"])
        restriction_name = self.params["source_ip_policy_name"]
        if not POLICY_NAME_PATTERN.match(restriction_name or ""):
            raise IamInputError(f"source_ip_policy_name {restriction_name!r} is not a valid IAM policy name: use 1 "
                                "to 128 letters, digits and the characters +=,.@_-")
        self.inline = {}
        mfa_name = self.params["require_mfa_policy_name"]
        if not POLICY_NAME_PATTERN.match(mfa_name or ""):
            raise IamInputError(f"require_mfa_policy_name {mfa_name!r} is not a valid IAM policy name")
        for policy_name, document in (self.params["inline_policies"] or {}).items():
            if not POLICY_NAME_PATTERN.match(policy_name):
                raise IamInputError(f"inline policy name {policy_name!r} is not a valid IAM policy name: use 1 "
                                    "to 128 letters, digits and the characters +=,.@_-")
            if policy_name == restriction_name:
                raise IamInputError(f"inline policy name {policy_name!r} is reserved for the source IP restriction")
            if self.params["require_mfa"] is not None and policy_name == self.params["require_mfa_policy_name"]:
                raise IamInputError(f"inline policy name {policy_name!r} is reserved for the require-MFA policy "
                                    "(require_mfa)")
            document = load_policy_document(policy_name, document)
            try:
                has_restriction = allowed_cidrs(document) is not None
            except SourceIpPolicyError as exc:
                raise IamInputError(f"inline policy {policy_name!r}: {exc}")
            if has_restriction:
                raise IamInputError(f"inline policy {policy_name!r} uses the statement id {RESTRICTION_SID}, which "
                                    "is reserved for the restriction that source_ip_allowlist manages")
            self.inline[policy_name] = document
        self.restriction = None
        if self.params["source_ip_allowlist"] is not None:
            try:
                self.restriction, warnings = build_source_ip_policy(
                    self.params["source_ip_allowlist"], allow_wide_prefixes=self.params["allow_wide_prefixes"])
            except SourceIpPolicyError as exc:
                raise IamInputError(str(exc))
            self.warnings.extend(warnings)
        controller_ip = self.params["controller_ip"]
        if controller_ip:
            if self.restriction is None:
                raise IamInputError("controller_ip is only used with source_ip_allowlist")
            try:
                ipaddress.ip_address(controller_ip.strip())
            except ValueError:
                raise IamInputError(
                    f"controller_ip {controller_ip!r} must be one IPv4 or IPv6 address, not a network or a name; "
                    "use the ip (not the cidr) of cloudburst.aws.public_ip_info")
            self.controller_ip = controller_ip.strip()

    # --- reading ----------------------------------------------------------------------------------

    def caller(self):
        if self._caller is None:
            self._caller = self.sts.get_caller_identity(aws_retry=True)
        return self._caller

    def read(self):
        user = get_user(self.client, self.name)
        return describe_user(self.client, user) if user else None

    # --- present ----------------------------------------------------------------------------------

    def ensure_present(self):
        before = self.read()
        if before:
            self.partition, self.account = partition_and_account(before["arn"])
            self.user_arn = before["arn"]
        else:
            self.partition, self.account = partition_and_account(self.caller()["Arn"])
            self.user_arn = f"arn:{self.partition}:iam::{self.account}:user{self.params['path'] or '/'}{self.name}"
        self.add_require_mfa()
        self.preflight(before)
        self.lockout_guard(before)

        if before is None:
            self.create_user()
            current = {"managed_policies": [], "inline_policies": {}, "groups": [], "tags": self.params["tags"] or {},
                       "permissions_boundary": self.boundary, "path": self.params["path"] or "/"}
        else:
            current = before
            self.update_path(current)
            self.update_tags(current)
            self.update_boundary(current)
        self.update_managed_policies()
        self.update_inline_policies()
        self.update_groups()

        if not self.changes:
            after = before
        elif self.check_mode:
            after = self.predict_after(before, current)
        else:
            after = self.read()
        return public_user(before), public_user(after)

    def preflight(self, current):
        """Resolve every reference (policies, boundary, groups) and plan every change before the first write,
        so that bad input fails with nothing changed."""
        attached = set(current["managed_policies"]) if current else set()
        self.to_attach, keep = [], set()
        for ref in self.params["managed_policies"] or []:
            candidates = managed_policy_candidates(ref, self.partition, self.account)
            already = [arn for arn in candidates if arn in attached]
            arn = already[0] if already else self.resolve_policy(ref)
            if not already and arn not in self.to_attach:
                self.to_attach.append(arn)
            keep.add(arn)
        if self.params["managed_policies"] is None or not self.params["purge_managed_policies"]:
            keep |= attached
        self.to_detach = sorted(attached - keep)
        self.final_managed = sorted(keep)

        self.boundary = self.desired_boundary(current["permissions_boundary"] if current else None)
        self.plan_inline(current["inline_policies"] if current else {})

        have = set(current["groups"]) if current else set()
        wanted = self.params["groups"]
        self.groups_to_add = sorted(set(wanted or []) - have)
        final = have | set(wanted or []) if wanted is None or not self.params["purge_groups"] else set(wanted)
        self.groups_to_remove = sorted(have - final)
        self.final_groups = sorted(final)
        for group in self.groups_to_add:
            try:
                self.client.get_group(GroupName=group, MaxItems=1, aws_retry=True)
            except is_boto3_error_code("NoSuchEntity"):
                raise IamInputError(f"group {group!r} does not exist")

    def add_require_mfa(self):
        """require_mfa: true manages the require-MFA policy as one more inline policy of the user."""
        if self.params["require_mfa"]:
            self.inline[self.params["require_mfa_policy_name"]] = build_require_mfa_policy(self.partition)

    def plan_inline(self, documents):
        """Plan the inline policies: what to put, what to delete, and the documents the user ends with.

        A user has one restriction of ours: an earlier one is found by its statement id in whichever policy
        holds it (source_ip_policy_name may have changed) and removed from there."""
        restriction_name = self.params["source_ip_policy_name"]
        wanted = dict(self.inline)
        if self.restriction is not None:
            wanted[restriction_name] = self.restriction
        self.puts, self.deletes = {}, []
        self.inline_before = set(documents)
        final = dict(documents)
        for policy_name, document in wanted.items():
            existing = documents.get(policy_name)
            if existing is None or compare_policies(existing, document):
                self.puts[policy_name] = document
            final[policy_name] = document
        holders = restriction_policy_names(documents)
        if self.restriction is not None:
            for policy_name in holders:
                if policy_name in wanted:
                    continue
                rest = without_restriction(documents[policy_name])
                if rest is None:
                    self.deletes.append(policy_name)
                    del final[policy_name]
                else:
                    self.puts[policy_name] = final[policy_name] = rest
        if self.params["inline_policies"] is not None and self.params["purge_inline_policies"]:
            # A restriction of ours is managed by source_ip_allowlist, never purged as a stray policy.
            for policy_name in sorted(documents):
                if policy_name in final and policy_name not in wanted and policy_name not in holders \
                        and policy_name != restriction_name:
                    self.deletes.append(policy_name)
                    del final[policy_name]
        mfa_name = self.params["require_mfa_policy_name"]
        if self.params["require_mfa"] is False and mfa_name in final and mfa_name not in self.deletes:
            self.deletes.append(mfa_name)
            del final[mfa_name]
        self.final_inline = final
        self.restriction_moves = self.restriction is not None and (
            restriction_name in self.puts or any(name in holders for name in list(self.puts) + self.deletes))
        total = sum(policy_size(document) for document in final.values())
        if total > USER_INLINE_POLICY_LIMIT:
            raise IamInputError(
                f"the user's inline policies would total {total} characters, over IAM's limit of "
                f"{USER_INLINE_POLICY_LIMIT} characters per user; move some statements into a managed policy"
            )

    def create_user(self):
        kwargs = {"UserName": self.name, "Path": self.params["path"] or "/"}
        if self.params["tags"]:
            kwargs["Tags"] = ansible_dict_to_boto3_tag_list(self.params["tags"])
        if self.boundary:
            kwargs["PermissionsBoundary"] = self.boundary
        self.change(f"create user {self.name}", self.client.create_user, **kwargs)
        if not self.check_mode:
            # The next calls name the user; on real AWS they may not find it yet.
            self.client.get_waiter("user_exists").wait(UserName=self.name, WaiterConfig=USER_EXISTS_WAITER)

    def update_path(self, current):
        path = self.params["path"]
        if path is not None and path != current["path"]:
            self.change(f"move user to path {path}", self.client.update_user, UserName=self.name, NewPath=path)

    def update_tags(self, current):
        if self.params["tags"] is None:
            return
        to_set, to_remove = compare_aws_tags(current["tags"], self.params["tags"], self.params["purge_tags"])
        if to_set:
            self.change(f"tag user with {sorted(to_set)}", self.client.tag_user, UserName=self.name,
                        Tags=ansible_dict_to_boto3_tag_list(to_set))
        if to_remove:
            self.change(f"remove tags {sorted(to_remove)}", self.client.untag_user, UserName=self.name,
                        TagKeys=to_remove)

    def desired_boundary(self, current_arn):
        wanted = self.params["permissions_boundary"]
        if wanted is None:
            return current_arn
        if wanted == "":
            return None
        candidates = managed_policy_candidates(wanted, self.partition, self.account)
        if current_arn in candidates:
            return current_arn
        return resolve_managed_policy(self.client, wanted, self.partition, self.account)

    def update_boundary(self, current):
        wanted = self.boundary
        if wanted == current["permissions_boundary"]:
            return
        if wanted is None:
            self.change("remove the permissions boundary", self.client.delete_user_permissions_boundary,
                        UserName=self.name)
        else:
            self.change(f"set the permissions boundary {wanted}", self.client.put_user_permissions_boundary,
                        UserName=self.name, PermissionsBoundary=wanted)

    def update_managed_policies(self):
        for arn in self.to_attach:
            self.change(f"attach managed policy {arn}", self.client.attach_user_policy, UserName=self.name,
                        PolicyArn=arn)
        for arn in self.to_detach:
            self.change(f"detach managed policy {arn}", self.client.detach_user_policy, UserName=self.name,
                        PolicyArn=arn)

    def resolve_policy(self, ref):
        try:
            return resolve_managed_policy(self.client, ref, self.partition, self.account)
        except IamInputError:
            if self.check_mode and ref.startswith("arn:"):
                # In a check run an earlier task may only have predicted this policy's creation.
                self.warnings.append(f"managed policy {ref} does not exist (yet); a real run fails if it still does not")
                return ref
            raise

    def update_inline_policies(self):
        # The new restriction is in place before an earlier one elsewhere is removed.
        for policy_name, document in self.puts.items():
            verb = "update" if policy_name in self.inline_before else "add"
            self.change(f"{verb} inline policy {policy_name}", self.client.put_user_policy, UserName=self.name,
                        PolicyName=policy_name, PolicyDocument=json.dumps(document))
        for policy_name in self.deletes:
            self.change(f"delete inline policy {policy_name}", self.client.delete_user_policy, UserName=self.name,
                        PolicyName=policy_name)

    def update_groups(self):
        for group in self.groups_to_add:
            self.change(f"add user to group {group}", self.client.add_user_to_group, UserName=self.name,
                        GroupName=group)
        for group in self.groups_to_remove:
            self.change(f"remove user from group {group}", self.client.remove_user_from_group, UserName=self.name,
                        GroupName=group)

    def predict_after(self, before, current):
        after = dict(before or {"user_id": None, "create_date": None})
        holders = restriction_policy_names(self.final_inline)
        allowlist = allowed_cidrs(self.final_inline[holders[0]]) if holders else None
        after.update({
            "user_name": self.name,
            "arn": self.user_arn,
            "path": self.params["path"] or current["path"],
            "managed_policies": self.final_managed,
            "inline_policy_names": sorted(self.final_inline),
            "groups": self.final_groups,
            "permissions_boundary": self.boundary,
            "source_ip_restricted": allowlist is not None,
            "source_ip_allowlist": allowlist,
            "source_ip_policy_names": holders,
        })
        if self.params["tags"] is not None:
            tags = dict(current["tags"]) if not self.params["purge_tags"] else {}
            tags.update(self.params["tags"])
            after["tags"] = tags
        else:
            after["tags"] = current["tags"]
        return after

    def service_specific_credentials(self):
        """Listed separately: some AWS-compatible endpoints (moto among them) do not implement this call.
        If it cannot be listed, say so; DeleteUser then names any credential that is really left."""
        try:
            return self.client.list_service_specific_credentials(UserName=self.name, aws_retry=True)[
                "ServiceSpecificCredentials"]
        except (BotoCoreError, ClientError, ResponseParserError) as exc:
            reason = str(exc).splitlines()[0][:160]
            self.warnings.append(f"could not list service-specific credentials of {self.name}: {reason}")
            return []

    # --- absent -----------------------------------------------------------------------------------

    def ensure_absent(self):
        before = self.read()
        if before is None:
            return None, None
        self.remove_dependents(before)
        self.change(f"delete user {self.name}", self.client.delete_user, UserName=self.name)
        return public_user(before), None

    def remove_dependents(self, state):
        """Everything AWS requires gone before DeleteUser, so that it never stops at DeleteConflict.
        state is describe_user's read: its policies and groups are complete lists. The other lists are paginated
        too: a user with more MFA devices or SSH keys than one page would otherwise keep DeleteUser failing."""
        c, name = self.client, self.name
        for key in paginate(c, "list_access_keys", "AccessKeyMetadata", UserName=name):
            self.change(f"delete access key {key['AccessKeyId']}", c.delete_access_key, UserName=name,
                        AccessKeyId=key["AccessKeyId"])
        for device in paginate(c, "list_mfa_devices", "MFADevices", UserName=name):
            serial = device["SerialNumber"]
            self.change(f"deactivate MFA device {serial}", c.deactivate_mfa_device, UserName=name, SerialNumber=serial)
            if ":mfa/" in serial:  # a virtual device belongs to the account; it goes with the user
                self.change(f"delete virtual MFA device {serial}", c.delete_virtual_mfa_device, SerialNumber=serial)
        try:
            c.get_login_profile(UserName=name, aws_retry=True)
            self.change("delete the console password", c.delete_login_profile, UserName=name)
        except is_boto3_error_code("NoSuchEntity"):
            pass
        for policy_name in state["inline_policy_names"]:
            self.change(f"delete inline policy {policy_name}", c.delete_user_policy, UserName=name,
                        PolicyName=policy_name)
        for arn in state["managed_policies"]:
            self.change(f"detach managed policy {arn}", c.detach_user_policy, UserName=name, PolicyArn=arn)
        for group in state["groups"]:
            self.change(f"remove user from group {group}", c.remove_user_from_group, UserName=name, GroupName=group)
        for cert in paginate(c, "list_signing_certificates", "Certificates", UserName=name):
            self.change(f"delete signing certificate {cert['CertificateId']}", c.delete_signing_certificate,
                        UserName=name, CertificateId=cert["CertificateId"])
        for key in paginate(c, "list_ssh_public_keys", "SSHPublicKeys", UserName=name):
            self.change(f"delete SSH public key {key['SSHPublicKeyId']}", c.delete_ssh_public_key, UserName=name,
                        SSHPublicKeyId=key["SSHPublicKeyId"])
        for cred in self.service_specific_credentials():
            cred_id = cred["ServiceSpecificCredentialId"]
            self.change(f"delete service credential {cred_id}", c.delete_service_specific_credential, UserName=name,
                        ServiceSpecificCredentialId=cred_id)
