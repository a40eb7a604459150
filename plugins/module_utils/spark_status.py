# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading a Spark standalone master's /json/ status page."""

from __future__ import annotations

import json


class SparkStatusError(Exception):
    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable


def _count(value):
    return len(value) if isinstance(value, list) else int(value or 0)


def parse_master_status(body, url):
    """Snake-cased summary of the master's /json/ answer; SparkStatusError when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        raise SparkStatusError(f"{url} did not answer with JSON; is it a Spark master's web UI /json/ page?")
    if not isinstance(data, dict) or "status" not in data or "workers" not in data:
        raise SparkStatusError(f"{url} answered JSON without the master's status and workers")
    workers = [
        {
            "id": w.get("id"),
            "host": w.get("host"),
            "port": w.get("port"),
            "cores": w.get("cores"),
            "cores_used": w.get("coresused"),
            "memory": w.get("memory"),
            "memory_used": w.get("memoryused"),
            "state": w.get("state"),
            "last_heartbeat": w.get("lastheartbeat"),
        }
        for w in data.get("workers", [])
    ]
    return {
        "spark_url": data.get("url"),
        "status": data["status"],
        "alive_workers": data.get("aliveworkers", sum(1 for w in workers if w["state"] == "ALIVE")),
        "workers": workers,
        "cores": data.get("cores", 0),
        "cores_used": data.get("coresused", 0),
        "memory": data.get("memory", 0),
        "memory_used": data.get("memoryused", 0),
        "active_apps": _count(data.get("activeapps", [])),
        "completed_apps": _count(data.get("completedapps", [])),
    }


def parse_apache_sha512(text, filename=None):
    """The hex SHA-512 from an Apache .sha512 file, in either of the formats Apache has used:

    "HEX  NAME" (sha512sum) or "NAME: 8883C67E 0A138069 ..." (gpg --print-md, over several lines).
    """
    text = (text or "").strip()
    if ":" in text.split("\n", 1)[0]:
        name, _sep, digest = text.partition(":")
        digest = "".join(digest.split())
    else:
        parts = text.split()
        digest, name = (parts[0], parts[1] if len(parts) > 1 else None) if parts else ("", None)
    digest = digest.lower()
    if len(digest) != 128 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("not a SHA-512 checksum file: expected 128 hexadecimal digits")
    if filename and name and name.strip().lstrip("*").split("/")[-1] != filename:
        raise ValueError(f"the checksum file is for {name.strip()}, not {filename}")
    return digest
