# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The EC2 cluster of an HTCondor annex (plugins/module_utils/annex_lease.py), for the htcondor_annex role."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import LeaseError
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import annex_cluster as _annex_cluster


def annex_cluster(annex_name, prefix="annex-"):
    """The cloudburst:cluster tag of the annex's instances: prefix plus a suffix no other annex name has."""
    try:
        return _annex_cluster(annex_name, prefix)
    except LeaseError as exc:
        raise AnsibleFilterError(f"annex_cluster: {exc}")


class FilterModule:
    def filters(self):
        return {"annex_cluster": annex_cluster}
