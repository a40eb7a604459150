# -*- coding: utf-8 -*-
from __future__ import annotations

import json

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.spark_status import (
    SparkStatusError, parse_apache_sha512, parse_master_status)

DIGEST = "ab" * 64


def test_master_status_is_snake_cased():
    body = json.dumps({"url": "spark://m:7077", "status": "ALIVE", "aliveworkers": 1, "cores": 2, "coresused": 1,
                       "memory": 1024, "memoryused": 512, "activeapps": [{}], "completedapps": [{}, {}],
                       "workers": [{"id": "w1", "host": "h", "port": 1, "cores": 2, "coresused": 1, "memory": 1024,
                                    "memoryused": 512, "state": "ALIVE", "lastheartbeat": 5}]})
    status = parse_master_status(body, "u")
    assert status["alive_workers"] == 1 and status["cores_used"] == 1 and status["active_apps"] == 1
    assert status["completed_apps"] == 2 and status["workers"][0]["memory_used"] == 512


@pytest.mark.parametrize("body", ["<html>", "[]", json.dumps({"status": "ALIVE"})])
def test_garbage_is_not_a_master(body):
    with pytest.raises(SparkStatusError) as raised:
        parse_master_status(body, "http://m/json/")
    assert not raised.value.retryable


def test_both_apache_checksum_formats():
    assert parse_apache_sha512(f"{DIGEST}  spark-4.0.1-bin-hadoop3.tgz\n", "spark-4.0.1-bin-hadoop3.tgz") == DIGEST
    spaced = " ".join(DIGEST.upper()[i:i + 8] for i in range(0, 128, 8))
    gpg = f"spark-3.5.0-bin-hadoop3.tgz: {spaced[:60]}\n   {spaced[60:]}\n"
    assert parse_apache_sha512(gpg, "spark-3.5.0-bin-hadoop3.tgz") == DIGEST


@pytest.mark.parametrize("text, message", [("", "128 hexadecimal"), ("abc  x.tgz", "128 hexadecimal"),
                                           (f"{DIGEST}  other.tgz", "is for other.tgz")])
def test_bad_checksum_files(text, message):
    with pytest.raises(ValueError, match=message):
        parse_apache_sha512(text, "spark.tgz")
