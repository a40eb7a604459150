# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The user's HTCondor config as condor_annex writes and reads it (region prefixes with underscores)."""

from __future__ import annotations

import re

# Settings condor_annex -check-setup requires, in the order it checks them (region-prefixed ones first).
REGIONAL_SETTINGS = (
    "ANNEX_DEFAULT_ACCESS_KEY_FILE", "ANNEX_DEFAULT_SECRET_KEY_FILE", "ANNEX_DEFAULT_S3_BUCKET",
    "ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS", "ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN",
    "ANNEX_DEFAULT_SFR_LEASE_FUNCTION_ARN", "ANNEX_DEFAULT_ODI_INSTANCE_PROFILE_ARN", "ANNEX_DEFAULT_ODI_KEY_NAME",
)

_SETTING_PATTERN = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*=\s?(.*?)\s*\Z")
_HYPHEN_PREFIX_PATTERN = re.compile(r"^\s*([a-z]{2}(?:-[a-z]+)+-[0-9]+)\.([A-Za-z0-9_]+)\s*=")


def region_prefix(region):
    """condor_annex's config prefix for a region: us-east-1 -> us_east_1 (a hyphen is a config syntax error)."""
    return region.replace("-", "_")


def parse_condor_config(text):
    """Settings of an HTCondor config file as {lower-case name: (name, value)}; the last assignment wins.

    Comments, blank lines, include/if statements and continuation lines are handled well enough for the
    simple files condor_annex and this collection write; macros are left unexpanded.
    """
    settings = {}
    logical = ""
    for raw in text.splitlines():
        line = logical + raw
        if line.rstrip().endswith("\\"):
            logical = line.rstrip()[:-1]
            continue
        logical = ""
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _SETTING_PATTERN.match(line)
        if match:
            settings[match.group(1).lower()] = (match.group(1), match.group(2))
    return settings


def hyphenated_prefixes(text):
    """Lines that set a region-prefixed name with hyphens (us-east-1.X = ...): a syntax error for condor."""
    return [line.strip() for line in text.splitlines() if _HYPHEN_PREFIX_PATTERN.match(line)]


def lookup_setting(settings, name, prefix=None):
    """A setting's value as condor_annex reads it: the region-prefixed name first, then the plain one."""
    for key in ([f"{prefix}.{name}"] if prefix else []) + [name]:
        found = settings.get(key.lower())
        if found is not None and found[1] != "":
            return found[0], found[1]
    return None, None
