# -*- coding: utf-8 -*-
"""Every role's defaults/main.yml agrees with its meta/argument_specs.yml, entry point by entry point.

ansible-doc shows the specs' defaults, and the roles run with defaults/main.yml's: the two are written apart, so
this gate reads both. A variable of defaults/main.yml is declared by some entry point; where an entry point gives
it a default, that is defaults/main.yml's value; a plain (untemplated) value of defaults/main.yml is some entry
point's default, unless the variable is required there (an empty placeholder the role refuses). An entry point's
default that defaults/main.yml lacks is the default of a parameter that only an entry point other than main takes.

The specs write an option shared by entry points once (YAML anchors and merge keys): a second copy is refused.
"""

from __future__ import annotations

import pathlib

import pytest
import yaml
from conftest import REPO_ROOT

ROLES = sorted(p.name for p in pathlib.Path(REPO_ROOT, "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(role, *parts):
    path = pathlib.Path(REPO_ROOT, "roles", role, *parts)
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


def templated(value):
    return "{{" in value or "{%" in value if isinstance(value, str) else False


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_the_argument_specs(role):
    specs = load(role, "meta", "argument_specs.yml")["argument_specs"]
    defaults = load(role, "defaults", "main.yml")
    problems = []
    for entry, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            if "default" not in option:
                continue
            if name in defaults and defaults[name] != option["default"]:
                problems.append(f"{entry}: {name} defaults to {option['default']!r}, defaults/main.yml to "
                                f"{defaults[name]!r}")
            elif name not in defaults and entry == "main":
                problems.append(f"{entry}: {name} has a default ({option['default']!r}) that defaults/main.yml lacks")
    declared = {name: option for spec in specs.values() for name, option in (spec.get("options") or {}).items()}
    for name, value in defaults.items():
        options = [spec["options"][name] for spec in specs.values() if name in (spec.get("options") or {})]
        if not options:
            problems.append(f"{name} is in defaults/main.yml but no entry point declares it")
        elif not templated(value) and not any("default" in o or o.get("required") for o in options):
            problems.append(f"{name} is {value!r} in defaults/main.yml but no entry point gives that default")
    assert declared and problems == [], "\n".join(problems)


@pytest.mark.parametrize("role", [r for r in ROLES if len(load(r, "meta", "argument_specs.yml")["argument_specs"]) > 1])
def test_an_option_shared_by_entry_points_is_written_once(role):
    """Another entry point takes an option of the main one by alias, or merges it (<<) and writes only what differs:
    an option of the same type and default written out again is refused."""
    text = pathlib.Path(REPO_ROOT, "roles", role, "meta", "argument_specs.yml").read_text(encoding="utf-8")
    specs = yaml.safe_load(text)["argument_specs"]
    main = specs["main"].get("options") or {}
    merged = {line.strip()[len("<<: *"):] for line in text.splitlines() if line.strip().startswith("<<: *")}
    repeated = sorted(
        f"{entry}: {name}" for entry, spec in specs.items() if entry != "main"
        for name, option in (spec.get("options") or {}).items()
        if name in main and option is not main[name] and name not in merged
        and all(option.get(key) == main[name].get(key) for key in ("type", "elements", "default")))
    assert repeated == [], f"write these once (an anchor on the main entry point's option, an alias here): {repeated}"
