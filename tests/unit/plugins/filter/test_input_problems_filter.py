# -*- coding: utf-8 -*-
"""The input_problems filter: the validators' rules plus the EC2 layer's cluster name rule, errors as filter
errors; and the annex_cluster filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.filter.annex_cluster import annex_cluster
from ansible_collections.cloudburst.aws.plugins.filter.input_problems import input_problems


def test_the_cluster_rule_is_the_ec2_layers():
    assert input_problems({"c": "annex-_a_db"}, "cluster") == []
    for bad in ("annex x", "annex.a", "a" * 64, "-a", "annex-a\n"):
        (message,) = input_problems({"c": bad}, "cluster")
        assert "1 to 63 letters, digits, '-' or '_'" in message or "line break" in message


def test_the_validators_rules_and_their_options_reach_the_filter():
    assert input_problems({"a": "x\ny"}, "line") and input_problems({"a": ""}, "host", allow_empty=True) == []
    assert "hunter2" not in input_problems({"s": "hunter2\n"}, "line", secret=True)[0]


def test_an_unknown_rule_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="unknown input rule 'nope'.*cluster"):
        input_problems({"a": "b"}, "nope")


def test_annex_cluster():
    assert annex_cluster("a.b") == "annex-_a_db" and annex_cluster("a_b", "x-") == "x-a_b"
    with pytest.raises(AnsibleFilterError, match="annex_cluster: annex name"):
        annex_cluster("a\n")
