# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.module_utils.spark_status import parse_apache_sha512


def apache_sha512(text, filename=None):
    """The hex digest from an Apache .sha512 file (sha512sum or gpg --print-md format)."""
    try:
        return parse_apache_sha512(text, filename)
    except ValueError as exc:
        raise AnsibleFilterError(f"apache_sha512: {exc}")


class FilterModule:
    def filters(self):
        return {"apache_sha512": apache_sha512}
