# -*- coding: utf-8 -*-
"""Schedules fire in the rig: EventBridge rules and EventBridge Scheduler schedules in moto that come due run their
Lambda targets (tests/rig/lambdarun.py), as AWS would. moto stores both and fires neither.

One `tick(now)` reads moto and fires what is due:

- EventBridge rules (ListRules) with a ScheduleExpression and State ENABLED, on every event bus; each target that is
  a Lambda function gets the target's Input as its event (or, without Input, the "Scheduled Event" EventBridge
  sends). The function's resource policy must let events.amazonaws.com invoke it for this rule (its SourceArn and
  SourceAccount conditions, evaluated by the collection's policy evaluator), or EventBridge cannot invoke it and
  the rig does not either (it logs why).
- Scheduler schedules (ListSchedules, GetSchedule) with State ENABLED and a Lambda target: the target's Input as the
  event; an at() schedule fires once and, with ActionAfterCompletion DELETE, is deleted after. The schedule's
  RoleArn is not evaluated (moto does not evaluate IAM), nor are universal targets (aws-sdk:...) run: logged.
- Expressions: rate(N minute|minutes|hour|hours|day|days); cron(minutes hours day-of-month month day-of-week year)
  with *, ?, lists, ranges, steps, month and day names and L for the last day of the month (W, # and L in
  day-of-week are refused by name); at(yyyy-mm-ddThh:mm:ss). Rules are in UTC; schedules in their
  ScheduleExpressionTimezone.
- When: a rate rule first fires one period after the rig first sees it (a Scheduler schedule: after its
  CreationDate, or its StartDate), then every period; a cron one at its next time; an at() one at its time.
  Missed periods (the rig was busy) fire once, not once each. A disabled, deleted or changed rule forgets its
  clock: re-enabled, it starts again.

Functions run one after another in the runner's thread; a long one delays the next tick.
"""

from __future__ import annotations

import calendar
import datetime
import json
import re
import sys
import threading
import time
import uuid
import zoneinfo

from rig.lambdarun import LambdaRunError

UTC = datetime.timezone.utc
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\(\s*(.+?)\s*\)$")
_AT = re.compile(r"^at\(\s*(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


class ScheduleError(ValueError):
    """An expression the rig cannot read or does not support."""


# --- expressions ---------------------------------------------------------------------------------------------

def rate_seconds(expression):
    """Seconds between firings of a rate() expression."""
    match = _RATE.match(expression.strip())
    if not match:
        raise ScheduleError(f"not a rate expression: {expression!r}")
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    if value < 1:
        raise ScheduleError(f"a rate must be at least 1: {expression!r}")
    return value * _UNIT_SECONDS[unit]


def _field(text, low, high, names=None, what="field"):
    """The set of values a cron field allows (None for ? and for * in a day field, decided by the caller)."""
    values = set()
    for part in text.upper().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"bad step in cron {what} {text!r}")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names, what, text), _value(last, names, what, text)
        else:
            start = _value(part, names, what, text)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleError(f"cron {what} {text!r} is outside {low}-{high}")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # a range that wraps (FRI-MON)
            wrapped = list(range(start, high + 1)) + list(range(low, end + 1))
            values.update(v for i, v in enumerate(wrapped) if i % step == 0)
    return values


def _value(token, names, what, text):
    if token.isdigit():
        return int(token)
    if names and token in names:
        return names[token]
    raise ScheduleError(f"cron {what} {text!r}: {token!r} is not supported by the rig")


class Cron:
    """An AWS cron expression (six fields, day-of-week 1-7 = SUN-SAT, one of the day fields ?)."""

    def __init__(self, expression):
        match = _CRON.match(expression.strip())
        if not match:
            raise ScheduleError(f"not a cron expression: {expression!r}")
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ScheduleError("cron needs 6 fields (minutes hours day-of-month month day-of-week year): "
                                f"{expression!r}")
        minutes, hours, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError(f"cron needs ? in exactly one of day-of-month and day-of-week: {expression!r}")
        for text, what in ((dom, "day-of-month"), (dow, "day-of-week")):
            if "W" in text.upper() or "#" in text:
                raise ScheduleError(f"cron {what} {text!r}: W and # are not supported by the rig")
        if "L" in dow.upper():  # no day name has an L
            raise ScheduleError(f"cron day-of-week {dow!r}: L is not supported by the rig")
        self.minutes = _field(minutes, 0, 59, what="minutes")
        self.hours = _field(hours, 0, 23, what="hours")
        self.last_day = dom.upper() == "L"
        self.days = None if dom in ("?", "*") or self.last_day else _field(dom, 1, 31, what="day-of-month")
        self.months = _field(month, 1, 12, _MONTHS, "month")
        self.weekdays = None if dow in ("?", "*") else _field(dow, 1, 7, _DAYS, "day-of-week")
        self.years = None if year in ("*", "?") else _field(year, 1970, 2199, what="year")

    def day_matches(self, day):
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.last_day:
            return day.day == calendar.monthrange(day.year, day.month)[1]
        if self.days is not None and day.day not in self.days:
            return False
        # AWS numbers days from SUN = 1; Python's weekday() from MON = 0.
        return self.weekdays is None or (day.weekday() + 1) % 7 + 1 in self.weekdays

    def next_after(self, moment):
        """The first time strictly after moment (an aware datetime, compared in its own time zone)."""
        start = moment.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        day = start.date()
        for _day in range(366 * 5):
            if self.day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=moment.tzinfo)
                        if candidate >= start:
                            return candidate
            day += datetime.timedelta(days=1)
        return None


def at_time(expression, timezone="UTC"):
    match = _AT.match(expression.strip())
    if not match:
        raise ScheduleError(f"not an at() expression: {expression!r}")
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone or "UTC")).astimezone(UTC)


def next_due(expression, after, first=False, timezone="UTC"):
    """When a schedule fires next (UTC) after `after`; first=True for a rule or schedule just seen (a rate then
    waits one period). None when it never fires again."""
    expression = expression.strip()
    if expression.startswith("rate("):
        return after + datetime.timedelta(seconds=rate_seconds(expression))
    if expression.startswith("cron("):
        local = after.astimezone(zoneinfo.ZoneInfo(timezone or "UTC"))
        found = Cron(expression).next_after(local)
        return found.astimezone(UTC) if found else None
    if expression.startswith("at("):
        return at_time(expression, timezone) if first else None
    raise ScheduleError(f"not a schedule expression the rig knows: {expression!r}")


# --- who may invoke --------------------------------------------------------------------------------------------

def events_may_invoke(policy, function_arn, rule_arn, account):
    """Whether the function's resource policy lets EventBridge invoke it for this rule: an Allow of
    lambda:InvokeFunction to the service events.amazonaws.com whose conditions (AWS:SourceArn, AWS:SourceAccount)
    hold, and no such Deny. Returns (allowed, why)."""
    from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
    from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request, statement_state
    from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import statements

    if not policy:
        return False, "the function has no resource policy (no lambda add-permission for events.amazonaws.com)"
    request = Request("lambda:InvokeFunction", function_arn,
                      RequestContext({"aws:SourceArn": rule_arn, "aws:SourceAccount": account}, complete=True))
    allowed = False
    for statement in statements(policy):
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else principal
        services = services if isinstance(services, list) else [services]
        if "events.amazonaws.com" not in services and "*" not in services:
            continue
        state, _why = statement_state(statement, request)
        if state is True and statement.get("Effect") == "Deny":
            return False, f"statement {statement.get('Sid')!r} denies it"
        allowed = allowed or (state is True and statement.get("Effect") == "Allow")
    return (True, "") if allowed else (False, f"no statement allows events.amazonaws.com to invoke it for {rule_arn}")


def scheduled_event(rule, account, region, now):
    """What EventBridge sends a target without Input."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": [rule["Arn"]], "detail": {}}


# --- the runner ------------------------------------------------------------------------------------------------

class ScheduleRunner:
    """Fires the due schedules of one region of a moto endpoint through a LambdaRunner."""

    def __init__(self, lambdas, region=None, log=None, clock=None):
        self.lambdas = lambdas
        self.region = region or lambdas.region
        self.log = log or (lambda message: print(f"schedules: {message}", file=sys.stderr, flush=True))
        self.clock = clock or (lambda: datetime.datetime.now(UTC))
        self.due = {}      # key (ARN and expression) -> next firing time
        self.done = set()  # at() schedules that fired
        self.fired = []    # (source ARN, function ARN, when) in order
        self.errors = []
        self.cost = {"ticks": 0, "seconds": 0.0}  # what reading moto and firing costs this machine
        self._account = None
        self._stop = threading.Event()
        self._thread = None

    def client(self, service):
        return self.lambdas.client(service, self.region)

    @property
    def account(self):
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    # --- what moto holds -------------------------------------------------------------------------------------

    def rules(self):
        """(rule, [lambda targets]) of every enabled scheduled rule on every event bus."""
        events = self.client("events")
        found = []
        buses = [b["Name"] for b in events.list_event_buses().get("EventBuses", [])] or ["default"]
        for bus in buses:
            for rule in events.list_rules(EventBusName=bus).get("Rules", []):
                if rule.get("State") != "ENABLED" or not rule.get("ScheduleExpression"):
                    continue
                targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus).get("Targets", [])
                found.append((rule, [t for t in targets if ":lambda:" in t.get("Arn", "")]))
        return found

    def schedules(self):
        """Every enabled Scheduler schedule, as GetSchedule gives it."""
        scheduler = self.client("scheduler")
        found = []
        for summary in scheduler.list_schedules().get("Schedules", []):
            if summary.get("State") != "ENABLED":
                continue
            found.append(scheduler.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default")))
        return found

    # --- firing ------------------------------------------------------------------------------------------------

    def is_due(self, key, expression, now, timezone="UTC", since=None):
        """Whether the schedule under key is due at now; keeps its next time."""
        if key in self.done:
            return False
        if key not in self.due:
            self.due[key] = next_due(expression, since or now, first=True, timezone=timezone)
        when = self.due[key]
        if when is None or now < when:
            return False
        following = when
        while following is not None and following <= now:  # missed periods fire once
            following = next_due(expression, following, timezone=timezone)
        self.due[key] = following
        if following is None:
            self.done.add(key)
        return True

    def fire(self, source, function_arn, event):
        self.fired.append((source, function_arn, self.clock()))
        try:
            return self.lambdas.invoke(function_arn, event, source=source)
        except LambdaRunError as error:
            self.log(f"{source}: {error}")
            self.errors.append(error)
            return None

    def tick(self, now=None):
        """Fire what is due at now (default the clock); returns the invocations."""
        now = now or self.clock()
        ran, seen = [], set()
        for rule, targets in self.rules():
            key = (rule["Arn"], rule["ScheduleExpression"])
            seen.add(key)
            try:
                due = self.is_due(key, rule["ScheduleExpression"], now)
            except ScheduleError as error:
                self._once(f"rule {rule['Name']}: {error}")
                continue
            for target in targets if due else []:
                ran.append(self.fire_rule_target(rule, target, now))
        for schedule in self.schedules():
            key = (schedule["Arn"], schedule["ScheduleExpression"])
            seen.add(key)
            try:
                since = schedule.get("StartDate") or schedule.get("CreationDate")
                due = self.is_due(key, schedule["ScheduleExpression"], now, schedule.get("ScheduleExpressionTimezone"),
                                  since=since.astimezone(UTC) if since else None)
            except ScheduleError as error:
                self._once(f"schedule {schedule['Name']}: {error}")
                continue
            if due:
                ran.append(self.fire_schedule(schedule))
        # A rule or schedule disabled, deleted or changed since: its clock is forgotten.
        for key in set(self.due) - seen:
            del self.due[key]
        return [r for r in ran if r is not None]

    def fire_rule_target(self, rule, target, now):
        allowed, why = self.may_invoke(target["Arn"], rule["Arn"])
        if not allowed:
            self._once(f"rule {rule['Name']}: EventBridge may not invoke {target['Arn']}: {why}")
            return None
        if target.get("InputPath") or target.get("InputTransformer"):
            self._once(f"rule {rule['Name']}: InputPath and InputTransformer are not supported by the rig")
            return None
        if target.get("Input"):
            event = json.loads(target["Input"])
        else:
            event = scheduled_event(rule, self.account, self.region, now)
        return self.fire(rule["Arn"], target["Arn"], event)

    def fire_schedule(self, schedule):
        target = schedule.get("Target") or {}
        invocation = None
        if ":lambda:" not in target.get("Arn", ""):
            self._once(f"schedule {schedule['Name']}: target {target.get('Arn')} is not run by the rig (Lambda only)")
        else:
            invocation = self.fire(schedule["Arn"], target["Arn"], json.loads(target.get("Input") or "{}"))
        if schedule["ScheduleExpression"].startswith("at(") and schedule.get("ActionAfterCompletion") == "DELETE":
            self.client("scheduler").delete_schedule(Name=schedule["Name"],
                                                     GroupName=schedule.get("GroupName", "default"))
        return invocation

    def may_invoke(self, function_arn, rule_arn):
        try:
            policy = self.client("lambda").get_policy(FunctionName=function_arn)["Policy"]
        except Exception as error:  # noqa: BLE001 (no policy, or no function: EventBridge cannot invoke it)
            return False, str(error)
        return events_may_invoke(policy, function_arn, rule_arn, self.account)

    def _once(self, message):
        if message not in {str(e) for e in self.errors}:
            self.log(message)
        self.errors.append(ScheduleError(message))

    # --- the thread ----------------------------------------------------------------------------------------------

    def run_forever(self, interval=2.0):
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception as error:  # noqa: BLE001 (one bad pass must not end the schedules)
                self._once(f"tick failed: {error}")
            self.cost["ticks"] += 1
            self.cost["seconds"] += time.monotonic() - started
            self._stop.wait(interval)

    def start(self, interval=2.0):
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, args=(interval,), daemon=True, name="schedules")
        self._thread.start()
        return self

    def stop(self, timeout=300):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None
