# -*- coding: utf-8 -*-
from __future__ import annotations

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import PublicIpError
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import check_controller_address
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import insecure_url_problem
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


def test_an_ipv4_mapped_answer_is_the_ipv4_address():
    assert parse_checkip_body("::ffff:11.22.33.44", URL)["cidr"] == "11.22.33.44/32"


@pytest.mark.parametrize(
    "body, kind",
    [
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
    ],
)
def test_addresses_that_are_nobodys_public_address_are_refused_outright(body, kind):
    result = parse_checkip_body(body, URL)
    for allow_private in (False, True):
        with pytest.raises(PublicIpError, match=f"answered {result['ip']}, {kind}, which cannot be") as raised:
            check_controller_address(result, URL, allow_private=allow_private)
        assert not raised.value.retryable


@pytest.mark.parametrize("body", ["10.1.2.3", "192.168.0.9", "100.64.0.1", "fd00::5", "198.51.100.7", "2001:db8::1"])
def test_private_and_documentation_answers_need_allow_private(body):
    result = parse_checkip_body(body, URL)
    with pytest.raises(PublicIpError, match="not a globally routable address.*allow_private: true"):
        check_controller_address(result, URL)
    check_controller_address(result, URL, allow_private=True)


@pytest.mark.parametrize("body", ["11.22.33.44", "2606:4700:4700::1111"])
def test_global_answers_pass(body):
    check_controller_address(parse_checkip_body(body, URL), URL)


def test_the_rig_answers_a_global_address():
    import rig

    result = parse_checkip_body(rig.DEFAULT_CHECKIP_ANSWER, URL)
    assert result["is_global"]
    check_controller_address(result, URL)


# --- plain http:// refused unless on a loopback address or allow_insecure_url (review item 4) ----------

@pytest.mark.parametrize("url", [
    "https://checkip.amazonaws.com/",
    "HTTPS://checkip.example.org/",
    "http://127.0.0.1:8080/",
    "http://127.1.2.3/",
    "http://[::1]:8080/",
])
def test_https_and_loopback_urls_are_asked(url):
    assert insecure_url_problem(url) is None


@pytest.mark.parametrize("url", [
    "http://checkip.amazonaws.com/",
    "HTTP://checkip.example.org/",
    "http://localhost:8080/",  # a name: not trusted to resolve to loopback
    "http://127.0.0.1.example.org/",
    "http://127.0.0.1@checkip.example.org/",  # user info, not the host
    "http://10.0.0.1/",
])
def test_plain_http_elsewhere_is_refused_unless_allowed(url):
    problem = insecure_url_problem(url)
    assert problem.startswith(f"url {url!r} is plain http://: anyone on the network path can forge its answer")
    assert "allow_insecure_url: true" in problem
    assert insecure_url_problem(url, allow_insecure_url=True) is None


def test_other_schemes_are_refused_whatever_the_option():
    for allowed in (False, True):
        assert insecure_url_problem("ftp://127.0.0.1/", allowed) == "url must be an http:// or https:// URL, got " \
            "'ftp://127.0.0.1/'"


class Answer:
    def read(self, _size):
        return b"11.22.33.44\n"


def test_a_redirect_to_plain_http_is_refused(monkeypatch):
    # The rig's checkip serves on 127.0.0.1 only, and a test may reach nothing else, so the redirect that
    # fetch_url followed is played by replacing fetch_url.
    from ansible_collections.cloudburst.aws.plugins.module_utils import public_ip

    def fetch(module, url, **kwargs):
        return Answer(), {"status": 200, "url": "http://checkip.example.org/"}

    monkeypatch.setattr(public_ip, "fetch_url", fetch)
    with pytest.raises(PublicIpError, match=r"^https://checkip.example.org/ redirected to "
                                            r"http://checkip.example.org/; url 'http://checkip.example.org/' is "
                                            r"plain http://"):
        public_ip.find_public_ip(None, "https://checkip.example.org/", 1, 3, 0)
    assert public_ip.find_public_ip(None, "https://checkip.example.org/", 1, 3, 0, allow_insecure_url=True)[0][
        "ip"] == "11.22.33.44"


def test_a_refused_url_is_never_asked(monkeypatch):
    from ansible_collections.cloudburst.aws.plugins.module_utils import public_ip

    monkeypatch.setattr(public_ip, "fetch_url", lambda *args, **kwargs: pytest.fail("fetch_url was called"))
    with pytest.raises(PublicIpError, match="is plain http://"):
        public_ip.find_public_ip(None, "http://checkip.example.org/", 1, 3, 0)
