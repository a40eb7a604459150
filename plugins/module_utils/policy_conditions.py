# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""IAM's condition operators and policy variables, evaluated against one request's context.

Every answer is three-valued: True, False, or None for "unknown". A request context (RequestContext) knows some
keys, knows that some others are absent from the request, and may know nothing of the rest; a condition on a key
it knows nothing of is unknown, and so is an operator this module does not implement. The caller decides what an
unknown means (policy_evaluation: the lockout guard counts it against the request, fail closed). With
complete=True the context is a whole request as AWS sees it: a key it does not hold is absent.

AWS's rules (IAM User Guide, "Condition operators" and "Multivalued context keys"): conditions of one block,
and keys of one operator, must all hold (AND); the values listed for one key are alternatives (OR). A key that
is absent makes a condition false, except that negated operators (StringNotEquals, NotIpAddress, ArnNotLike,
...) are then true, ...IfExists is then true, and Null tests the absence itself. ForAnyValue holds when one
value of a multivalued key matches (false for an absent or empty key); ForAllValues when every value matches
(true for an absent or empty key). String and Arn operators take policy variables (${aws:username}).
"""

from __future__ import annotations

import datetime
import ipaddress
import re

PRESENT, ABSENT, UNKNOWN = "present", "absent", "unknown"


def combine(states):
    """AND of three-valued states: False wins, then unknown (None), else True."""
    states = list(states)
    if any(state is False for state in states):
        return False
    return None if any(state is None for state in states) else True


def as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def as_text(value):
    """A JSON value as IAM compares it: booleans as "true"/"false", numbers as their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


class RequestContext:
    """The condition keys of one request.

    values: {key: value}, a value being a string (or a bool or number, compared as text) or a list of them for a
    multivalued key such as aws:TagKeys. Key names are case-insensitive, as in IAM.
    absent: keys known to be missing from the request; absent_prefixes: key families whose every member not in
    values is missing (for example "aws:RequestTag/" when all of a request's tags are known).
    complete: every key not in values is missing (the request as AWS sees it).
    """

    def __init__(self, values=None, absent=(), absent_prefixes=(), complete=False):
        self.values = {key.lower(): [as_text(v) for v in as_list(value)] for key, value in (values or {}).items()}
        self.absent = {key.lower() for key in absent}
        self.absent_prefixes = tuple(prefix.lower() for prefix in absent_prefixes)
        self.complete = complete

    def lookup(self, key):
        """(PRESENT, [values]) or (ABSENT, []) or (UNKNOWN, [])."""
        name = key.lower()
        if name in self.values:
            return PRESENT, self.values[name]
        if self.complete or name in self.absent or name.startswith(self.absent_prefixes):
            return ABSENT, []
        return UNKNOWN, []

    def without(self, *keys):
        """A copy in which keys are unknown (neither present nor absent); a complete context has none."""
        if self.complete:
            raise ValueError("a complete context has no unknown keys")
        names = {key.lower() for key in keys}
        copy = RequestContext(absent_prefixes=self.absent_prefixes)
        copy.values = {k: v for k, v in self.values.items() if k not in names}
        copy.absent = self.absent - names
        return copy


# --- wildcards and policy variables -----------------------------------------------------------------------

_TOKENS = re.compile(r"(\$\{[^}]*\}|\*|\?)")


def variable_value(token, context):
    """(state, text) for one ${...} token: ${*}, ${?} and ${$} are the literal characters; ${key} is the
    key's single value, ${key, 'default'} falls back to the default when the key is absent."""
    inner = token[2:-1].strip()
    if inner in ("*", "?", "$"):
        return True, inner
    match = re.fullmatch(r"([^,\s]+)\s*(?:,\s*'([^']*)')?", inner)
    if not match:
        return None, None
    state, values = context.lookup(match.group(1)) if context is not None else (UNKNOWN, [])
    if state == PRESENT and len(values) == 1:
        return True, values[0]
    if state == ABSENT or (state == PRESENT and not values):
        return (True, match.group(2)) if match.group(2) is not None else (False, None)
    return None, None


def substitute(text, context):
    """(state, parts) of text split into literal strings and wildcards: each ${...} replaced by its value (a
    literal string). state False: a variable's key is absent and has no default; None: a variable is unknown."""
    parts, state = [], True
    for part in _TOKENS.split(text):
        if part.startswith("${") and part.endswith("}"):
            known, value = variable_value(part, context)
            state = combine([state, known])
            parts.append(value or "")
        elif part in ("*", "?"):
            parts.append(WILDCARDS[part])
        elif part:
            parts.append(part)
    return state, parts


class _Wildcard(str):
    """A * or ? of a pattern, as opposed to the same character inside a literal."""


WILDCARDS = {"*": _Wildcard("*"), "?": _Wildcard("?")}


def wildcard(pattern, context=None, ignore_case=False):
    """(state, compiled regex) for an IAM pattern: * is any run of characters, ? one character, anything else
    literal (no character classes); ${...} is replaced by its value, taken literally. state as substitute's."""
    state, parts = substitute(pattern, context)
    text = "".join({"*": ".*", "?": "."}[p] if isinstance(p, _Wildcard) else re.escape(p) for p in parts)
    return state, re.compile(text, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern, value, context=None, ignore_case=False):
    """Three-valued: does value match the IAM pattern? With a variable unknown, the answer is still False when
    value does not match even with the variable as a wildcard."""
    state, regex = wildcard(pattern, context, ignore_case)
    if state is True:
        return regex.fullmatch(value) is not None
    if state is None:
        loose = wildcard(_TOKENS.sub(lambda m: "*" if m.group(0).startswith("${") else m.group(0), pattern),
                         ignore_case=ignore_case)[1]
        return None if loose.fullmatch(value) else False
    return False


# --- comparators: (policy value, request value, context) -> True / False / None ----------------------------

def _string_equals(expected, actual, context, ignore_case=False):
    state, parts = substitute(expected, context) if "${" in expected else (True, [expected])
    if state is not True:
        return state
    text = "".join(parts)
    return text.lower() == actual.lower() if ignore_case else text == actual


def _string_like(expected, actual, context):
    return matches(expected, actual, context)


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _date(text):
    number = _number(text)
    if number is not None:
        return datetime.datetime.fromtimestamp(number, datetime.timezone.utc)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _ordered(parse, compare):
    def comparator(expected, actual, _context):
        left, right = parse(actual), parse(expected)
        if left is None or right is None:
            return None if right is None else False
        return compare(left, right)
    return comparator


def _ip_address(expected, actual, _context):
    try:
        network = ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return None
    try:
        address = ipaddress.ip_address(actual)
    except ValueError:
        return False
    return address.version == network.version and address in network


def _arn_like(expected, actual, context):
    """ArnLike and ArnEquals: the six colon-separated parts compared one by one, each with wildcards."""
    wanted, given = expected.split(":", 5), actual.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return combine(matches(w, g, context) for w, g in zip(wanted, given))


_COMPARISONS = {
    "Equals": lambda a, b: a == b, "NotEquals": lambda a, b: a == b, "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b, "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

# operator -> (comparator, negated). A negated operator holds when no listed value matches.
OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (lambda e, a, c: _string_equals(e, a, c, True), False),
    "StringNotEqualsIgnoreCase": (lambda e, a, c: _string_equals(e, a, c, True), True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "Bool": (lambda e, a, _c: e.lower() == a.lower(), False),
    "BinaryEquals": (lambda e, a, _c: e == a, False),
    "IpAddress": (_ip_address, False),
    "NotIpAddress": (_ip_address, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
}
for _suffix, _compare in _COMPARISONS.items():
    OPERATORS["Numeric" + _suffix] = (_ordered(_number, _compare), _suffix == "NotEquals")
    OPERATORS["Date" + _suffix] = (_ordered(_date, _compare), _suffix == "NotEquals")


def condition_state(operator, key, expected, context):
    """Three-valued: does the condition `operator: {key: expected}` hold for the request?"""
    qualifier, _colon, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return None
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[:-len("IfExists")]
    if base != "Null" and base not in OPERATORS:
        return None
    state, values = context.lookup(key)
    if state == UNKNOWN:
        return None
    if base == "Null":
        missing = state == ABSENT or not values
        return any((as_text(value).lower() == "true") == missing for value in as_list(expected))
    comparator, negated = OPERATORS[base]
    wanted = [as_text(value) for value in as_list(expected)]

    def holds(actual):
        results = [comparator(value, actual, context) for value in wanted]
        if any(result is True for result in results):
            return not negated
        return None if None in results else negated

    if qualifier:
        if state == ABSENT or not values:
            return qualifier == "ForAllValues"
        results = [holds(value) for value in values]
        if qualifier == "ForAnyValue":
            return True if any(r is True for r in results) else (None if None in results else False)
        return combine(results)
    if state == ABSENT:
        return True if if_exists else negated
    results = [holds(value) for value in values]
    if negated:
        return combine(results)
    return True if any(r is True for r in results) else (None if None in results else False)


def conditions_state(condition, context):
    """(state, what) for a statement's Condition block: state three-valued, what names the first condition
    that could not be evaluated ("StringNotEquals on aws:SourceVpce")."""
    if condition is None:
        return True, None
    if not isinstance(condition, dict):
        return None, "an unreadable Condition"
    states, unknown = [], None
    for operator, tests in condition.items():
        if not isinstance(tests, dict):
            return None, f"an unreadable {operator} condition"
        for key, expected in tests.items():
            state = condition_state(operator, key, expected, context)
            if state is None and unknown is None:
                unknown = f"{operator} on {key}"
            states.append(state)
    state = combine(states)
    return state, (unknown if state is None else None)
