# -*- coding: utf-8 -*-
"""How a failed CreateAccessKey is read: only a refusal stops, only an unknown outcome makes us look for a lost key."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionClosedError
from botocore.exceptions import ReadTimeoutError

from ansible_collections.cloudburst.aws.plugins.module_utils.access_key_delivery import aws_error_text
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_access_key import create_outcome


def client_error(status, code):
    return ClientError({"Error": {"Code": code, "Message": f"{code} here"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "CreateAccessKey")


@pytest.mark.parametrize("error, outcome", [
    (client_error(503, "ServiceUnavailable"), "unknown"),
    (client_error(500, "ServiceFailure"), "unknown"),
    (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), "unknown"),
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), "unknown"),
    (client_error(400, "Throttling"), "throttled"),
    (client_error(409, "EntityTemporarilyUnmodifiable"), "throttled"),
    (client_error(403, "AccessDenied"), "refused"),
    (client_error(409, "LimitExceeded"), "refused"),
    (client_error(404, "NoSuchEntity"), "refused"),
])
def test_create_outcome(error, outcome):
    assert create_outcome(error) == outcome


def test_aws_error_text_names_code_and_message():
    assert aws_error_text(client_error(403, "AccessDenied")) == "AccessDenied: AccessDenied here"
