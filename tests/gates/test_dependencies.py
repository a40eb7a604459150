# -*- coding: utf-8 -*-
"""Every collection that the shipped content names is this one, ansible.builtin or a dependency that galaxy.yml
declares, and every plugin named in a declared dependency exists there.

A user installs the tarball and what it declares, nothing else: a role that calls community.crypto without
declaring it fails on their machine with "couldn't resolve module/action", while this repository's venv (the whole
ansible package) would hide it. So the gate reads every role, playbook and plugin as text and finds each name of
the shape namespace.collection.name whose namespace.collection is an installed collection.
"""

from __future__ import annotations

import os
import pathlib
import re

import yaml
from conftest import REPO_ROOT

import ansible_collections

# What a user's installation has besides the declared dependencies.
BUILTIN = {"ansible.builtin", "ansible.legacy", "cloudburst.aws"}
# Shipped content: what `ansible-galaxy collection build` puts in the tarball for users to run.
SHIPPED = ("roles", "playbooks", "plugins", "meta")
SHIPPED_SUFFIXES = (".yml", ".yaml", ".j2", ".py")
FQCN = re.compile(r"(?<![\w./-])([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\b")
PYTHON_IMPORT = re.compile(r"ansible_collections\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.")
# Where a collection keeps what a name may refer to: plugins of every type, module_utils, doc fragments, roles.
PLUGIN_DIRS = ("plugins", "roles", "playbooks")


def installed_collections():
    """{"namespace.name": path} of every collection in the ansible package and in this repository's link."""
    found = {}
    for base in list(ansible_collections.__path__):
        for namespace in pathlib.Path(base).iterdir():
            if namespace.is_dir():
                for collection in namespace.iterdir():
                    if (collection / "MANIFEST.json").exists() or (collection / "galaxy.yml").exists():
                        found.setdefault(f"{namespace.name}.{collection.name}", collection)
    return found


def declared_dependencies():
    with open(os.path.join(REPO_ROOT, "galaxy.yml"), encoding="utf-8") as stream:
        return set((yaml.safe_load(stream).get("dependencies") or {}).keys())


def shipped_files():
    for top in SHIPPED:
        for path in sorted(pathlib.Path(REPO_ROOT, top).rglob("*")):
            if path.is_file() and path.suffix in SHIPPED_SUFFIXES and "__pycache__" not in path.parts:
                yield path


def references(installed):
    """{(collection, name): [file:line, ...]} for every name that refers to an installed collection."""
    found = {}
    for path in shipped_files():
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{path.relative_to(REPO_ROOT)}:{number}"
            # In Python, `from ansible.utils.display import ...` names ansible-core's package, not the ansible.utils
            # collection; imports of collections are matched by PYTHON_IMPORT.
            is_import = path.suffix == ".py" and line.lstrip().startswith(("from ", "import "))
            for match in [] if is_import else FQCN.finditer(line):
                collection = f"{match.group(1)}.{match.group(2)}"
                if collection in installed or collection in BUILTIN:
                    found.setdefault((collection, match.group(3)), []).append(where)
            for match in PYTHON_IMPORT.finditer(line):
                found.setdefault((f"{match.group(1)}.{match.group(2)}", None), []).append(where)
    return found


def plugin_names(collection_path):
    """Every name a FQCN may use in this collection: plugin and module_utils files, roles, playbooks, action
    groups and routed names from meta/runtime.yml."""
    names = set()
    for top in PLUGIN_DIRS:
        base = collection_path / top
        if base.is_dir():
            names.update(p.stem for p in base.rglob("*") if p.suffix in (".py", ".yml", ".yaml", ".ps1"))
            if top == "roles":
                names.update(p.name for p in base.iterdir() if p.is_dir())
    runtime = collection_path / "meta" / "runtime.yml"
    if runtime.exists():
        data = yaml.safe_load(runtime.read_text(encoding="utf-8")) or {}
        names.update(data.get("action_groups") or {})
        for routes in (data.get("plugin_routing") or {}).values():
            names.update(routes or {})
    return names


def test_every_collection_named_by_shipped_content_is_declared():
    installed = installed_collections()
    allowed = BUILTIN | declared_dependencies()
    undeclared = {}
    for (collection, _name), places in references(installed).items():
        if collection not in allowed:
            undeclared.setdefault(collection, []).extend(places)
    assert not undeclared, "shipped content uses collections that galaxy.yml does not declare:\n" + "\n".join(
        f"  {collection}: {', '.join(places[:5])}" for collection, places in sorted(undeclared.items()))


def test_every_declared_dependency_is_used_and_installed():
    installed = installed_collections()
    used = {collection for collection, _name in references(installed)}
    for dependency in declared_dependencies():
        assert dependency in installed, f"{dependency} is declared but not installed in the venv"
        assert dependency in used, f"{dependency} is declared in galaxy.yml but nothing shipped uses it"


def test_every_name_in_a_dependency_exists_there():
    """A misspelt module of a declared collection fails here, not on a user's first run."""
    installed = installed_collections()
    missing = []
    names_of = {}
    by_name = sorted(references(installed).items(), key=lambda item: (item[0][0], item[0][1] or ""))
    for (collection, name), places in by_name:
        if name is None or collection in BUILTIN:
            continue
        names = names_of.setdefault(collection, plugin_names(installed[collection]))
        if name not in names:
            missing.append(f"{collection}.{name} ({', '.join(places[:3])})")
    assert not missing, "names not found in their collections:\n  " + "\n  ".join(missing)


def test_the_rig_is_not_shipped_as_a_role():
    """The container creator belongs to the test rig (tests/roles), not to the roles users call."""
    assert not pathlib.Path(REPO_ROOT, "roles", "local_hosts").exists()
    assert pathlib.Path(REPO_ROOT, "tests", "roles", "local_hosts", "tasks", "main.yml").exists()
