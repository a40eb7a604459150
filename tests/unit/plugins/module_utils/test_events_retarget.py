# -*- coding: utf-8 -*-
"""events_retarget: every rule that targets an old ARN gets the new one, with its id and input kept."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.cloudburst.aws.plugins.module_utils.events_retarget import RetargetError
from ansible_collections.cloudburst.aws.plugins.module_utils.events_retarget import check_moves
from ansible_collections.cloudburst.aws.plugins.module_utils.events_retarget import retarget

OLD = "arn:aws:lambda:us-east-1:123456789012:function:HTCondorAnnex-LambdaFunctions-odi-lease"
NEW = "arn:aws:lambda:us-east-1:123456789012:function:AnnexSetup-odi-lease"
OTHER = "arn:aws:sqs:us-east-1:123456789012:other"


@pytest.fixture
def events():
    return boto3.client("events", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def stub_listing(stubber, rules, targets, puts=None):
    """The names over two pages, then each rule's targets (and, when puts has it, the PutTargets that follows)."""
    stubber.add_response("list_rule_names_by_target", {"RuleNames": rules[:1], "NextToken": "t"}, {"TargetArn": OLD})
    stubber.add_response("list_rule_names_by_target", {"RuleNames": rules[1:]}, {"TargetArn": OLD, "NextToken": "t"})
    for rule in rules:
        stubber.add_response("list_targets_by_rule", {"Targets": targets[rule]}, {"Rule": rule})
        if puts and rule in puts:
            stubber.add_response("put_targets", {"FailedEntryCount": 0, "FailedEntries": []},
                                 {"Rule": rule, "Targets": puts[rule]})


def test_moves_every_target_of_the_old_arn_on_every_page_and_keeps_the_rest(events):
    targets = {"HTCondorAnnex-a-lease": [{"Id": "annex-lease", "Arn": OLD, "Input": '{"annex_name": "a"}'},
                                         {"Id": "queue", "Arn": OTHER}],
               "b_0001": [{"Id": "b_0001", "Arn": OLD, "Input": '{"AnnexID": "b_0001"}'}]}
    puts = {"HTCondorAnnex-a-lease": [{"Id": "annex-lease", "Arn": NEW, "Input": '{"annex_name": "a"}'}],
            "b_0001": [{"Id": "b_0001", "Arn": NEW, "Input": '{"AnnexID": "b_0001"}'}]}
    with Stubber(events) as stubber:
        stub_listing(stubber, list(targets), targets, puts)
        moved = retarget(events, [(OLD, NEW)], check_mode=False)
        stubber.assert_no_pending_responses()
    assert moved == [{"rule": "HTCondorAnnex-a-lease", "target_ids": ["annex-lease"], "from": OLD, "to": NEW},
                     {"rule": "b_0001", "target_ids": ["b_0001"], "from": OLD, "to": NEW}]


def test_check_mode_writes_nothing_and_a_refusal_is_an_error(events):
    targets = {"r": [{"Id": "x", "Arn": OLD}]}
    with Stubber(events) as stubber:
        stub_listing(stubber, ["r"], targets)
        assert retarget(events, [(OLD, NEW)], check_mode=True)[0]["rule"] == "r"
        stubber.assert_no_pending_responses()
    with Stubber(events) as stubber:
        stub_listing(stubber, ["r"], targets)
        stubber.add_response("put_targets", {"FailedEntryCount": 1, "FailedEntries": [
            {"TargetId": "x", "ErrorCode": "ValidationException", "ErrorMessage": "no"}]})
        with pytest.raises(RetargetError, match="rule r refused the new target .*: x: no"):
            retarget(events, [(OLD, NEW)], check_mode=False)


def test_moves_must_name_arns_and_a_move_to_itself_is_none():
    assert check_moves([{"from": OLD, "to": OLD}]) == []
    with pytest.raises(RetargetError, match="'function:x' is not an ARN"):
        check_moves([{"from": "function:x", "to": NEW}])
