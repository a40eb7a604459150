# -*- coding: utf-8 -*-
"""A fault-injecting HTTP proxy between the modules and the moto server, on 127.0.0.1.

Modules reach it as their endpoint_url. It forwards every request to moto unchanged (the Host header too,
so SigV4 signatures still match) and, by rules that a test sets, answers some requests itself:

  throttle      400 Throttling, before moto sees the request (AWS did not act)
  unavailable   503 ServiceUnavailable, before moto sees the request (AWS did not act)
  deny          403 AccessDenied, before moto sees the request (AWS did not act)
  lose          the request reaches moto, which acts; its answer is replaced by a 503 ("response lost")
  drop          the request reaches moto, which acts; the connection is closed without an answer

A Rule matches an API action (or every action), lets `skip` matching requests through, then injects its
fault `times` times (None: forever), each with probability `fraction` (from a seeded random generator, so a
run is reproducible). `faults` lists what was injected, `actions` every action seen, in order.
"""

from __future__ import annotations

import dataclasses
import http.client
import http.server
import random
import threading
import urllib.parse
from typing import Optional

from rig import LocalHTTPServer

ERROR_BODY = ('<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{kind}</Type>'
              "<Code>{code}</Code><Message>{message}</Message></Error>"
              "<RequestId>faultproxy-{serial}</RequestId></ErrorResponse>")

FAULTS = {
    "throttle": (400, "Sender", "Throttling", "Rate exceeded (injected by faultproxy)"),
    "unavailable": (503, "Receiver", "ServiceUnavailable", "Service unavailable (injected by faultproxy)"),
    "deny": (403, "Sender", "AccessDenied", "Access denied (injected by faultproxy)"),
    "lose": (503, "Receiver", "ServiceUnavailable", "Response lost after the call acted (injected by faultproxy)"),
}


@dataclasses.dataclass
class Rule:
    fault: str
    action: Optional[str] = None  # e.g. "CreateAccessKey"; None matches every action
    skip: int = 0
    times: Optional[int] = 1
    fraction: float = 1.0
    seen: int = 0
    injected: int = 0

    def __post_init__(self):
        if self.fault not in FAULTS and self.fault != "drop":
            raise ValueError(f"unknown fault {self.fault!r}")

    def fires(self, action, rng):
        if self.action is not None and self.action != action:
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.injected >= self.times):
            return False
        if self.fraction < 1.0 and rng.random() >= self.fraction:
            return False
        self.injected += 1
        return True


def request_action(body, path):
    """The API action of a query-protocol request (IAM, STS): from the form body, else the query string."""
    for text in (body.decode("utf-8", "replace"), urllib.parse.urlsplit(path).query):
        action = urllib.parse.parse_qs(text).get("Action")
        if action:
            return action[0]
    return "?"


def read_body(handler):
    """The request's body, by Content-Length or in HTTP chunks (botocore streams some uploads that way)."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


# Headers of one hop, not of the request: the body is sent whole with its own length, so Expect (100-continue) and
# the connection's own settings stay here.
HOP_BY_HOP = ("content-length", "connection", "transfer-encoding", "expect", "keep-alive")


def forward(upstream, handler, body):
    """Send the request as it came (its Host header too, so SigV4 signatures still match) to upstream (host,
    port); returns (status, headers, data). Fronts of the rig chain this way, each forwarding to the next."""
    connection = http.client.HTTPConnection(*upstream, timeout=300)
    try:
        connection.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
        for name, value in handler.headers.items():
            if name.lower() not in HOP_BY_HOP:
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def send(handler, status, headers, data):
    """Answer the request with status, headers (name, value pairs) and data. A HEAD answer keeps the upstream's
    Content-Length (the size of what a GET would return) and has no body."""
    head = handler.command == "HEAD"
    handler.send_response(status)
    for name, value in headers:
        if name.lower() not in ("connection", "transfer-encoding", "server", "date") and (
                head or name.lower() != "content-length"):
            handler.send_header(name, value)
    if not head:
        handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if not head:
        handler.wfile.write(data)


def proxy_handler(handle):
    """A request handler class (HTTP/1.1, quiet) that hands every request to handle(handler)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 (the stdlib's name)
            handle(self)

        do_GET = do_PUT = do_DELETE = do_HEAD = do_POST  # noqa: N815

        def log_message(self, *args):
            pass

    return Handler


def upstream_of(url):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port


class FaultProxy(LocalHTTPServer):
    def __init__(self, upstream_url, seed=0):
        self.upstream = upstream_of(upstream_url)
        self.rules = []
        self.faults = []  # (action, fault) in order
        self.actions = []  # every action seen, in order
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self._serve(proxy_handler(self.handle))

    # --- rules ------------------------------------------------------------------------------------

    def set_rules(self, *rules, seed=0):
        with self.lock:
            self.rules = list(rules)
            self.faults = []
            self.actions = []
            self.rng = random.Random(seed)

    def clear(self):
        self.set_rules()

    def injected(self, fault=None, action=None):
        return [f for f in self.faults if (fault is None or f[1] == fault) and (action is None or f[0] == action)]

    # --- serving ----------------------------------------------------------------------------------

    def handle(self, handler):
        body = read_body(handler)
        action = request_action(body, handler.path)
        with self.lock:
            self.actions.append(action)
            fault = next((rule.fault for rule in self.rules if rule.fires(action, self.rng)), None)
            if fault:
                self.faults.append((action, fault))
        if fault in ("throttle", "unavailable", "deny"):
            return self.answer_error(handler, fault)
        status, headers, data = forward(self.upstream, handler, body)
        if fault == "lose":
            return self.answer_error(handler, fault)
        if fault == "drop":
            handler.close_connection = True
            return None
        return send(handler, status, headers, data)

    def answer_error(self, handler, fault):
        status, kind, code, message = FAULTS[fault]
        data = ERROR_BODY.format(kind=kind, code=code, message=message, serial=len(self.faults)).encode()
        send(handler, status, [("Content-Type", "text/xml")], data)
