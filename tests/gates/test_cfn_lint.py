# -*- coding: utf-8 -*-
"""Gate: cfn-lint (CloudFormation's own linter, offline) passes on the annex setup's four stack templates.

Three templates are static files; the security group's is rendered by the role (one rule per network), so it
is linted as rendered for an IPv4-only and a dual-stack allow-list.
"""

from __future__ import annotations

import os
import subprocess
import sys

import jinja2
import pytest
import yaml

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles",
                    "htcondor_annex_setup")
STATIC = ["configuration-bucket.yaml", "lambda-functions.yaml", "instance-profile.yaml"]
CFN_LINT = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "cfn-lint")


def render_security_group(central_manager, ssh):
    # The same Jinja settings as Ansible's template lookup (trim_blocks on).
    environment = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    with open(os.path.join(ROLE, "templates", "security-group.yaml.j2")) as stream:
        template = environment.from_string(stream.read())
    return template.render(htcondor_annex_setup_central_manager_checked=central_manager,
                           htcondor_annex_setup_ssh_checked=ssh)


def templates(tmp_path):
    paths = [os.path.join(ROLE, "files", name) for name in STATIC]
    for label, cm, ssh in (("ipv4", ["10.140.0.5/32"], ["11.22.33.44/32"]),
                           ("dual-stack", ["10.140.0.5/32", "2001:db8::5/128"], ["11.22.33.44/32", "2001:db8:1::/64"])):
        path = tmp_path / f"security-group-{label}.yaml"
        path.write_text(render_security_group(cm, ssh))
        paths.append(str(path))
    return paths


def test_cfn_lint_passes_on_the_four_templates(tmp_path):
    paths = templates(tmp_path)
    result = subprocess.run([CFN_LINT, "--format", "parseable", "--", *paths], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags read as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


@pytest.mark.parametrize("name", STATIC)
def test_static_templates_open_nothing_to_the_world_and_use_a_supported_runtime(name):
    with open(os.path.join(ROLE, "files", name)) as stream:
        text = stream.read()
    assert "0.0.0.0/0" not in text and "::/0" not in text
    document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["Handler"] in ("annex_lease.handler", "annex_connectivity.handler")
    if name == "lambda-functions.yaml":
        assert document["Parameters"]["Runtime"]["Default"] == "python3.13"


def test_security_group_template_holds_exactly_the_given_networks(tmp_path):
    rendered = yaml.load(render_security_group(["10.140.0.5/32"], ["2001:db8:1::/64"]), Loader=_CfnLoader)  # noqa: S506
    rules = rendered["Resources"]["SecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [(r["FromPort"], r.get("CidrIp") or r.get("CidrIpv6")) for r in rules] == [
        (9618, "10.140.0.5/32"), (22, "2001:db8:1::/64")]


def test_the_configuration_bucket_keeps_the_versions_an_overwrite_replaced():
    # moto's CloudFormation ignores VersioningConfiguration, so the template is where this can be read.
    with open(os.path.join(ROLE, "files", "configuration-bucket.yaml")) as stream:
        bucket = yaml.load(stream, Loader=_CfnLoader)["Resources"]["Bucket"]["Properties"]  # noqa: S506
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert [r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in rules if r["Status"] == "Enabled"] == [30]
