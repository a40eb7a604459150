# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Small IAM helpers shared by this collection's IAM modules."""

from __future__ import annotations

import json
import re

try:
    from botocore.config import Config
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import AwsManager
from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError

# IAM's own rules for user names and paths.
USER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,64}\Z")
POLICY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,128}\Z")
PATH_PATTERN = re.compile(r"^/([\x21-\x7e]{0,510}/)?\Z")


class IamInputError(CloudburstError):
    """Bad module input, found before any AWS call that changes something."""


# IAM is global: its endpoint lives in us-east-1 (in the aws partition). Used when nothing gives a region, so
# that a custom endpoint_url alone is enough.
IAM_DEFAULT_REGION = "us-east-1"

# IAM is eventually consistent: besides throttling and 5xx (which AWSRetry always retries), a user or key
# that was just changed answers EntityTemporarilyUnmodifiable for a while, and two changes to one entity may
# collide (ConcurrentModification). amazon.aws's iam_user retries the first the same way.
IAM_RETRY_CODES = ["EntityTemporarilyUnmodifiable", "ConcurrentModification", "ServiceFailure"]


def iam_retry():
    return AWSRetry.jittered_backoff(catch_extra_error_codes=IAM_RETRY_CODES)


def _connect(module, service, retry_decorator, **extra):
    if not module.region:
        extra["region"] = IAM_DEFAULT_REGION
    return module.client(service, retry_decorator=retry_decorator, **extra)


def iam_client(module):
    """An IAM client whose calls retry (with aws_retry=True) on throttling, 5xx and IAM's eventual consistency."""
    return _connect(module, "iam", iam_retry())


def sts_client(module):
    """An STS client for the caller's identity, in IAM's default region when none is given."""
    return _connect(module, "sts", iam_retry())


def iam_client_without_retries(module):
    """An IAM client for calls that are not idempotent (CreateAccessKey): no AWSRetry, and botocore tries once.

    Retrying such a call after an unknown outcome (a 503 or a lost connection after AWS acted) would make a
    second object; the caller must look at what exists instead.
    """
    return _connect(module, "iam", None, config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


class IamManager(AwsManager):
    """The contract of aws_module.AwsManager for IAM: a removal that finds its object gone (NoSuchEntity) is
    done, and a failed call is an IAM call that failed."""

    failure = "IAM call failed for {what}"
    gone_codes = ("NoSuchEntity",)


def validate_user_name(name):
    if not isinstance(name, str) or not USER_NAME_PATTERN.match(name):
        raise IamInputError(
            f"{name!r} is not a valid IAM user name: use 1 to 64 letters, digits and the characters +=,.@_-"
        )


# A path prefix for listing (ListUsers): starts with / and holds printable ASCII; it need not end with /.
PATH_PREFIX_PATTERN = re.compile(r"/[\x21-\x7e]{0,511}\Z")


def validate_path_prefix(prefix):
    if not PATH_PREFIX_PATTERN.match(prefix or ""):
        raise IamInputError(f"path_prefix {prefix!r} must start with / and hold only printable ASCII")


def validate_path(path, what="path"):
    if not PATH_PATTERN.match(path or ""):
        raise IamInputError(f"{what} {path!r} must start and end with / and hold only printable ASCII")


# IAM's limits on tags (users, policies, roles): at most 50, keys 1-128 and values 0-256 characters, and
# the aws: prefix is reserved.
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def tag_key_problem(key):
    """Why IAM would refuse key as a tag key, or None."""
    key = str(key)
    if not 1 <= len(key) <= MAX_TAG_KEY:
        return f"is {len(key)} characters; IAM allows 1 to {MAX_TAG_KEY}"
    if key.lower().startswith("aws:"):
        return "uses the prefix aws:, which AWS reserves"
    return None


def tag_value_problem(value):
    """Why IAM would refuse value as a tag value, or None (no value is an empty one)."""
    value = "" if value is None else str(value)
    if len(value) > MAX_TAG_VALUE:
        return f"is {len(value)} characters; IAM allows at most {MAX_TAG_VALUE}"
    return None


def validate_tags(tags):
    """Raise IamInputError for tags IAM would refuse, so that nothing is written before the refusal."""
    if not tags:
        return
    if len(tags) > MAX_TAGS:
        raise IamInputError(f"{len(tags)} tags given; IAM allows at most {MAX_TAGS}")
    for key, value in tags.items():
        key = str(key)
        problem = tag_key_problem(key)
        if problem:
            shown = f"{key[:40]!r}..." if len(key) > 40 else repr(key)
            raise IamInputError(f"tag key {shown} {problem}")
        problem = tag_value_problem(value)
        if problem:
            raise IamInputError(f"the value of tag {key!r} {problem}")


def load_policy_document(name, document):
    """Return a policy document as a dict, from a dict or a JSON string; fail clearly on anything else."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise IamInputError(f"policy {name!r} is not valid JSON: {exc}")
    if not isinstance(document, dict) or "Statement" not in document:
        raise IamInputError(f"policy {name!r} must be a JSON object with a Statement")
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        # The shape the evaluators and IAM rely on; anything else is refused here, not met as a traceback later.
        if not isinstance(statement, dict):
            raise IamInputError(f"policy {name!r}: every Statement must be a JSON object")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise IamInputError(f"policy {name!r}: every statement needs Effect Allow or Deny")
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            value = statement.get(key)
            if value is not None and not (isinstance(value, str) or
                                          (isinstance(value, list) and all(isinstance(v, str) for v in value))):
                raise IamInputError(f"policy {name!r}: {key} must be a string or a list of strings")
        condition = statement.get("Condition")
        if condition is not None and not (isinstance(condition, dict) and
                                          all(isinstance(v, dict) for v in condition.values())):
            raise IamInputError(f"policy {name!r}: Condition must map operators to objects of condition keys")
    return document


def partition_and_account(arn):
    """('aws', '123456789012') from any IAM or STS ARN."""
    parts = arn.split(":")
    return parts[1], parts[4]
