# -*- coding: utf-8 -*-
"""Spark releases by their names: any release version is taken (no list), and the archive's Hadoop build follows
Apache's naming."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.filter.spark_hadoop_package import spark_hadoop_package
from ansible_collections.cloudburst.aws.plugins.module_utils import spark_release
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import input_problems


@pytest.mark.parametrize("version, package", [
    ("4.0.1", "hadoop3"), ("4.1.0-preview2", "hadoop3"), ("3.5.7", "hadoop3"), ("3.3.0", "hadoop3"),
    ("3.2.4", "hadoop3.2"), ("3.0.0", "hadoop3.2"), ("2.4.8", "hadoop2.7"), ("1.6.3", "hadoop2.6"),
])
def test_the_hadoop_build_follows_apaches_naming(version, package):
    assert spark_release.hadoop_package(version) == package
    assert spark_hadoop_package(version) == package


@pytest.mark.parametrize("version", ["4.0", "4.0.1 ", "v4.0.1", "4.0.1\n", "04.0.1", "4.0.1-rc1", "", None, "4.0.x"])
def test_what_is_not_a_release_version_is_refused(version):
    with pytest.raises(spark_release.SparkReleaseError):
        spark_release.hadoop_package(version)
    with pytest.raises(AnsibleFilterError, match="not a Spark release version"):
        spark_hadoop_package(version)
    assert input_problems({"spark_version": version}, "spark_version")


def test_any_release_version_passes_the_input_rule():
    for version in ("4.0.1", "3.5.7", "3.1.3", "4.1.0-preview2", "5.0.0"):
        assert input_problems({"spark_version": version}, "spark_version") == []
