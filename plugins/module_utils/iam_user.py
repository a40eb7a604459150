# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_user: read a user's state once, compare, change only what differs.

Reads are limited to what the task asks to manage, so that a re-run with nothing to change makes few calls.
"""

from __future__ import annotations

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
    from botocore.parsers import ResponseParserError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import load_policy_document
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import managed_policy_candidates
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import partition_and_account
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import resolve_managed_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_path
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_user_name
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import SourceIpPolicyError
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import USER_INLINE_POLICY_LIMIT
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import allowed_cidrs
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import policy_size
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import source_ip_decision

ALLOW_EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def public(state):
    """A user's state as the module returns it: policy documents stay out of results and diffs."""
    if state is None:
        return None
    return {key: value for key, value in state.items() if key != "inline_policies"}


class IamUserManager:
    def __init__(self, module, client, sts_client):
        self.module = module
        self.client = client
        self.sts = sts_client
        self.params = module.params
        self.name = self.params["name"]
        self.check_mode = module.check_mode
        self.changes = []  # human-readable list of what was (or would be) done
        self.warnings = []
        self._caller = None

    # --- input ------------------------------------------------------------------------------------

    def validate(self):
        """Check every input before any call that changes something; raise IamInputError."""
        validate_user_name(self.name)
        if self.params["path"] is not None:
            validate_path(self.params["path"])
        self.inline = {}
        for policy_name, document in (self.params["inline_policies"] or {}).items():
            if policy_name == self.params["source_ip_policy_name"]:
                raise IamInputError(f"inline policy name {policy_name!r} is reserved for the source IP restriction")
            self.inline[policy_name] = load_policy_document(policy_name, document)
        self.restriction = None
        if self.params["source_ip_allowlist"] is not None:
            try:
                self.restriction, warnings = build_source_ip_policy(self.params["source_ip_allowlist"])
            except SourceIpPolicyError as exc:
                raise IamInputError(str(exc))
            self.warnings.extend(warnings)
        if self.params["controller_ip"] and self.restriction is None:
            raise IamInputError("controller_ip is only used with source_ip_allowlist")

    # --- reading ----------------------------------------------------------------------------------

    def caller(self):
        if self._caller is None:
            self._caller = self.sts.get_caller_identity(aws_retry=True)
        return self._caller

    def get_user(self):
        try:
            return self.client.get_user(UserName=self.name, aws_retry=True)["User"]
        except is_boto3_error_code("NoSuchEntity"):
            return None

    def read_state(self, user):
        """The parts of the user's state this task manages (all of them for the result's `user`)."""
        state = {
            "user_name": user["UserName"],
            "user_id": user.get("UserId"),
            "arn": user["Arn"],
            "path": user.get("Path", "/"),
            "create_date": str(user.get("CreateDate", "")),
            "tags": boto3_tag_list_to_ansible_dict(user.get("Tags", [])),
            "permissions_boundary": (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        }
        attached = self.client.list_attached_user_policies(UserName=self.name, aws_retry=True)["AttachedPolicies"]
        state["managed_policies"] = sorted(p["PolicyArn"] for p in attached)
        names = self.client.list_user_policies(UserName=self.name, aws_retry=True)["PolicyNames"]
        state["inline_policy_names"] = sorted(names)
        state["inline_policies"] = {}
        wanted = set(self.inline) | {self.params["source_ip_policy_name"]}
        for policy_name in names:
            if policy_name in wanted:
                state["inline_policies"][policy_name] = self.client.get_user_policy(
                    UserName=self.name, PolicyName=policy_name, aws_retry=True)["PolicyDocument"]
        restriction = state["inline_policies"].get(self.params["source_ip_policy_name"])
        state["source_ip_allowlist"] = allowed_cidrs(restriction) if restriction else None
        if self.params["groups"] is not None:
            groups = self.client.list_groups_for_user(UserName=self.name, aws_retry=True)["Groups"]
            state["groups"] = sorted(g["GroupName"] for g in groups)
        return state

    # --- present ----------------------------------------------------------------------------------

    def ensure_present(self):
        user = self.get_user()
        before = self.read_state(user) if user else None
        if user:
            partition, account = partition_and_account(user["Arn"])
        else:
            partition, account = partition_and_account(self.caller()["Arn"])
        self.partition, self.account = partition, account
        user_arn = user["Arn"] if user else f"arn:{partition}:iam::{account}:user{self.params['path'] or '/'}{self.name}"
        self.user_arn = user_arn
        unchanged = before is not None and self.restriction is not None and \
            before["source_ip_allowlist"] == allowed_cidrs(self.restriction)
        self.lockout_guard(user_arn, restriction_changes=not unchanged)
        self.preflight(before)

        if user is None:
            self.create_user()
            current = {"managed_policies": [], "inline_policy_names": [], "inline_policies": {}, "groups": [],
                       "tags": self.params["tags"] or {}, "permissions_boundary": self.boundary,
                       "path": self.params["path"] or "/", "source_ip_allowlist": None}
        else:
            current = before
            self.update_path(current)
            self.update_tags(current)
            self.update_boundary(current)
        self.update_managed_policies(current)
        self.update_inline_policies(current)
        self.update_groups(current)

        if self.check_mode or not self.changes:
            after = self.predict_after(before, current)
        else:
            after = self.read_state(self.get_user())
        return public(before), public(after)

    def preflight(self, current):
        """Resolve every reference (policies, boundary, groups) before the first write, so that bad input
        fails with nothing changed."""
        attached = set(current["managed_policies"]) if current else set()
        self.resolved = {}
        for ref in self.params["managed_policies"] or []:
            candidates = managed_policy_candidates(ref, self.partition, self.account)
            if not any(arn in attached for arn in candidates):
                self.resolved[ref] = self.resolve_policy(ref)
        self.boundary = self.desired_boundary(current["permissions_boundary"] if current else None)
        wanted, final_names = self.planned_inline(current)
        self.check_inline_size(current or {"inline_policies": {}}, wanted, final_names)
        have = set(current.get("groups", [])) if current else set()
        for group in sorted(set(self.params["groups"] or []) - have):
            try:
                self.client.get_group(GroupName=group, MaxItems=1, aws_retry=True)
            except is_boto3_error_code("NoSuchEntity"):
                raise IamInputError(f"group {group!r} does not exist")

    def create_user(self):
        kwargs = {"UserName": self.name, "Path": self.params["path"] or "/"}
        if self.params["tags"]:
            kwargs["Tags"] = ansible_dict_to_boto3_tag_list(self.params["tags"])
        if self.boundary:
            kwargs["PermissionsBoundary"] = self.boundary
        self.changes.append(f"create user {self.name}")
        if not self.check_mode:
            self.client.create_user(aws_retry=True, **kwargs)

    def update_path(self, current):
        path = self.params["path"]
        if path is not None and path != current["path"]:
            self.changes.append(f"move user to path {path}")
            if not self.check_mode:
                self.client.update_user(UserName=self.name, NewPath=path, aws_retry=True)

    def update_tags(self, current):
        if self.params["tags"] is None:
            return
        to_set, to_remove = compare_aws_tags(current["tags"], self.params["tags"], self.params["purge_tags"])
        if to_set:
            self.changes.append(f"tag user with {sorted(to_set)}")
            if not self.check_mode:
                self.client.tag_user(UserName=self.name, Tags=ansible_dict_to_boto3_tag_list(to_set), aws_retry=True)
        if to_remove:
            self.changes.append(f"remove tags {sorted(to_remove)}")
            if not self.check_mode:
                self.client.untag_user(UserName=self.name, TagKeys=to_remove, aws_retry=True)

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
            self.changes.append("remove the permissions boundary")
            if not self.check_mode:
                self.client.delete_user_permissions_boundary(UserName=self.name, aws_retry=True)
        else:
            self.changes.append(f"set the permissions boundary {wanted}")
            if not self.check_mode:
                self.client.put_user_permissions_boundary(UserName=self.name, PermissionsBoundary=wanted,
                                                          aws_retry=True)

    def update_managed_policies(self, current):
        wanted_refs = self.params["managed_policies"]
        if wanted_refs is None:
            return
        attached = set(current["managed_policies"])
        keep = set()
        for ref in wanted_refs:
            candidates = managed_policy_candidates(ref, self.partition, self.account)
            already = [arn for arn in candidates if arn in attached]
            if already:
                keep.add(already[0])
                continue
            arn = self.resolved[ref]
            keep.add(arn)
            self.changes.append(f"attach managed policy {arn}")
            if not self.check_mode:
                self.client.attach_user_policy(UserName=self.name, PolicyArn=arn, aws_retry=True)
        if self.params["purge_managed_policies"]:
            for arn in sorted(attached - keep):
                self.changes.append(f"detach managed policy {arn}")
                if not self.check_mode:
                    self.client.detach_user_policy(UserName=self.name, PolicyArn=arn, aws_retry=True)
        current["wanted_managed_policies"] = sorted(keep | (set() if self.params["purge_managed_policies"] else attached))

    def resolve_policy(self, ref):
        try:
            return resolve_managed_policy(self.client, ref, self.partition, self.account)
        except IamInputError:
            if self.check_mode and ref.startswith("arn:"):
                # In a check run an earlier task may only have predicted this policy's creation.
                self.warnings.append(f"managed policy {ref} does not exist (yet); a real run fails if it still does not")
                return ref
            raise

    def planned_inline(self, current):
        """(wanted documents by name, the names the user will have) for the inline policies."""
        restriction_name = self.params["source_ip_policy_name"]
        wanted = dict(self.inline)
        if self.restriction is not None:
            wanted[restriction_name] = self.restriction
        final_names = set(current["inline_policy_names"]) if current else set()
        if self.params["inline_policies"] is not None and self.params["purge_inline_policies"]:
            # The restriction is managed by source_ip_allowlist, never purged as a stray policy.
            final_names = {n for n in final_names if n in wanted or n == restriction_name}
        return wanted, final_names | set(wanted)

    def update_inline_policies(self, current):
        wanted, final_names = self.planned_inline(current)
        for policy_name, document in wanted.items():
            existing = current["inline_policies"].get(policy_name)
            if existing is not None and not compare_policies(existing, document):
                continue
            verb = "update" if existing is not None else "add"
            self.changes.append(f"{verb} inline policy {policy_name}")
            if not self.check_mode:
                import json

                self.client.put_user_policy(UserName=self.name, PolicyName=policy_name,
                                            PolicyDocument=json.dumps(document), aws_retry=True)
        for policy_name in sorted(set(current["inline_policy_names"]) - final_names):
            self.changes.append(f"delete inline policy {policy_name}")
            if not self.check_mode:
                self.client.delete_user_policy(UserName=self.name, PolicyName=policy_name, aws_retry=True)
        current["wanted_inline_policy_names"] = sorted(final_names)

    def check_inline_size(self, current, wanted, final_names):
        total = 0
        for policy_name in final_names:
            document = wanted.get(policy_name) or current["inline_policies"].get(policy_name)
            if document is not None:
                total += policy_size(document)
        if total > USER_INLINE_POLICY_LIMIT:
            raise IamInputError(
                f"the user's inline policies would total {total} characters, over IAM's limit of "
                f"{USER_INLINE_POLICY_LIMIT} characters per user; move some statements into a managed policy"
            )

    def update_groups(self, current):
        wanted = self.params["groups"]
        if wanted is None:
            return
        have = set(current.get("groups", []))
        for group in sorted(set(wanted) - have):
            self.changes.append(f"add user to group {group}")
            if not self.check_mode:
                self.client.add_user_to_group(UserName=self.name, GroupName=group, aws_retry=True)
        final = set(wanted) | (set() if self.params["purge_groups"] else have)
        for group in sorted(have - final):
            self.changes.append(f"remove user from group {group}")
            if not self.check_mode:
                self.client.remove_user_from_group(UserName=self.name, GroupName=group, aws_retry=True)
        current["wanted_groups"] = sorted(final)

    def predict_after(self, before, current):
        after = dict(before or {})
        after.update({
            "user_name": self.name,
            "arn": self.user_arn,
            "path": self.params["path"] or current["path"],
            "managed_policies": current.get("wanted_managed_policies", current["managed_policies"]),
            "inline_policy_names": current.get("wanted_inline_policy_names", current["inline_policy_names"]),
            "permissions_boundary": self.boundary,
        })
        after.pop("inline_policies", None)
        if self.params["tags"] is not None:
            tags = dict(current["tags"]) if not self.params["purge_tags"] else {}
            tags.update(self.params["tags"])
            after["tags"] = tags
        if "wanted_groups" in current:
            after["groups"] = current["wanted_groups"]
        after["source_ip_allowlist"] = (allowed_cidrs(self.restriction) if self.restriction
                                        else current.get("source_ip_allowlist"))
        return after

    # --- the lockout guard ------------------------------------------------------------------------

    def lockout_guard(self, user_arn, restriction_changes=True):
        """Refuse a restriction that would lock out this play's identity or the controller's address.

        The caller's identity (one STS call) matters only when the restriction is about to change."""
        if self.restriction is None or self.params["allow_lockout"]:
            return
        cidrs = allowed_cidrs(self.restriction)
        controller_ip = self.params["controller_ip"]
        if controller_ip:
            documents = [ALLOW_EVERYTHING, self.restriction]
            try:
                decision = source_ip_decision(documents, controller_ip.split("/")[0])
            except SourceIpPolicyError as exc:
                raise IamInputError(f"controller_ip: {exc}")
            if decision == "Deny":
                raise IamInputError(
                    f"the controller's address {controller_ip} is outside the allow-list {cidrs}: user "
                    f"{self.name} could no longer be used from this controller. Add the address to "
                    "source_ip_allowlist, or set allow_lockout: true if that is what you want"
                )
        if restriction_changes and not controller_ip and self.caller()["Arn"] == user_arn:
            raise IamInputError(
                f"this play runs as {user_arn}, the user being restricted to {cidrs}, and no controller_ip "
                "shows that the controller stays inside; pass controller_ip (from cloudburst.aws.public_ip_info) "
                "or set allow_lockout: true"
            )

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
        user = self.get_user()
        if user is None:
            return None, None
        before = public(self.read_state(user))
        self.remove_dependents()
        self.changes.append(f"delete user {self.name}")
        if not self.check_mode:
            self.client.delete_user(UserName=self.name, aws_retry=True)
        return before, None

    def remove_dependents(self):
        """Everything AWS requires gone before DeleteUser, so that it never stops at DeleteConflict."""
        c, name, check = self.client, self.name, self.check_mode
        for key in c.list_access_keys(UserName=name, aws_retry=True)["AccessKeyMetadata"]:
            self.changes.append(f"delete access key {key['AccessKeyId']}")
            if not check:
                c.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], aws_retry=True)
        for device in c.list_mfa_devices(UserName=name, aws_retry=True)["MFADevices"]:
            serial = device["SerialNumber"]
            self.changes.append(f"deactivate MFA device {serial}")
            if not check:
                c.deactivate_mfa_device(UserName=name, SerialNumber=serial, aws_retry=True)
                if ":mfa/" in serial:  # a virtual device belongs to the account; it is deleted with the user
                    c.delete_virtual_mfa_device(SerialNumber=serial, aws_retry=True)
        try:
            c.get_login_profile(UserName=name, aws_retry=True)
            self.changes.append("delete the console password")
            if not check:
                c.delete_login_profile(UserName=name, aws_retry=True)
        except is_boto3_error_code("NoSuchEntity"):
            pass
        for policy_name in c.list_user_policies(UserName=name, aws_retry=True)["PolicyNames"]:
            self.changes.append(f"delete inline policy {policy_name}")
            if not check:
                c.delete_user_policy(UserName=name, PolicyName=policy_name, aws_retry=True)
        for policy in c.list_attached_user_policies(UserName=name, aws_retry=True)["AttachedPolicies"]:
            self.changes.append(f"detach managed policy {policy['PolicyArn']}")
            if not check:
                c.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"], aws_retry=True)
        for group in c.list_groups_for_user(UserName=name, aws_retry=True)["Groups"]:
            self.changes.append(f"remove user from group {group['GroupName']}")
            if not check:
                c.remove_user_from_group(UserName=name, GroupName=group["GroupName"], aws_retry=True)
        for cert in c.list_signing_certificates(UserName=name, aws_retry=True)["Certificates"]:
            self.changes.append(f"delete signing certificate {cert['CertificateId']}")
            if not check:
                c.delete_signing_certificate(UserName=name, CertificateId=cert["CertificateId"], aws_retry=True)
        for key in c.list_ssh_public_keys(UserName=name, aws_retry=True)["SSHPublicKeys"]:
            self.changes.append(f"delete SSH public key {key['SSHPublicKeyId']}")
            if not check:
                c.delete_ssh_public_key(UserName=name, SSHPublicKeyId=key["SSHPublicKeyId"], aws_retry=True)
        for cred in self.service_specific_credentials():
            cred_id = cred["ServiceSpecificCredentialId"]
            self.changes.append(f"delete service credential {cred_id}")
            if not check:
                c.delete_service_specific_credential(UserName=name, ServiceSpecificCredentialId=cred_id,
                                                     aws_retry=True)
