# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one error base class of this collection's module_utils."""

from __future__ import annotations


class CloudburstError(ValueError):
    """Bad input or a refusal, found before any call that writes (or a local file that cannot be used).

    Every error a manager raises on purpose derives from it, so the one runner (aws_module.run_manager) turns
    each into fail_json with its message, never a traceback.
    """
