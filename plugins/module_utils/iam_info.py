# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read-only views of IAM users and access keys for the *_info modules."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_access_key import describe_key
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import allowed_cidrs


@AWSRetry.jittered_backoff()
def _paginate(client, operation, result_key, **kwargs):
    return client.get_paginator(operation).paginate(**kwargs).build_full_result()[result_key]


def list_users(client, name=None, path_prefix="/"):
    if name:
        try:
            return [client.get_user(UserName=name, aws_retry=True)["User"]]
        except is_boto3_error_code("NoSuchEntity"):
            return []
    return _paginate(client, "list_users", "Users", PathPrefix=path_prefix)


def describe_user(client, user, restriction_name):
    name = user["UserName"]
    tags = user.get("Tags")
    if tags is None:  # ListUsers leaves tags out
        tags = _paginate(client, "list_user_tags", "Tags", UserName=name)
    inline_names = _paginate(client, "list_user_policies", "PolicyNames", UserName=name)
    allowlist = None
    if restriction_name in inline_names:
        document = client.get_user_policy(UserName=name, PolicyName=restriction_name, aws_retry=True)["PolicyDocument"]
        allowlist = allowed_cidrs(document)
    return {
        "user_name": name,
        "user_id": user.get("UserId"),
        "arn": user["Arn"],
        "path": user.get("Path", "/"),
        "create_date": user["CreateDate"].isoformat(),
        "tags": boto3_tag_list_to_ansible_dict(tags),
        "permissions_boundary": (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        "managed_policies": sorted(p["PolicyArn"] for p in
                                   _paginate(client, "list_attached_user_policies", "AttachedPolicies", UserName=name)),
        "inline_policy_names": sorted(inline_names),
        "groups": sorted(g["GroupName"] for g in _paginate(client, "list_groups_for_user", "Groups", UserName=name)),
        "source_ip_restricted": allowlist is not None,
        "source_ip_allowlist": allowlist,
    }


def describe_access_keys(client, user_name):
    keys = _paginate(client, "list_access_keys", "AccessKeyMetadata", UserName=user_name)
    described = []
    for key in sorted(keys, key=lambda k: k["CreateDate"]):
        info = describe_key(key)
        used = client.get_access_key_last_used(AccessKeyId=key["AccessKeyId"], aws_retry=True).get("AccessKeyLastUsed", {})
        info.update(
            last_used_date=used["LastUsedDate"].isoformat() if used.get("LastUsedDate") else None,
            last_used_service=used.get("ServiceName") if used.get("ServiceName") != "N/A" else None,
            last_used_region=used.get("Region") if used.get("Region") != "N/A" else None,
        )
        described.append(info)
    return described
