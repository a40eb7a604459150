# -*- coding: utf-8 -*-
"""A CreateAccessKey whose answer was lost, on an IAM that lists the new key only some time later.

moto is immediately consistent: its ListAccessKeys shows a key at once, so the integration tests
(test_iam_access_key_faults.py, with tests/rig/faultproxy.py) cannot show real AWS's delayed visibility. Here
botocore's Stubber plays IAM with that delay: the one place where moto cannot show the behaviour.
"""
from __future__ import annotations

import datetime
import types

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.cloudburst.aws.plugins.module_utils import iam_access_key
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_access_key import AccessKeyManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError

USER = "annex-user"
CREATED = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
OLD, LOST, NEW = "UNITTESTKEYOLD00001", "UNITTESTKEYLOST0002", "UNITTESTKEYNEW00003"


class FakeModule:
    def __init__(self):
        self.params = {"user_name": USER}
        self.check_mode = False
        self._diff = False
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


class Retrying:
    """The client AWSRetry wraps takes aws_retry=True; the stubbed one does not."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(*args, aws_retry=False, **kwargs):
            return method(*args, **kwargs)
        return call


def meta(key_id):
    return {"UserName": USER, "AccessKeyId": key_id, "Status": "Active", "CreateDate": CREATED}


@pytest.fixture
def iam(monkeypatch):
    """(manager, stubber, sleeps): one stubbed client for every call, in order; no real sleeping."""
    sleeps = []
    monkeypatch.setattr(iam_access_key, "time", types.SimpleNamespace(sleep=sleeps.append))
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="unit", aws_secret_access_key="unit")
    with Stubber(client) as stub:
        yield AccessKeyManager(FakeModule(), Retrying(client), create_client=client), stub, sleeps
        stub.assert_no_pending_responses()


def lost_create(stub):
    stub.add_client_error("create_access_key", service_error_code="ServiceUnavailable", http_status_code=503,
                          expected_params={"UserName": USER})


def listing(stub, *key_ids):
    stub.add_response("list_access_keys", {"AccessKeyMetadata": [meta(k) for k in key_ids]}, {"UserName": USER})


def created(stub, key_id):
    stub.add_response("create_access_key", {"AccessKey": dict(meta(key_id), SecretAccessKey="not-a-secret")},
                      {"UserName": USER})


def deleted(stub, key_id):
    stub.add_response("delete_access_key", {}, {"UserName": USER, "AccessKeyId": key_id})


def test_a_lost_key_listed_only_on_the_third_look_is_deleted_before_the_next_try(iam):
    manager, stub, sleeps = iam
    lost_create(stub)
    listing(stub, OLD)
    listing(stub, OLD)
    listing(stub, OLD, LOST)  # IAM lists the lost call's key 3 seconds later
    deleted(stub, LOST)
    created(stub, NEW)
    key = manager.create_key([meta(OLD)])
    assert key["AccessKeyId"] == NEW
    assert manager.out["deleted_access_key_ids"] == [LOST]
    assert sleeps == [1.0, 2.0, 1.0]  # two listing pauses, then the pause before the next CreateAccessKey
    assert any(f"access key {LOST} of user {USER}" in w and "nobody holds its secret" in w
               for w in manager.module.warnings)


def test_no_try_that_could_be_a_third_key_while_a_lost_key_is_unseen(iam):
    manager, stub, sleeps = iam
    lost_create(stub)
    for _look in range(4):
        listing(stub, OLD)  # never shows the lost call's key
    with pytest.raises(IamInputError) as failure:
        manager.create_key([meta(OLD)])
    message = str(failure.value)
    assert "listed for 7 seconds since, show no key that it made" in message
    assert "another try could be a third key: none is made" in message
    assert "the destinations are unchanged" in message
    assert sleeps == [1.0, 2.0, 4.0]  # and no second CreateAccessKey: the Stubber has none queued


def test_a_lost_key_that_appears_after_the_next_try_succeeded_is_deleted_too(iam):
    manager, stub, sleeps = iam
    lost_create(stub)
    for _look in range(4):
        listing(stub)
    created(stub, NEW)  # no key before: a second one fits within IAM's two
    listing(stub, NEW, LOST)
    deleted(stub, LOST)
    key = manager.create_key([])
    assert key["AccessKeyId"] == NEW and manager.out["deleted_access_key_ids"] == [LOST]


def test_a_lost_key_never_listed_after_the_next_try_is_warned_about(iam):
    manager, stub, sleeps = iam
    lost_create(stub)
    for _look in range(4):
        listing(stub)
    created(stub, NEW)
    for _look in range(4):
        listing(stub)  # not even the new key yet
    assert manager.create_key([])["AccessKeyId"] == NEW
    (warning,) = manager.module.warnings
    assert "IAM does not list the new key" in warning and "delete it" in warning


def test_a_lost_key_listed_at_once_costs_no_pause(iam):
    manager, stub, sleeps = iam
    lost_create(stub)
    listing(stub, OLD, LOST)
    deleted(stub, LOST)
    created(stub, NEW)
    assert manager.create_key([meta(OLD)])["AccessKeyId"] == NEW
    assert sleeps == [1.0]
