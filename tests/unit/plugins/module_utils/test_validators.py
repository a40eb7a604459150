# -*- coding: utf-8 -*-
"""The input rules the roles' validate.yml calls (through the input_problems filter): each refuses what would
start a line, expand or run something in the file its values go into, and passes ordinary values."""

from __future__ import annotations

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.validators import InputRuleError
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import RULES
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import input_problems
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import unverified_tls_problem

LINE_BREAKS = ["a\nb", "a\rb", "a\r\n", "trailing\n", "\nleading", "a\x00b", "a\x1bb", "a\x7fb", "a\u2028b", "a\x85b"]
SCALAR = [rule for rule in RULES if rule not in ("environment", "spark_properties")]


@pytest.mark.parametrize("rule", SCALAR)
@pytest.mark.parametrize("value", LINE_BREAKS)
def test_every_rule_refuses_line_breaks_and_control_characters(rule, value):
    (message,) = input_problems({"setting": value}, rule)
    assert message.startswith("setting ") and "line break or another control character" in message


@pytest.mark.parametrize("rule,value", [
    ("line", "anything at all, $(even this) \\"),
    ("condor_value", 'Owner == "alice" && RequestMemory < 2048'),
    ("condor_value", "cm.example.org:9618"),
    ("annex_name", "seed-000"),
    ("annex_name", "a.b_c-27charactersxxxxxxxxx"),
    ("host", "cm.example.org"),
    ("host", "10.0.1.5"),
    ("host", "[2001:db8::5]:9618"),
    ("host", "ip-10-0-1-5.ec2.internal"),
    ("name", "annex"),
    ("name", "spark_user-1.x"),
    ("path", "/opt/spark-4.0.1"),
    ("word", "4g"),
    ("word", "512m"),
    ("properties_value", "-XX:+UseG1GC -Dfoo=bar"),
    ("quoted_unit_value", "-Dspark.deploy.defaultCores=4 -Xmx1g"),
])
def test_ordinary_values_pass(rule, value):
    assert input_problems({"setting": value}, rule) == []


@pytest.mark.parametrize("rule,value,reason", [
    ("condor_value", "$(SEC_PASSWORD_FILE)", "expands as a macro"),
    ("condor_value", "$ENV(HOME)", "expands as a macro"),
    ("condor_value", "True \\", "continues HTCondor's configuration line"),
    ("annex_name", "a" * 28, "1 to 27 characters"),
    ("annex_name", "-a", "starting with a letter or digit"),
    ("annex_name", "a b", "1 to 27 characters"),
    ("host", "x, *", "host name or an IP address"),
    ("host", "", "host name or an IP address"),
    ("name", "*@*, annex", "letters, digits"),
    ("name", "../../etc", "letters, digits"),
    ("path", "relative/path", "absolute path"),
    ("path", "/opt/spark $(reboot)", "absolute path"),
    ("path", "/home/spark\"x", "absolute path"),
    ("word", "4g --cores 99", "one word"),
    ("word", "$(id)", "one word"),
    ("properties_value", "secret\\", "continues the properties line"),
    ("quoted_unit_value", '-Da" "-Db', "quote or backslash"),
    ("quoted_unit_value", "-XX:OnError=kill %p", "% specifiers"),
])
def test_bad_values_are_refused_with_the_reason(rule, value, reason):
    (message,) = input_problems({"setting": value}, rule)
    assert reason in message


def test_empty_passes_only_when_allowed():
    assert input_problems({"spark_bind_address": ""}, "host", allow_empty=True) == []
    assert input_problems({"spark_bind_address": ""}, "host") != []


def test_a_secret_is_never_in_the_message():
    (message,) = input_problems({"spark_auth_secret": "hunter2\nspark.authenticate false"}, "properties_value",
                                secret=True)
    assert "hunter2" not in message and "secret value not shown" in message


def test_non_strings():
    assert input_problems({"port": 7077}, "word") == []
    assert "must be a string" in input_problems({"x": ["a"]}, "line")[0]


def test_environment_names_and_values():
    assert input_problems({"spark_env_extra": {"JAVA_HOME": "/usr/lib/jvm/x", "OPTS": "-a -b $(x)"}},
                          "environment") == []
    problems = input_problems({"spark_env_extra": {"BAD-NAME": "x", "X": "a\nrm -rf /", "Y=1;": "z"}}, "environment")
    assert len(problems) == 3
    assert "the name \"BAD-NAME\"" in problems[0] and "the value of X" in problems[1]
    assert "must be a dictionary" in input_problems({"spark_env_extra": "A=1"}, "environment")[0]


def test_spark_properties_refuse_line_breaks_bad_names_and_the_roles_own_security_properties():
    assert input_problems({"e": {"spark.executor.cores": 2, "spark.hadoop.fs.s3a.bucket.my-b.endpoint": "x"}},
                          "spark_properties") == []
    problems = input_problems({"e": {
        "spark.ui.enabled": "true\nspark.authenticate false",
        "spark.x y": "1",
        "spark.authenticate": "false",
        "spark.network.crypto.enabled": "false",
        "spark.master.rest.enabled": "true",
        "spark.authenticate.secret": "guess",
    }}, "spark_properties")
    assert len(problems) == 6
    assert "line break" in problems[0] and "Spark property name" in problems[1]
    assert all("written by the role itself" in p for p in problems[2:])


def test_an_unknown_rule_is_an_error():
    with pytest.raises(InputRuleError, match="unknown input rule 'nope'"):
        input_problems({"a": "b"}, "nope")


def test_validate_certs_false_needs_allow_insecure_url():
    assert unverified_tls_problem(True, False, "x", "y") is None
    assert unverified_tls_problem(None, False, "x", "y") is None
    assert unverified_tls_problem(False, True, "x", "y") is None
    message = unverified_tls_problem(False, False, "the AWS endpoint", "forge answers", "Use a CA bundle. ")
    assert message.startswith("validate_certs is false: the certificate of the AWS endpoint would not be checked")
    assert "forge answers. Use a CA bundle. Set allow_insecure_url: true" in message
