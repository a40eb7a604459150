# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Find the controller's public address from a checkip-style URL.

A checkip-style service answers an HTTP GET with the caller's address as plain text and nothing else.
The parsing is kept apart from the fetching so that it can be tested on its own.
"""

from __future__ import annotations

import ipaddress
import time
from urllib.parse import urlsplit

from ansible.module_utils.urls import fetch_url

DEFAULT_CHECKIP_URL = "https://checkip.amazonaws.com/"

# A checkip answer is one address and a newline; anything longer is not such an answer.
MAX_BODY_BYTES = 1024


class PublicIpError(Exception):
    """The service's answer cannot be used; the message says why."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable


def parse_checkip_body(body, url):
    """Return a dict (ip, version, cidr) for the address in a checkip answer.

    Raises PublicIpError when the body is empty or is not exactly one IPv4 or IPv6 address.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("ascii")
        except UnicodeDecodeError:
            raise PublicIpError(f"{url} answered with bytes that are not ASCII text, not an IP address")
    text = body.strip()
    if not text:
        raise PublicIpError(f"{url} answered with an empty body instead of an IP address")
    if len(text.split()) != 1:
        raise PublicIpError(f"{url} answered with more than one word; expected one IP address, got {_shorten(text)!r}")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise PublicIpError(f"{url} answered {_shorten(text)!r}, which is not an IPv4 or IPv6 address")
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped  # an IPv4 client seen through an IPv6 socket
    prefix = 32 if address.version == 4 else 128
    return {
        "ip": str(address),
        "version": address.version,
        "cidr": f"{address}/{prefix}",
        "is_global": address.is_global,
    }


def unusable_kind(address):
    """Why an address can never be anyone's public address (e.g. "a loopback address"), or None."""
    address = ipaddress.ip_address(address)
    for kind, test in (("the unspecified address", address.is_unspecified), ("a loopback address", address.is_loopback),
                       ("a link-local address", address.is_link_local), ("a multicast address", address.is_multicast),
                       ("a reserved address", address.is_reserved)):
        if test:
            return kind
    return None


def check_controller_address(result, url, allow_private=False):
    """Refuse an answer that cannot be the controller's public address.

    The unspecified, loopback, link-local, multicast and reserved addresses are refused outright. Any other
    address that is not globally routable (private, shared, documentation ranges) is refused unless
    allow_private says the AWS endpoint is reached over a private network.
    """
    kind = unusable_kind(result["ip"])
    if kind:
        raise PublicIpError(f"{url} answered {result['ip']}, {kind}, which cannot be the controller's public address")
    if not result["is_global"] and not allow_private:
        raise PublicIpError(
            f"{url} answered {result['ip']}, which is not a globally routable address, so it is not the address "
            "AWS sees for the controller; set allow_private: true only if the controller reaches its AWS "
            "endpoint over a private network"
        )


def is_loopback_url(url):
    """True when url's host is a loopback address written as an address (127.0.0.0/8, ::1), not a name:
    a request to it never leaves the host. A name such as localhost is not trusted to resolve there."""
    try:
        host = urlsplit(url).hostname
        return bool(host) and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url_problem(url, allow_insecure_url=False):
    """Why url may not be asked for the controller's address, or None.

    The answer decides the IAM allow-list, and one over plain HTTP can be forged by anyone on the network
    path. So only https:// URLs are asked, unless allow_insecure_url, or the host is a loopback address.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        return f"url must be an http:// or https:// URL, got {url!r}"
    if scheme == "http" and not allow_insecure_url and not is_loopback_url(url):
        return (f"url {url!r} is plain http://: anyone on the network path can forge its answer, and the answer "
                "decides the controller's IAM allow-list. Use an https:// URL, or set allow_insecure_url: true if "
                "you accept that risk (only a loopback address, such as http://127.0.0.1/, is asked over http "
                "without it)")
    return None


def _shorten(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "..."


def _fetch_once(module, url, timeout, allow_insecure_url=False):
    response, info = fetch_url(module, url, method="GET", timeout=timeout, force=True)
    # A redirect may have taken the request to plain http (fetch_url follows redirects): the same rule holds
    # for where the answer came from.
    final_url = info.get("url") or url
    if final_url != url:
        problem = insecure_url_problem(final_url, allow_insecure_url)
        if problem:
            raise PublicIpError(f"{url} redirected to {final_url}; {problem}")
    status = info.get("status", -1)
    if status == -1 or response is None and status < 400:
        # fetch_url reports connection errors and timeouts as status -1 with a message.
        raise PublicIpError(f"could not reach {url}: {info.get('msg', 'no answer')}", retryable=True)
    if status >= 400:
        retryable = status >= 500 or status == 429
        raise PublicIpError(f"{url} answered HTTP {status} ({info.get('msg', '')})".rstrip(" ()"), retryable=retryable)
    try:
        body = response.read(MAX_BODY_BYTES + 1)
    except Exception as exc:  # the socket may time out while the body is read
        raise PublicIpError(f"could not read the answer from {url}: {exc}", retryable=True)
    if len(body) > MAX_BODY_BYTES:
        raise PublicIpError(f"{url} answered with more than {MAX_BODY_BYTES} bytes; that is not a checkip answer")
    return parse_checkip_body(body, url)


def find_public_ip(module, url, timeout, retries, retry_delay, allow_private=False, allow_insecure_url=False):
    """Ask url for our address, retrying connection errors, timeouts and HTTP 5xx/429 answers.

    Returns (result, attempts). Raises PublicIpError with the last reason when every attempt failed
    or when the answer is unusable (an unusable answer is not retried: asking again gives the same).
    A url that insecure_url_problem refuses is never asked.
    """
    problem = insecure_url_problem(url, allow_insecure_url)
    if problem:
        raise PublicIpError(problem)
    attempt = 0
    while True:
        attempt += 1
        try:
            result = _fetch_once(module, url, timeout, allow_insecure_url)
            check_controller_address(result, url, allow_private)
            return result, attempt
        except PublicIpError as exc:
            if not exc.retryable or attempt > retries:
                if attempt > 1:
                    raise PublicIpError(f"{exc} (after {attempt} attempts)")
                raise
        time.sleep(retry_delay)
