# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The annex setup's connectivity check: the Lambda function the stock ``condor_annex -count`` invokes before every
launch (its ANNEX_DEFAULT_CONNECTIVITY_FUNCTION_ARN), to learn whether the pool's collector answers from AWS.

Self-contained (standard library only): it is the function's whole code (handler ``annex_connectivity.handler``).
The event is condor_annex's ``{"timeout": 5, "condor_port": 9618, "condor_host": "<COLLECTOR_HOST>"}``. The
function opens one TCP connection to that host and port, sends HTCondor's unauthenticated DC_QUERY_INSTANCE
command (CEDAR framing: a header byte 1, a four-byte length and the eight-byte command number) and returns the
daemon's instance ID as ``{"success": "1", "result": ID, "description": ...}``, or ``"success": "0"`` with what
went wrong; condor_annex compares the ID with the one its own collector gave, and launches only when they match.

Its role may write its own logs and nothing else: it never calls AWS. It sends nothing but that one command and
reads at most a short answer, with a timeout of at most 10 s.
"""

from __future__ import annotations

import socket
import struct

DC_QUERY_INSTANCE = 60045  # DC_BASE (60000) + 45, condor_commands.h
MAX_TIMEOUT = 10
MAX_ANSWER = 256


def _receive(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError(f"the daemon closed the connection after {len(data)} of {size} bytes")
        data += chunk
    return data


def query_instance(host, port, timeout):
    """The instance ID a daemon at host:port gives for DC_QUERY_INSTANCE."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack("!BIQ", 1, 8, DC_QUERY_INSTANCE))
        if _receive(sock, 1) != b"\x01":
            raise ValueError("the answer is not a CEDAR message")
        (length,) = struct.unpack("!I", _receive(sock, 4))
        if not 0 < length <= MAX_ANSWER:
            raise ValueError(f"an answer of {length} bytes is not an instance ID")
        return _receive(sock, length).decode("ascii", "replace").rstrip("\x00")


def check(event):
    """condor_annex's connectivity check on its event; never raises."""
    event = event if isinstance(event, dict) else {}
    host = event.get("condor_host")
    try:
        port = int(event.get("condor_port", 9618))
        timeout = min(max(int(event.get("timeout", 5)), 1), MAX_TIMEOUT)
        if not isinstance(host, str) or not host or not 0 < port < 65536:
            raise ValueError("condor_host must be a host name or address and condor_port a port")
    except (TypeError, ValueError) as error:
        return {"success": "0", "result": "", "description": f"Error: {error}."}
    try:
        instance_id = query_instance(host, port, timeout)
    except (OSError, ValueError) as error:
        return {"success": "0", "result": "",
                "description": f"Error: {error}. Could not query the HTCondor daemon at {host}:{port}."}
    return {"success": "1", "result": instance_id, "description": f"Request sent to {host}:{port}."}


def handler(event, context):  # pylint: disable=unused-argument
    """Lambda entry point."""
    return check(event)
