# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import PublicIpError
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import parse_checkip_body

URL = "http://127.0.0.1:1/"


@pytest.mark.parametrize(
    "body, ip, version, cidr, is_global",
    [
        ("1.2.3.4\n", "1.2.3.4", 4, "1.2.3.4/32", True),
        (b"  1.2.3.4 \r\n", "1.2.3.4", 4, "1.2.3.4/32", True),
        ("2606:4700:4700:0000:0000:0000:0000:1111", "2606:4700:4700::1111", 6, "2606:4700:4700::1111/128", True),
        ("10.1.2.3", "10.1.2.3", 4, "10.1.2.3/32", False),
        ("198.51.100.7", "198.51.100.7", 4, "198.51.100.7/32", False),
    ],
)
def test_parse_valid_answers(body, ip, version, cidr, is_global):
    assert parse_checkip_body(body, URL) == {"ip": ip, "version": version, "cidr": cidr, "is_global": is_global}


@pytest.mark.parametrize(
    "body, message",
    [
        ("", "empty body"),
        ("   \n", "empty body"),
        ("1.2.3.4 5.6.7.8", "more than one word"),
        ("<html>blocked</html>", "not an IPv4 or IPv6 address"),
        ("1.2.3.4/32", "not an IPv4 or IPv6 address"),
        ("256.1.1.1", "not an IPv4 or IPv6 address"),
        (b"\xff\xfe", "not ASCII"),
    ],
)
def test_parse_rejects_garbage(body, message):
    with pytest.raises(PublicIpError, match=message) as raised:
        parse_checkip_body(body, URL)
    assert URL in str(raised.value)
    assert not raised.value.retryable


def test_long_garbage_is_shortened_in_the_message():
    with pytest.raises(PublicIpError) as raised:
        parse_checkip_body("x" * 500, URL)
    assert len(str(raised.value)) < 200
