# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Spark releases by their names: which version strings are releases, and which Hadoop build Apache publishes.

No list of versions is kept here (spark-ec2's hard-coded list is what left it behind): a version is accepted when it
has a release's shape, and spark_ec2 then checks before launch that the mirror serves its archive's .sha512.
"""

from __future__ import annotations

import re

# 4.0.1, 3.5.7, 4.1.0-preview2: Apache's release directories (spark-<version>/) are named so.
VERSION_PATTERN = re.compile(r"^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})(-preview[0-9]{0,2})?\Z")


class SparkReleaseError(ValueError):
    """A version string that is not a Spark release's."""


def release_version(version):
    """(major, minor, patch) of a release version, or SparkReleaseError."""
    match = VERSION_PATTERN.match(version) if isinstance(version, str) else None
    if match is None:
        raise SparkReleaseError(f"{version!r} is not a Spark release version (such as 4.0.1 or 3.5.7)")
    return tuple(int(part) for part in match.groups()[:3])


def hadoop_package(version):
    """The Hadoop build in the name of Apache's binary archive of version (spark-<version>-bin-<package>.tgz).

    Apache has named the default build after the Hadoop line it bundles: hadoop2.6 up to 1.6, hadoop2.7 for 2.x,
    hadoop3.2 for 3.0 to 3.2, and hadoop3 from 3.3 on (Spark 4 included).
    """
    major, minor, _patch = release_version(version)
    if major >= 4 or (major == 3 and minor >= 3):
        return "hadoop3"
    if major == 3:
        return "hadoop3.2"
    if major == 2:
        return "hadoop2.7"
    return "hadoop2.6"
