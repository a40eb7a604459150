# -*- coding: utf-8 -*-
"""The setup's connectivity check (the function the stock condor_annex -count invokes before it launches): it asks an
HTCondor daemon for its instance ID as HTCondor's own check does. A real collector answers it in
tests/integration/test_annex_lifecycle.py; here a socket plays the daemon."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils import annex_connectivity
from ansible_collections.cloudburst.aws.plugins.module_utils import annex_lease


QUERY = b"\x01\x00\x00\x00\x08" + struct.pack("!Q", 60045)


def read_message(connection):
    header = connection.recv(5)
    return header + connection.recv(struct.unpack("!I", header[1:])[0]) if len(header) == 5 else b""


def daemon(answer, shared_port=False):
    """A server on 127.0.0.1 that plays a collector and records the messages it got: one that listens on the port
    itself (it closes a connection that asks for a shared port), or one behind a shared port; returns (port, got)."""
    listener = socket.create_server(("127.0.0.1", 0))
    got = []

    def serve():
        while True:
            try:
                connection = listener.accept()[0]
            except OSError:
                return
            first = read_message(connection)
            got.append(first)
            if first != QUERY and shared_port:
                got.append(read_message(connection))
            if first == QUERY or shared_port:
                connection.sendall(answer)
                connection.close()
                listener.close()
                return
            connection.close()  # a collector does not know SHARED_PORT_CONNECT

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], got


def test_it_asks_the_collector_itself_for_its_id():
    port, got = daemon(struct.pack("!BI", 1, 16) + b"0123456789abcdef")
    answer = annex_connectivity.handler({"timeout": 5, "condor_port": port, "condor_host": "127.0.0.1"}, None)
    assert answer == {"success": "1", "result": "0123456789abcdef", "description": f"Request sent to 127.0.0.1:{port}."}
    assert got[-1] == QUERY


def test_behind_a_shared_port_it_asks_for_the_collector_first():
    """A raw DC_QUERY_INSTANCE to a shared port is answered by the shared port daemon, not the collector."""
    port, got = daemon(struct.pack("!BI", 1, 16) + b"fedcba9876543210", shared_port=True)
    answer = annex_connectivity.check({"timeout": 5, "condor_port": port, "condor_host": "127.0.0.1"})
    assert answer["success"] == "1" and answer["result"] == "fedcba9876543210"
    connect = struct.pack("!q", 75) + b"collector\0cloudburst-annex-connectivity\0" + struct.pack("!qq", 5, 0)
    assert got == [struct.pack("!BI", 1, len(connect)) + connect, QUERY]


@pytest.mark.parametrize("answer, message", [
    (b"\x02\x00\x00\x00\x10", "not a CEDAR message"),
    (struct.pack("!BI", 1, 100000), "not an instance ID"),
    (struct.pack("!BI", 1, 16) + b"0123", "closed the connection"),
])
def test_a_wrong_answer_is_a_failed_check_not_an_error(answer, message):
    port, _server = daemon(answer, shared_port=True)
    result = annex_connectivity.check({"condor_port": port, "condor_host": "127.0.0.1", "timeout": 2})
    assert result["success"] == "0" and message in result["description"]


@pytest.mark.parametrize("event", [{}, {"condor_host": "127.0.0.1", "condor_port": "x"},
                                   {"condor_host": "127.0.0.1", "condor_port": 70000}, None])
def test_bad_input_is_a_failed_check(event):
    assert annex_connectivity.check(event)["success"] == "0"


def test_nobody_listening_is_a_failed_check():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = annex_connectivity.check({"condor_port": port, "condor_host": "127.0.0.1", "timeout": 1})
    assert result["success"] == "0" and f"127.0.0.1:{port}" in result["description"]


@pytest.mark.parametrize("module, absent", [(annex_connectivity, ["ansible", "boto3"]), (annex_lease, ["ansible"])],
                         ids=["annex_connectivity", "annex_lease"])
def test_each_function_file_runs_alone_as_lambda_code(tmp_path, module, absent):
    """A Lambda function gets its one file: it must import with the standard library (and boto3, which Lambda's
    Python runtimes carry, for the lease function) alone."""
    name = module.__name__.rsplit(".", 1)[-1]
    code = ("import importlib.util, sys\n"
            + "".join(f"sys.modules[{package!r}] = None\n" for package in absent)
            + f"spec = importlib.util.spec_from_file_location({name!r}, {module.__file__!r})\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
            "assert callable(module.handler)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
