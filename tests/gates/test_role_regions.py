# -*- coding: utf-8 -*-
"""A role with a region option sends every AWS call, those of the roles it includes too, to that region.

Such a role runs its work in a block whose module_defaults give each AWS module by name the role's region: a
module's own defaults outrank the play's group/cloudburst.aws.aws entry and keep its endpoint and credentials. An
AWS module used in the role's tree but missing from that block would quietly go to the play's region instead (the
stacks in one region, the key pair in another), so this gate lists them.
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml
from conftest import REPO_ROOT

ROLES = pathlib.Path(REPO_ROOT, "roles")
# role: (its region variable, the roles it includes)
REGIONAL_ROLES = {
    "spark_ec2": ("spark_ec2_region", ["ec2_network", "ec2_security_groups", "ec2_cluster_key", "ec2_instances"]),
    "htcondor_annex": ("htcondor_annex_region", ["ec2_instances"]),
    "htcondor_annex_setup": ("htcondor_annex_setup_region", ["ec2_cluster_key"]),
}
# Modules of the collection that do not talk to AWS (no region option).
NOT_AWS = {"cloudburst.aws.public_ip_info", "cloudburst.aws.spark_master_info"}
MODULE = re.compile(r"^\s+((?:amazon|cloudburst)\.aws\.[a-z_0-9]+):", re.MULTILINE)


def aws_modules(roles):
    found = set()
    for role in roles:
        for path in (ROLES / role / "tasks").glob("*.yml"):
            found.update(MODULE.findall(path.read_text(encoding="utf-8")))
    return found - NOT_AWS


def regional_defaults(role, variable):
    """{module: region expression} of the blocks in the role's tasks/main.yml that set module_defaults by name."""
    found = {}
    for task in yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text(encoding="utf-8")):
        for module, defaults in (task.get("module_defaults") or {}).items():
            assert not module.startswith("group/"), (
                f"{role}: a block's module_defaults for {module} replace the play's whole entry (endpoint, credentials)")
            found[module] = defaults.get("region")
    assert set(found.values()) == {"{{ " + variable + " }}"}, found
    return found


@pytest.mark.parametrize("role", sorted(REGIONAL_ROLES))
def test_every_aws_call_of_the_role_goes_to_its_region(role):
    variable, included = REGIONAL_ROLES[role]
    used = aws_modules([role, *included])
    listed = set(regional_defaults(role, variable))
    assert used <= listed, f"{role}: AWS modules without {variable} in module_defaults: {sorted(used - listed)}"
    assert listed <= used, f"{role}: module_defaults name modules the role never uses: {sorted(listed - used)}"
