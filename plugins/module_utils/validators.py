# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The input rules for operator-set values that end up in files on the nodes, written once.

Roles reach them through the filter cloudburst.aws.input_problems (plugins/filter/input_problems.py), which
their tasks/validate.yml calls before any change on a host; modules import them. Each rule answers why a value
may not be used, or None.

What the rules guard against:

- Every file here is line-based (HTCondor's configuration, systemd units, spark-env.sh, spark-defaults.conf,
  the workers file), so a line break in a value starts a line of the caller's choosing: in HTCondor's
  configuration that can be ``include : cmd |``, which runs a command as root when condor reads it. No value
  may hold a line break or any other control character.
- HTCondor's configuration language expands ``$(...)``, ``$ENV(...)`` and the other ``$`` macros in every
  value, and a backslash at the end of a line continues it onto the next one.
- Values that go into a list (``ALLOW_* = a, b``), a command line (systemd's ExecStart) or a shell file are
  words: a comma, a blank or a quote would add an entry, an argument or a command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import ANNEX_NAME_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.spark_release import VERSION_PATTERN as _SPARK_VERSION

# C0 controls, DEL, and the characters Python's str.splitlines() also breaks at.
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
# A host name, an IPv4 address, or an IPv6 address (bracketed or not), with an optional :port.
_HOST = re.compile(r"^[A-Za-z0-9\[][A-Za-z0-9._:\[\]-]{0,254}\Z")
# A user, group, cluster or identity name.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\Z")
# A file system path that needs no quoting anywhere: absolute, plain characters only.
_PATH = re.compile(r"^/[A-Za-z0-9._/+@=,-]{0,4095}\Z")
# One word of a command line or a size such as 4g: plain characters only.
_WORD = re.compile(r"^[A-Za-z0-9._/+@=,:-]{1,4096}\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_SPARK_PROPERTY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,255}\Z")
# The properties the spark role writes itself, each from a variable of its own: spark_defaults_extra cannot turn
# authentication, encryption or the unauthenticated REST server back (Java properties: the last line wins).
SPARK_RESERVED_PROPERTIES = {
    "spark.authenticate": "spark.authenticate is always true",
    "spark.authenticate.secret": "use spark_auth_secret",
    "spark.network.crypto.enabled": "use spark_network_crypto",
    "spark.master.rest.enabled": "the REST submission server has no authentication and stays off",
}


class InputRuleError(ValueError):
    """An unknown rule, or a value of a shape no rule reads."""


def _text(value):
    """The value as text (numbers are written as text), or None for anything else."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def line_problem(value):
    """Why value cannot be one line of any configuration file, or None."""
    text = _text(value)
    if text is None:
        return f"must be a string, not {type(value).__name__}"
    if _CONTROL.search(text):
        return "holds a line break or another control character, which would start a line of its own"
    return None


def condor_value_problem(value):
    """Why value cannot be the right-hand side of an HTCondor configuration line, or None."""
    problem = line_problem(value)
    if problem:
        return problem
    text = _text(value)
    if "$" in text:
        return "holds '$', which HTCondor's configuration expands as a macro ($(NAME), $ENV(NAME), ...)"
    if text.endswith("\\"):
        return "ends in a backslash, which continues HTCondor's configuration line onto the next one"
    return None


def properties_value_problem(value):
    """Why value cannot be a value in a Java properties file (spark-defaults.conf), or None."""
    problem = line_problem(value)
    if problem:
        return problem
    if _text(value).endswith("\\"):
        return "ends in a backslash, which continues the properties line onto the next one"
    return None


def text_rule(accepts, wanted):
    """A rule: one line of text that accepts(text) takes, described as wanted in the message."""
    def rule(value):
        problem = line_problem(value)
        if problem:
            return problem
        if not accepts(_text(value)):
            return f"must be {wanted}"
        return None
    return rule


def pattern_rule(pattern, wanted):
    """A rule: one line that pattern matches as a whole, described as wanted in the message."""
    return text_rule(pattern.fullmatch, wanted)


def _quoted_unit_value_problem(value):
    """Why value cannot go inside a double-quoted systemd Environment= assignment, or None."""
    problem = line_problem(value)
    if problem:
        return problem
    bad = sorted({c for c in _text(value) if c in '"\\%'})
    if bad:
        return (f"holds {', '.join(repr(c) for c in bad)}: a quote or backslash would end or escape the unit's "
                "quoted value, and systemd expands % specifiers")
    return None


def annex_name_problem(value):
    """Why value cannot be an HTCondor annex name, or None."""
    problem = line_problem(value)
    if problem is None and not ANNEX_NAME_PATTERN.match(_text(value)):
        problem = (f"must be 1 to 27 characters (condor_annex's limit; this one has {len(_text(value))}) of "
                   "letters, digits, '.', '-' or '_', starting with a letter or digit")
    return problem


host_problem = pattern_rule(_HOST, "a host name or an IP address (letters, digits, '.', '-', '_', ':', '[', ']')")
name_problem = pattern_rule(_NAME, "1 to 64 letters, digits, '.', '-' or '_', not starting with '.' or '-'")
path_problem = pattern_rule(_PATH, "an absolute path of letters, digits and ._/+@=,- (no blanks or quotes)")
word_problem = pattern_rule(_WORD, "one word of letters, digits and ._/+@=,:- (no blanks, quotes or '$')")
env_name_problem = pattern_rule(_ENV_NAME, "a shell variable name (letters, digits and '_', not first a digit)")
spark_property_problem = pattern_rule(_SPARK_PROPERTY, "a Spark property name such as spark.executor.cores")
spark_version_problem = pattern_rule(_SPARK_VERSION, "a Spark release version such as 4.0.1 or 3.5.7")

# Rules for one value: rule name -> function(value) -> why not, or None.
SCALAR_RULES = {
    "line": line_problem,
    "condor_value": condor_value_problem,
    "annex_name": annex_name_problem,
    "host": host_problem,
    "name": name_problem,
    "path": path_problem,
    "word": word_problem,
    "properties_value": properties_value_problem,
    "quoted_unit_value": _quoted_unit_value_problem,
    "spark_version": spark_version_problem,
}


def _shown(value, secret):
    return "(secret value not shown)" if secret else json.dumps(value, default=str)


def _mapping_problems(name, value, key_rule, value_rule, reserved=None, secret=False):
    if not isinstance(value, Mapping):
        return [f"{name} must be a dictionary, not {type(value).__name__}"]
    found = []
    for key, item in value.items():
        problem = key_rule(key) if isinstance(key, str) else "must be a string"
        if problem:
            found.append(f"{name}: the name {json.dumps(key, default=str)} {problem}")
        elif reserved and key in reserved:
            found.append(f"{name}: {key} is written by the role itself ({reserved[key]})")
        else:
            problem = value_rule(item)
            if problem:
                found.append(f"{name}: the value of {key} {_shown(item, secret)} {problem}")
    return found


# Rules for a dictionary of names to values, each checked as a whole: name -> function(variable, value, secret).
MAPPING_RULES = {
    # spark-env.sh: shell variable names; the values are written shell-quoted, so they stay literal.
    "environment": lambda name, value, secret: _mapping_problems(name, value, env_name_problem, line_problem,
                                                                 secret=secret),
    # spark-defaults.conf: property names and values; the role's own security properties cannot be overridden.
    "spark_properties": lambda name, value, secret: _mapping_problems(
        name, value, spark_property_problem, properties_value_problem, SPARK_RESERVED_PROPERTIES, secret),
}
RULES = sorted(list(SCALAR_RULES) + list(MAPPING_RULES))


def value_problems(rule, name, value, secret=False, allow_empty=False, more_rules=None):
    """The problems of one variable's value under rule, as messages naming the variable (empty when none).

    more_rules adds scalar rules whose source is elsewhere (the filter adds the EC2 layer's cluster name rule,
    which modules that run on the nodes should not carry)."""
    scalar = dict(SCALAR_RULES, **(more_rules or {}))
    if rule in MAPPING_RULES:
        return MAPPING_RULES[rule](name, value, secret)
    if rule not in scalar:
        raise InputRuleError(f"unknown input rule {rule!r} (known: {', '.join(sorted(set(RULES) | set(scalar)))})")
    if allow_empty and (value is None or value == ""):
        return []
    problem = scalar[rule](value)
    return [f"{name} {_shown(value, secret)} {problem}"] if problem else []


def input_problems(values, rule, secret=False, allow_empty=False, more_rules=None):
    """The problems of every variable in values (a dict of variable name to value) under rule, in order."""
    if not isinstance(values, Mapping):
        raise InputRuleError("input_problems takes a dictionary of variable names to values, not "
                             f"{type(values).__name__}")
    return [message for name, value in values.items()
            for message in value_problems(rule, name, value, secret, allow_empty, more_rules)]


def unverified_tls_problem(validate_certs, allow_insecure_url, target, stakes, remedy=""):
    """Why validate_certs=false may not be used, or None: only with allow_insecure_url too.

    target names what is asked (the AWS endpoint, a URL); stakes says what a forged or read answer would cost;
    remedy is a safer way to name first, if any.
    """
    if validate_certs is not False or allow_insecure_url:
        return None
    return (f"validate_certs is false: the certificate of {target} would not be checked, so anyone on the network "
            f"path could {stakes}. {remedy}Set allow_insecure_url: true as well only if you accept that risk; "
            "nothing was changed.")
