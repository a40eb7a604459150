# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.filter.source_ip_policy import FilterModule


def test_filter_builds_the_policy():
    policy = FilterModule().filters()["source_ip_policy"](["203.0.113.0/24"])
    assert policy["Statement"][0]["Condition"]["NotIpAddress"]["aws:SourceIp"] == ["203.0.113.0/24"]


def test_filter_refuses_the_whole_internet():
    with pytest.raises(AnsibleFilterError, match="allows every address"):
        FilterModule().filters()["source_ip_policy"](["0.0.0.0/0"])


def test_filter_refuses_wide_networks_unless_asked():
    source_ip_policy = FilterModule().filters()["source_ip_policy"]
    with pytest.raises(AnsibleFilterError, match="wider than /8"):
        source_ip_policy(["10.0.0.0/7"])
    assert source_ip_policy(["10.0.0.0/7"], allow_wide_prefixes=True)["Statement"][0]["Condition"]["NotIpAddress"][
        "aws:SourceIp"] == ["10.0.0.0/7"]
    with pytest.raises(AnsibleFilterError, match="together cover every IPv4 address"):
        source_ip_policy(["0.0.0.0/1", "128.0.0.0/1"], allow_wide_prefixes=True)
