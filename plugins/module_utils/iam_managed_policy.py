# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_managed_policy."""

from __future__ import annotations

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IAM_RETRY_CODES
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import POLICY_NAME_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import load_policy_document
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import partition_and_account
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_path
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_tags
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import policy_size
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import policy_document

# IAM keeps at most five versions of a managed policy, and a managed policy's document is at most
# 6,144 characters without white space.
MAX_POLICY_VERSIONS = 5
MANAGED_POLICY_LIMIT = 6144


class ManagedPolicyManager(IamManager):
    def __init__(self, module, client, sts_client):
        super().__init__(module, client, sts_client)
        self.name = self.params["name"]
        self.out = {}

    def validate(self):
        if not POLICY_NAME_PATTERN.match(self.name):
            raise IamInputError(f"{self.name!r} is not a valid policy name: use 1 to 128 letters, digits and +=,.@_-")
        validate_path(self.params["path"])
        validate_tags(self.params["tags"])
        self.document = None
        if self.params["state"] == "present":  # the argument spec requires policy then
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
        return policy_document(document, missing_ok=True)

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
            after = {"policy_name": self.name, "arn": arn, "path": self.params["path"],
                     "description": self.params["description"] or "", "default_version_id": "v1",
                     "attachment_count": 0, "tags": self.params["tags"] or {}, "document": self.document}
            kwargs = dict(PolicyName=self.name, Path=self.params["path"], PolicyDocument=json.dumps(self.document))
            if self.params["description"]:
                kwargs["Description"] = self.params["description"]
            if self.params["tags"]:
                kwargs["Tags"] = ansible_dict_to_boto3_tag_list(self.params["tags"])
            created = self.change(f"create managed policy {arn}", self.client.create_policy, **kwargs)
            if created is not None:
                after = self.describe(created["Policy"], self.document)
            return self.returned(None, after)

        before = self.describe(policy, self.default_document(policy))
        after = dict(before)
        if compare_policies(before["document"], self.document):
            self.new_version(policy)
            after["document"] = self.document
        if self.params["tags"] is not None:
            to_set, to_remove = compare_aws_tags(before["tags"], self.params["tags"], self.params["purge_tags"])
            if to_set:
                self.change(f"tag policy with {sorted(to_set)}", self.client.tag_policy, PolicyArn=arn,
                            Tags=ansible_dict_to_boto3_tag_list(to_set))
            if to_remove:
                self.change(f"remove tags {sorted(to_remove)}", self.client.untag_policy, PolicyArn=arn,
                            TagKeys=to_remove)
            after["tags"] = {k: v for k, v in {**before["tags"], **to_set}.items() if k not in to_remove}
        if self.params["description"] and self.params["description"] != before["description"]:
            self.module.warn("IAM cannot change a managed policy's description after creation; it was left as it is")
        if self.changes and not self.check_mode:
            after = self.describe(self.get_policy(arn), self.document)
        return self.returned(before, after)

    def returned(self, before, after):
        if after is not None:
            self.out["policy"] = after
        return before, after

    def new_version(self, policy):
        arn = policy["Arn"]
        versions = self.client.list_policy_versions(PolicyArn=arn, aws_retry=True)["Versions"]
        if len(versions) >= MAX_POLICY_VERSIONS:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            self.change(f"delete the oldest policy version {oldest['VersionId']} (IAM keeps five)",
                        self.client.delete_policy_version, PolicyArn=arn, VersionId=oldest["VersionId"])
        self.change("create a new default policy version", self.client.create_policy_version, PolicyArn=arn,
                    PolicyDocument=json.dumps(self.document), SetAsDefault=True)

    def ensure_absent(self):
        arn = self.arn()
        policy = self.get_policy(arn)
        if policy is None:
            return None, None
        before = self.describe(policy, self.default_document(policy))
        c = self.client
        entities = list_entities_for_policy(c, arn)
        for user in entities["PolicyUsers"]:
            self.change(f"detach from user {user['UserName']}", c.detach_user_policy, gone_ok=True,
                        UserName=user["UserName"], PolicyArn=arn)
        for group in entities["PolicyGroups"]:
            self.change(f"detach from group {group['GroupName']}", c.detach_group_policy, gone_ok=True,
                        GroupName=group["GroupName"], PolicyArn=arn)
        for role in entities["PolicyRoles"]:
            self.change(f"detach from role {role['RoleName']}", c.detach_role_policy, gone_ok=True,
                        RoleName=role["RoleName"], PolicyArn=arn)
        for version in c.list_policy_versions(PolicyArn=arn, aws_retry=True)["Versions"]:
            if not version["IsDefaultVersion"]:
                self.change(f"delete policy version {version['VersionId']}", c.delete_policy_version, gone_ok=True,
                            PolicyArn=arn, VersionId=version["VersionId"])
        self.change(f"delete managed policy {arn}", c.delete_policy, gone_ok=True, PolicyArn=arn)
        return before, None


@AWSRetry.jittered_backoff(catch_extra_error_codes=IAM_RETRY_CODES)
def list_entities_for_policy(client, arn):
    """Every user, group and role the policy is attached to, across all pages."""
    paginator = client.get_paginator("list_entities_for_policy")
    result = paginator.paginate(PolicyArn=arn).build_full_result()
    return {kind: result.get(kind, []) for kind in ("PolicyUsers", "PolicyGroups", "PolicyRoles")}
