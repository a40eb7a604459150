#!/usr/bin/env python
"""Stand-in for the pip bootstrap script that `ansible-test --venv --requirements` downloads.

The host it downloads from is out of reach here; ansible-test accepts a local file at
~/.ansible/test/cache/get_pip_<version>.py instead (tests/gates/test_sanity.py puts this one there).
It installs pip with ensurepip and then the requested packages from the package index.
"""

import subprocess
import sys

IGNORED = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in IGNORED]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--cert", "/etc/ssl/certs/ca-certificates.crt", *args])
