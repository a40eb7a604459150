# -*- coding: utf-8 -*-
"""A stand-in for Apache's download server on 127.0.0.1, for the spark_download scenario.

It serves small archives in the official layout with .sha512 files in the gpg --print-md format that
Apache uses: spark-4.0.1 with its right checksum, and spark-4.0.2 whose published checksum is wrong.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import tarfile
import threading


def _archive(version):
    top = f"spark-{version}-bin-hadoop3"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content, mode in ((f"{top}/RELEASE", f"Spark {version} (test stand-in)\n", 0o644),
                                    (f"{top}/bin/spark-class", "#!/bin/sh\nexit 0\n", 0o755),
                                    (f"{top}/conf/.keep", "", 0o644)):
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _gpg_format(name, digest):
    groups = " ".join(digest.upper()[i:i + 8] for i in range(0, 128, 8))
    return f"{name}: {groups[:71]}\n{' ' * (len(name) + 2)}{groups[72:]}\n"


def build_mirror(root):
    for version, tamper in (("4.0.1", False), ("4.0.2", True)):
        directory = os.path.join(root, "spark", f"spark-{version}")
        os.makedirs(directory, exist_ok=True)
        name = f"spark-{version}-bin-hadoop3.tgz"
        data = _archive(version)
        with open(os.path.join(directory, name), "wb") as stream:
            stream.write(data)
        digest = hashlib.sha512(data + (b"tampered" if tamper else b"")).hexdigest()
        with open(os.path.join(directory, name + ".sha512"), "w") as stream:
            stream.write(_gpg_format(name, digest))


def serve(root):
    """Serve root on a free 127.0.0.1 port in a daemon thread; return the base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"
