# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The annex setup's connectivity check: the Lambda function the stock ``condor_annex -count`` invokes before every
launch (its ANNEX_DEFAULT_CONNECTIVITY_FUNCTION_ARN), to learn whether the pool's collector answers from AWS.

Self-contained (standard library only): it is the function's whole code (handler ``annex_connectivity.handler``).
The event is condor_annex's ``{"timeout": 5, "condor_port": 9618, "condor_host": "<COLLECTOR_HOST>"}``. The
function asks the collector at that host and port for its instance ID with HTCondor's unauthenticated
DC_QUERY_INSTANCE command and returns it as ``{"success": "1", "result": ID, "description": ...}``, or
``"success": "0"`` with what went wrong; condor_annex compares the ID with the one its collector gave it, and
launches only when they match.

Where the port is a shared port (HTCondor's default), a raw DC_QUERY_INSTANCE is answered by the shared port daemon
itself, whose ID is not the collector's (so HTCondor's own check-connectivity function fails there). This one first
asks the shared port to pass the connection to the collector (SHARED_PORT_CONNECT to the id ``collector``, as
HTCondor's clients do) and queries it there; a collector that listens on the port itself closes that connection,
and is then queried directly. CEDAR framing: each message is one packet, a byte 1, a four-byte length and the
payload, whose integers are eight bytes and whose strings end with a NUL.

Its role may write its own logs and nothing else: it never calls AWS. It sends nothing but that one command and
reads at most a short answer, with a timeout of at most 10 s.
"""

from __future__ import annotations

import socket
import struct

DC_QUERY_INSTANCE = 60045  # DC_BASE (60000) + 45, condor_commands.h
SHARED_PORT_CONNECT = 75
COLLECTOR_ID = "collector"  # the shared port id of a collector (SHARED_PORT_DEFAULT_ID's default)
CLIENT_NAME = "cloudburst-annex-connectivity"
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


def message(*fields):
    """One CEDAR message (a single packet): integers as eight bytes, strings NUL-terminated."""
    payload = b"".join(struct.pack("!q", f) if isinstance(f, int) else f.encode() + b"\0" for f in fields)
    return struct.pack("!BI", 1, len(payload)) + payload


def query_instance(host, port, timeout, shared_port_id=None):
    """The instance ID the daemon at host:port gives for DC_QUERY_INSTANCE; with shared_port_id, the daemon the
    shared port at host:port passes the connection to."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        if shared_port_id:
            sock.sendall(message(SHARED_PORT_CONNECT, shared_port_id, CLIENT_NAME, timeout, 0))
        sock.sendall(message(DC_QUERY_INSTANCE))
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
        instance_id = query_instance(host, port, timeout, COLLECTOR_ID)
        how = f"the collector behind the shared port at {host}:{port}"
    except (OSError, ValueError) as through_shared_port:
        try:
            instance_id = query_instance(host, port, timeout)
            how = f"{host}:{port}"
        except (OSError, ValueError) as directly:
            return {"success": "0", "result": "",
                    "description": f"Error: {through_shared_port} (through a shared port); {directly} (directly). "
                                   f"Could not query the HTCondor collector at {host}:{port}."}
    return {"success": "1", "result": instance_id, "description": f"Request sent to {how}."}


def handler(event, context):  # pylint: disable=unused-argument
    """Lambda entry point."""
    return check(event)
