# -*- coding: utf-8 -*-
"""When the rig's schedules fire (tests/rig/schedules.py): rate, cron and at() expressions, the first firing, missed
periods, and who EventBridge may invoke. tests/integration/test_schedules.py runs functions for real."""

from __future__ import annotations

import datetime

import pytest

from rig import schedules

UTC = datetime.timezone.utc


def t(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


@pytest.mark.parametrize("expression, seconds", [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)])
def test_rates(expression, seconds):
    assert schedules.rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(5 weeks)", "rate(five minutes)"])
def test_bad_rates_are_refused(expression):
    with pytest.raises(schedules.ScheduleError):
        schedules.rate_seconds(expression)


@pytest.mark.parametrize("expression, after, expected", [
    ("cron(0 12 * * ? *)", "2026-03-01 11:59:00", "2026-03-01 12:00:00"),
    ("cron(0 12 * * ? *)", "2026-03-01 12:00:00", "2026-03-02 12:00:00"),
    ("cron(0/15 * * * ? *)", "2026-03-01 10:07:30", "2026-03-01 10:15:00"),
    ("cron(15 10 ? * MON-FRI *)", "2026-03-06 10:15:00", "2026-03-09 10:15:00"),  # Friday -> Monday
    ("cron(0 18 ? * 1 *)", "2026-03-01 19:00:00", "2026-03-08 18:00:00"),  # 1 is Sunday in AWS's cron
    ("cron(0 0 L * ? *)", "2026-02-10 00:00:00", "2026-02-28 00:00:00"),
    ("cron(0 8 1 JAN,JUL ? 2027)", "2026-03-01 00:00:00", "2027-01-01 08:00:00"),
    ("cron(5,35 14 * * ? *)", "2026-03-01 14:05:00", "2026-03-01 14:35:00"),
])
def test_cron_next_times(expression, after, expected):
    assert schedules.next_due(expression, t(after)) == t(expected)


def test_cron_in_a_schedules_time_zone():
    # 09:00 in Helsinki (UTC+2 in March) is 07:00 UTC.
    assert schedules.next_due("cron(0 9 * * ? *)", t("2026-03-01 00:00:00"), timezone="Europe/Helsinki") == \
        t("2026-03-01 07:00:00")


@pytest.mark.parametrize("expression, message", [
    ("cron(0 12 * * * *)", "exactly one"), ("cron(0 12 ? * ? *)", "exactly one"), ("cron(0 12 * *)", "6 fields"),
    ("cron(0 12 15W * ? *)", "not supported"), ("cron(0 12 ? * 6#3 *)", "not supported"),
    ("cron(0 12 ? * 6L *)", "not supported"), ("cron(61 12 * * ? *)", "outside"),
])
def test_unsupported_or_wrong_cron_is_refused_by_name(expression, message):
    with pytest.raises(schedules.ScheduleError, match=message):
        schedules.next_due(expression, t("2026-03-01 00:00:00"))


class Clockless(schedules.ScheduleRunner):
    def __init__(self):  # no moto: only the clock logic
        self.due, self.done = {}, set()


def test_a_rate_fires_one_period_after_it_is_first_seen_then_every_period_and_missed_ones_once():
    runner, key = Clockless(), ("arn:rule", "rate(5 minutes)")
    assert not runner.is_due(key, "rate(5 minutes)", t("2026-03-01 10:00:00"))
    assert not runner.is_due(key, "rate(5 minutes)", t("2026-03-01 10:04:59"))
    assert runner.is_due(key, "rate(5 minutes)", t("2026-03-01 10:05:00"))
    assert not runner.is_due(key, "rate(5 minutes)", t("2026-03-01 10:06:00"))
    # Busy for twenty minutes: one firing, then the clock is back on its five-minute grid.
    assert runner.is_due(key, "rate(5 minutes)", t("2026-03-01 10:27:00"))
    assert runner.due[key] == t("2026-03-01 10:30:00")


def test_an_at_schedule_fires_once_at_its_time():
    runner, key = Clockless(), ("arn:schedule", "at(2026-03-01T10:00:30)")
    assert not runner.is_due(key, key[1], t("2026-03-01 10:00:00"))
    assert runner.is_due(key, key[1], t("2026-03-01 10:00:31"))
    assert not runner.is_due(key, key[1], t("2026-03-01 11:00:00"))


def test_a_scheduler_rate_counts_from_its_creation():
    runner, key = Clockless(), ("arn:schedule", "rate(1 minute)")
    assert runner.is_due(key, key[1], t("2026-03-01 10:01:10"), since=t("2026-03-01 10:00:00"))


FUNCTION = "arn:aws:lambda:eu-north-1:123456789012:function:AnnexSetup-odi-lease"
RULE = "arn:aws:events:eu-north-1:123456789012:rule/HTCondorAnnex-a-lease"


def permission(source_arn, account="123456789012", effect="Allow", service="events.amazonaws.com"):
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "s", "Effect": effect, "Principal": {"Service": service}, "Action": "lambda:InvokeFunction",
        "Resource": FUNCTION,
        "Condition": {"ArnLike": {"AWS:SourceArn": source_arn}, "StringEquals": {"AWS:SourceAccount": account}}}]}


@pytest.mark.parametrize("policy, allowed", [
    (permission("arn:aws:events:eu-north-1:123456789012:rule/HTCondorAnnex-*"), True),
    (permission("arn:aws:events:eu-north-1:123456789012:rule/other-*"), False),
    (permission("arn:aws:events:eu-north-1:123456789012:rule/HTCondorAnnex-*", account="999999999999"), False),
    (permission("arn:aws:events:eu-north-1:123456789012:rule/*", service="s3.amazonaws.com"), False),
    (None, False),
])
def test_eventbridge_invokes_only_what_the_functions_policy_allows(policy, allowed):
    assert schedules.events_may_invoke(policy, FUNCTION, RULE, "123456789012")[0] is allowed
