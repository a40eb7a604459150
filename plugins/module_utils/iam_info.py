# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read-only views of IAM users and access keys for the *_info modules."""

from __future__ import annotations

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_path_prefix
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_user_name
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import allowed_cidrs
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import restriction_policy_names


def describe_key(meta, now=None):
    """An access key as the modules report it: id, status, creation date and age in whole days."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    created = meta["CreateDate"]
    return {
        "access_key_id": meta["AccessKeyId"],
        "status": meta["Status"],
        "create_date": created.isoformat(),
        "age_days": (now - created).days,
    }


@AWSRetry.jittered_backoff()
def _paginate(client, operation, result_key, **kwargs):
    return client.get_paginator(operation).paginate(**kwargs).build_full_result()[result_key]


def get_user(client, name):
    """The user as GetUser returns it, or None. GetUser leaves Tags out when there are none."""
    try:
        user = client.get_user(UserName=name, aws_retry=True)["User"]
    except is_boto3_error_code("NoSuchEntity"):
        return None
    user.setdefault("Tags", [])
    return user


def list_users(client, name=None, path_prefix="/"):
    if name:
        user = get_user(client, name)
        return [user] if user else []
    return _paginate(client, "list_users", "Users", PathPrefix=path_prefix)


def describe_user(client, user):
    """The one read of a user, shared by iam_user and iam_user_info: every list paginated, dates in ISO 8601.

    The restriction of ours is found by its statement id in whichever inline policy holds it, so the inline
    policies' documents are read too; they are returned under "inline_policies", which public_user() drops.
    """
    name = user["UserName"]
    tags = user.get("Tags")
    if tags is None:  # ListUsers leaves tags out
        tags = _paginate(client, "list_user_tags", "Tags", UserName=name)
    inline_names = _paginate(client, "list_user_policies", "PolicyNames", UserName=name)
    documents = {policy_name: client.get_user_policy(UserName=name, PolicyName=policy_name, aws_retry=True)[
        "PolicyDocument"] for policy_name in inline_names}
    holders = restriction_policy_names(documents)
    allowlist = allowed_cidrs(documents[holders[0]]) if holders else None
    create_date = user.get("CreateDate")
    return {
        "user_name": name,
        "user_id": user.get("UserId"),
        "arn": user["Arn"],
        "path": user.get("Path", "/"),
        "create_date": create_date.isoformat() if hasattr(create_date, "isoformat") else create_date,
        "tags": boto3_tag_list_to_ansible_dict(tags),
        "permissions_boundary": (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        "managed_policies": sorted(p["PolicyArn"] for p in
                                   _paginate(client, "list_attached_user_policies", "AttachedPolicies", UserName=name)),
        "inline_policy_names": sorted(inline_names),
        "groups": sorted(g["GroupName"] for g in _paginate(client, "list_groups_for_user", "Groups", UserName=name)),
        "source_ip_restricted": allowlist is not None,
        "source_ip_allowlist": allowlist,
        "source_ip_policy_names": holders,
        "inline_policies": documents,
    }


def public_user(state):
    """A user's state as the modules return it: policy documents stay out of results and diffs."""
    if state is None:
        return None
    return {key: value for key, value in state.items() if key != "inline_policies"}


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


class UserInfoManager(IamManager):
    """iam_user_info: one user, or every user under a path, as public_user() shows it."""

    failure = "Could not describe IAM users"
    reports_changes = False

    def validate(self):
        # Bad input is refused rather than answered with an empty list that looks like "no such user".
        if self.params["name"] is not None:
            validate_user_name(self.params["name"])
        validate_path_prefix(self.params["path_prefix"])

    def run(self):
        self.validate()
        users = [public_user(describe_user(self.client, user))
                 for user in list_users(self.client, self.params["name"], self.params["path_prefix"])]
        return {"changed": False, "users": users}


class AccessKeyInfoManager(IamManager):
    """iam_access_key_info: a user's keys with their age and last use."""

    reports_changes = False

    def run(self):
        user = self.params["user_name"]
        self.failure = f"Could not list the access keys of {user}"
        try:
            keys = describe_access_keys(self.client, user)
        except is_boto3_error_code("NoSuchEntity"):
            if not self.check_mode:
                raise IamInputError(f"IAM user {user!r} does not exist")
            self.warnings.append(f"IAM user {user} does not exist (yet); in a real run this task fails if it still "
                                 "does not")
            keys = []
        return {"changed": False, "access_keys": keys}
