# -*- coding: utf-8 -*-
"""The one registry of input rules the roles call (input_rules.py): each rule is the one its module enforces, the
test plugin valid_input and the filter input_problems read the same registry, and their documentation lists it."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.filter.input_problems import input_problems
from ansible_collections.cloudburst.aws.plugins.module_utils.credential_files import CredentialFileError
from ansible_collections.cloudburst.aws.plugins.module_utils.credential_files import validate_profile_name
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_tags
from ansible_collections.cloudburst.aws.plugins.module_utils.input_rules import RULES
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import RULES as VALIDATORS_RULES
from ansible_collections.cloudburst.aws.plugins.test import valid_input as test_plugin

PLUGINS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins")
valid_input = test_plugin.TestModule().tests()["valid_input"]
world_cidr = test_plugin.TestModule().tests()["world_cidr"]

GOOD = {
    "cluster": ["demo", "annex-_a_db", "a" * 63],
    "instance_type": ["t3.medium", "m7i-flex.large"],
    "spot_price": ["0.05", 0.05, "1", 2],
    "instance_id": ["i-0123456789abcdef0", "i-01234567"],
    "region": ["us-east-1", "ap-southeast-2", "us-gov-west-1"],
    "iam_user_name": ["cloudburst-burst", "a+b=c,d.e@f_g-h"],
    "iam_policy_name": ["p" * 128],
    "iam_path": ["/", "/cloudburst/", "/a/b/"],
    "iam_tag_key": ["owner", "k" * 128],
    "iam_tag_value": ["", None, "v" * 256],
    "resource_prefix": ["cloudburst-", "team.a@x"],
    "profile_name": ["cloudburst", "a_b.c+d=e,f@g-h"],
    "whole_number": ["0", 0, 42, "0042"],
    "positive_number": ["1", 3600],
    "port_range": [1, "7077", "7100-7115", "65535", "22-22"],
    "ipv4_cidr": ["10.42.0.0/16", "10.42.0.1/16", "0.0.0.0/0"],
    "cidr": ["203.0.113.7/32", "2001:db8::/64", "::/0"],
    "lease_end": ["2026-11-25T14:05:00Z", "1764079500"],
    "s3_bucket_name": ["abc", "my.bucket-1"],
    "key_pair_name": ["cloudburst-demo", "a:b/c=d+e"],
    "rule_name_prefix": ["HTCondorAnnex", "a.b_c-d"],
    "spark_checksum": ["sha512:" + "0a" * 64],
    "spark_package": ["hadoop3", "without-hadoop"],
    "ec2_key_pair_name": ["my key", "k" * 255, "a:b/c"],
    "ami_id": ["ami-0123456789abcdef0", "ami-01234567"],
    "lease_hours": ["0", 8, "1.5", "8760"],
    "schedule_expression": ["rate(5 minutes)", "rate(1 hour)", "cron(0/15 * * * ? *)"],
    "lambda_function_arn": ["arn:aws:lambda:us-east-1:123456789012:function:cloudburst-lease",
                            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f_1"],
}
BAD = {
    # "$" in the roles' former Jinja patterns matched before a final line break: "demo\n" passed them.
    "cluster": ["demo\n", "my cluster", "-a", "a.b", "a" * 64, "", None],
    "instance_type": ["t3", "T3.medium", "t3.medium\n"],
    "spot_price": ["cheap", "-1", ".5", "0.05\n", ""],
    "instance_id": ["i-0123", "i-0123456789ABCDEF0", "x-0123456789abcdef0"],
    "region": ["us_east_1", "US-EAST-1", "useast1", "us-east-1\n"],
    "iam_user_name": ["bad name", "ünïcode", "a" * 65, ""],
    "iam_policy_name": ["launch policy", "p" * 129],
    "iam_path": ["cloudburst", "/a", "/a b/", "/\u00e9/"],
    "iam_tag_key": ["", "aws:owner", "AWS:x", "k" * 129],
    "iam_tag_value": ["v" * 257],
    "resource_prefix": ["*", "", "a" * 65, 'x", "arn'],
    "profile_name": ["DEFAULT", "x]\n[default", "a b", ""],
    "whole_number": ["-1", "1.5", "", "3\n", True, "٣"],
    "positive_number": ["0", "-3", "ten"],
    "port_range": [0, "0", "65536", "7115-7100", "07077", "1-2-3", "22 ", "x"],
    "ipv4_cidr": ["10.42.0.0", "10.42.0.0/33", "2001:db8::/64", "010.0.0.0/8", "10.0.0.0/016", "300.0.0.0/8"],
    "cidr": ["not-a-cidr", "203.0.113.7", "2001:db8::/129", "::ffff:1.2.3.4/128", "1::2::3/64"],
    "lease_end": ["tomorrow", "2026-02-31T00:00:00Z", "2026-11-25 14:05:00", "2026-11-25T14:05:00Z\n"],
    "s3_bucket_name": ["ab", "My-Bucket", "-bucket", "b" * 64],
    "key_pair_name": ["key pair", "k" * 256],
    "rule_name_prefix": ["a" * 41, "a/b"],
    "spark_checksum": ["sha256:" + "0a" * 32, "sha512:" + "0A" * 64],
    "spark_package": ["hadoop 3", "-x"],
    "ec2_key_pair_name": ["", "k" * 256, "caf\u00e9", "a\nb"],
    "ami_id": ["ami-0123", "AMI-0123456789abcdef0", "ami-0123456789ABCDEF0", "ami-0123456789abcdef0\n"],
    "lease_hours": ["-1", "8761", "1.", "eight", "8\n"],
    "schedule_expression": ["rate(0 minutes)", "rate(5 weeks)", "every 5 minutes", "cron()", "rate(5 minutes)\n"],
    "lambda_function_arn": ["cloudburst-lease", "arn:aws:lambda:us-east-1:12345:function:f",
                            "arn:aws:lambda:us-east-1:123456789012:function:a b"],
}


@pytest.mark.parametrize("rule,value", [(rule, value) for rule, values in GOOD.items() for value in values])
def test_good_values_pass(rule, value):
    assert valid_input(value, rule) and input_problems({"setting": value}, rule) == []


@pytest.mark.parametrize("rule,value", [(rule, value) for rule, values in BAD.items() for value in values])
def test_bad_values_fail_with_a_message_naming_the_setting(rule, value):
    assert not valid_input(value, rule)
    (message,) = input_problems({"setting": value}, rule)
    assert message.startswith("setting ")


def test_the_rules_are_the_modules_own():
    """A value the role's check passes is one its module takes, and one the module refuses the check refuses."""
    for value in GOOD["profile_name"]:
        validate_profile_name(value)
    for value in BAD["profile_name"]:
        with pytest.raises(CredentialFileError):
            validate_profile_name(value)
    for key in BAD["iam_tag_key"]:
        with pytest.raises(IamInputError):
            validate_tags({key: "v"})
    with pytest.raises(IamInputError, match=r"the value of tag 'note' is 257 characters; IAM allows at most 256"):
        validate_tags({"note": "v" * 257})
    with pytest.raises(IamInputError, match=r"tag key 'k{40}'\.\.\. is 129 characters; IAM allows 1 to 128"):
        validate_tags({"k" * 129: "v"})
    with pytest.raises(IamInputError, match=r"tag key 'aws:owner' uses the prefix aws:, which AWS reserves"):
        validate_tags({"aws:owner": "v"})


def test_every_rule_is_tried_here_and_empty_may_pass():
    # validators.py's rules are tried in test_validators.py.
    assert set(GOOD) | set(VALIDATORS_RULES) == set(RULES)
    assert valid_input("", "spot_price", allow_empty=True) and valid_input(None, "s3_bucket_name", allow_empty=True)
    assert not valid_input("cheap", "spot_price", allow_empty=True)
    # A dictionary rule tests the whole dictionary.
    assert valid_input({"SPARK_X": "1"}, "environment") and not valid_input({"1X": "1"}, "environment")


def test_an_unknown_rule_is_an_error_that_names_the_known_ones():
    with pytest.raises(AnsibleFilterError, match="valid_input: unknown input rule 'nope'.*port_range"):
        valid_input("x", "nope")
    with pytest.raises(AnsibleFilterError, match="input_problems: unknown input rule 'nope'.*spark_checksum"):
        input_problems({"a": "x"}, "nope")


@pytest.mark.parametrize("value,world", [
    ("0.0.0.0/0", True), ("::/0", True), (" ::/00 ", True), ("10.0.0.0/0", True), ("0.0.0.0/1", False),
    ("10.0.0.0/8", False), ("2001:db8::/64", False), ("0.0.0.0", False), (None, False), ("/0x", False),
])
def test_world_cidr(value, world):
    assert world_cidr(value) is world


@pytest.mark.parametrize("kind,name", [("filter", "input_problems"), ("test", "valid_input")])
def test_the_documentation_lists_every_rule(kind, name):
    with open(os.path.join(PLUGINS, kind, f"{name}.yml"), encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)["DOCUMENTATION"]
    assert doc["options"]["rule"]["choices"] == RULES
    described = " ".join(doc["description"])
    if kind == "filter":
        assert [rule for rule in RULES if f"V({rule})" not in described] == []
