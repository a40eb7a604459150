# -*- coding: utf-8 -*-
"""playbooks/annex_launch.yml refuses bad input with a clear message, before any AWS write call: an annex name
of 28 characters, count 0, lease 0, idle -1, spot price "low", a setup missing in the region, an unknown
region. Against the moto server; no host is needed, since the launch stops on the controller."""

from __future__ import annotations

import json

import pytest
from ec2_plays import ec2_env, ec2_writes

from conftest import run

# No setup (HTCondorAnnex-* stacks) is ever made in this region by any test (test_annex_setup.py renames stacks in
# ap-south-1, so a serial run that reached this file after it found a setup there).
EMPTY_REGION = "ap-northeast-3"


def launch(moto, region, **extra):
    env = ec2_env(moto, {"CLOUDBURST_AWS_ENDPOINT_URL": moto.url})
    variables = dict({"cloudburst_aws_region": region, "htcondor_annex_name": "h4-input", "htcondor_annex_count": 1},
                     **extra)
    return run(["ansible-playbook", "playbooks/annex_launch.yml", "-e", json.dumps(variables)], env=env)


@pytest.mark.parametrize("extra,message", [
    ({"htcondor_annex_name": "a" * 28}, "must be 1 to 27 characters (condor_annex's limit; this one has 28)"),
    ({"htcondor_annex_count": 0}, "htcondor_annex_count must be a whole number of at least 1 (got 0)"),
    ({"htcondor_annex_lease_seconds": 0}, "htcondor_annex_lease_seconds must be a positive whole number of seconds (got 0)"),
    ({"htcondor_annex_idle_seconds": -1}, "htcondor_annex_idle_seconds must be a positive whole number of seconds (got -1)"),
    ({"htcondor_annex_market": "spot", "htcondor_annex_spot_max_price": "low"},
     'htcondor_annex_spot_max_price "low" is not a price in USD per hour'),
    ({}, "The annex setup is missing in ap-northeast-3: stack HTCondorAnnex-ConfigurationBucket does not exist"),
    ({"cloudburst_aws_region": "xx-nowhere-9"}, "htcondor_annex_region xx-nowhere-9 is not a region this account can use"),
])
def test_bad_input_is_refused_and_nothing_changes(moto_server, extra, message):
    moto_server.reset_recording()
    result = launch(moto_server, extra.pop("cloudburst_aws_region", EMPTY_REGION), **extra)
    assert result.rc != 0, result.output[-3000:]
    flat = " ".join(result.output.split())
    assert message in flat, result.output[-3000:]
    assert "nothing was changed" in flat
    assert "Traceback" not in result.output
    assert ec2_writes(moto_server.recorded_actions()) == []
