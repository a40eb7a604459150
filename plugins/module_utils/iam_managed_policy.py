# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_managed_policy."""

from __future__ import annotations

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import POLICY_NAME_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import load_policy_document
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import partition_and_account
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_path
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import policy_size

# IAM keeps at most five versions of a managed policy, and a managed policy's document is at most
# 6,144 characters without white space.
MAX_POLICY_VERSIONS = 5
MANAGED_POLICY_LIMIT = 6144


class ManagedPolicyManager:
    def __init__(self, module, client, sts_client):
        self.module = module
        self.client = client
        self.sts = sts_client
        self.params = module.params
        self.name = self.params["name"]
        self.check_mode = module.check_mode
        self.changes = []

    def validate(self):
        if not POLICY_NAME_PATTERN.match(self.name):
            raise IamInputError(f"{self.name!r} is not a valid policy name: use 1 to 128 letters, digits and +=,.@_-")
        validate_path(self.params["path"])
        self.document = None
        if self.params["state"] == "present":
            if self.params["policy"] is None:
                raise IamInputError("policy is required with state: present")
            self.document = load_policy_document(self.name, self.params["policy"])
            size = policy_size(self.document)
            if size > MANAGED_POLICY_LIMIT:
                raise IamInputError(f"policy {self.name!r} is {size} characters, over IAM's limit of "
                                    f"{MANAGED_POLICY_LIMIT} characters for a managed policy")

    def arn(self):
        partition, account = partition_and_account(self.sts.get_caller_identity(aws_retry=True)["Arn"])
        return f"arn:{partition}:iam::{account}:policy{self.params['path']}{self.name}"

    def get_policy(self, arn):
        try:
            return self.client.get_policy(PolicyArn=arn, aws_retry=True)["Policy"]
        except is_boto3_error_code("NoSuchEntity"):
            return None

    def default_document(self, policy):
        version = self.client.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"],
                                                 aws_retry=True)["PolicyVersion"]
        document = version["Document"]
        return json.loads(document) if isinstance(document, str) else document

    def describe(self, policy, document):
        return {
            "policy_name": policy["PolicyName"],
            "arn": policy["Arn"],
            "path": policy.get("Path", "/"),
            "description": policy.get("Description", ""),
            "default_version_id": policy.get("DefaultVersionId"),
            "attachment_count": policy.get("AttachmentCount", 0),
            "tags": boto3_tag_list_to_ansible_dict(policy.get("Tags", [])),
            "document": document,
        }

    def ensure_present(self):
        arn = self.arn()
        policy = self.get_policy(arn)
        if policy is None:
            self.changes.append(f"create managed policy {arn}")
            after = {"policy_name": self.name, "arn": arn, "path": self.params["path"],
                     "description": self.params["description"] or "", "default_version_id": "v1",
                     "attachment_count": 0, "tags": self.params["tags"] or {}, "document": self.document}
            if not self.check_mode:
                kwargs = dict(PolicyName=self.name, Path=self.params["path"], PolicyDocument=json.dumps(self.document))
                if self.params["description"]:
                    kwargs["Description"] = self.params["description"]
                if self.params["tags"]:
                    kwargs["Tags"] = ansible_dict_to_boto3_tag_list(self.params["tags"])
                after = self.describe(self.client.create_policy(aws_retry=True, **kwargs)["Policy"], self.document)
            return None, after

        before = self.describe(policy, self.default_document(policy))
        after = dict(before)
        if compare_policies(before["document"], self.document):
            self.new_version(policy)
            after["document"] = self.document
        if self.params["tags"] is not None:
            to_set, to_remove = compare_aws_tags(before["tags"], self.params["tags"], self.params["purge_tags"])
            if to_set:
                self.changes.append(f"tag policy with {sorted(to_set)}")
                if not self.check_mode:
                    self.client.tag_policy(PolicyArn=arn, Tags=ansible_dict_to_boto3_tag_list(to_set), aws_retry=True)
            if to_remove:
                self.changes.append(f"remove tags {sorted(to_remove)}")
                if not self.check_mode:
                    self.client.untag_policy(PolicyArn=arn, TagKeys=to_remove, aws_retry=True)
            after["tags"] = {k: v for k, v in {**before["tags"], **to_set}.items() if k not in to_remove}
        if self.params["description"] and self.params["description"] != before["description"]:
            self.module.warn("IAM cannot change a managed policy's description after creation; it was left as it is")
        if self.changes and not self.check_mode:
            after = self.describe(self.get_policy(arn), self.document)
        return before, after

    def new_version(self, policy):
        arn = policy["Arn"]
        versions = self.client.list_policy_versions(PolicyArn=arn, aws_retry=True)["Versions"]
        if len(versions) >= MAX_POLICY_VERSIONS:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            self.changes.append(f"delete the oldest policy version {oldest['VersionId']} (IAM keeps five)")
            if not self.check_mode:
                self.client.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"], aws_retry=True)
        self.changes.append("create a new default policy version")
        if not self.check_mode:
            self.client.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(self.document),
                                              SetAsDefault=True, aws_retry=True)

    def ensure_absent(self):
        arn = self.arn()
        policy = self.get_policy(arn)
        if policy is None:
            return None, None
        before = self.describe(policy, self.default_document(policy))
        c, check = self.client, self.check_mode
        entities = c.list_entities_for_policy(PolicyArn=arn, aws_retry=True)
        for user in entities.get("PolicyUsers", []):
            self.changes.append(f"detach from user {user['UserName']}")
            if not check:
                c.detach_user_policy(UserName=user["UserName"], PolicyArn=arn, aws_retry=True)
        for group in entities.get("PolicyGroups", []):
            self.changes.append(f"detach from group {group['GroupName']}")
            if not check:
                c.detach_group_policy(GroupName=group["GroupName"], PolicyArn=arn, aws_retry=True)
        for role in entities.get("PolicyRoles", []):
            self.changes.append(f"detach from role {role['RoleName']}")
            if not check:
                c.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn, aws_retry=True)
        for version in c.list_policy_versions(PolicyArn=arn, aws_retry=True)["Versions"]:
            if not version["IsDefaultVersion"]:
                self.changes.append(f"delete policy version {version['VersionId']}")
                if not check:
                    c.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"], aws_retry=True)
        self.changes.append(f"delete managed policy {arn}")
        if not check:
            c.delete_policy(PolicyArn=arn, aws_retry=True)
        return before, None
