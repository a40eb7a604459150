# -*- coding: utf-8 -*-
"""Gate: ansible-lint with the production profile over the whole collection (config in .ansible-lint)."""

from __future__ import annotations

from conftest import ansible_env, run


def test_ansible_lint_production_profile():
    result = run(["ansible-lint", "--profile", "production", "--offline", "--nocolor"], env=ansible_env(),
                 timeout=900)
    assert result.rc == 0, "ansible-lint failed:\n" + result.output[-8000:]
