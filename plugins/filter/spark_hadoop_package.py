# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.module_utils.spark_release import SparkReleaseError
from ansible_collections.cloudburst.aws.plugins.module_utils.spark_release import hadoop_package


def spark_hadoop_package(version):
    """The Hadoop build of Apache's binary archive for a Spark release version."""
    try:
        return hadoop_package(str(version))
    except SparkReleaseError as exc:
        raise AnsibleFilterError(f"spark_hadoop_package: {exc}")


class FilterModule:
    def filters(self):
        return {"spark_hadoop_package": spark_hadoop_package}
