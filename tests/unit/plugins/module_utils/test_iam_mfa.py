# -*- coding: utf-8 -*-
"""The seed file and TOTP helpers shared by iam_mfa_device and sts_session."""
from __future__ import annotations

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import read_seed_file
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import totp_codes
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import validate_code

# RFC 6238's SHA-1 test secret ("12345678901234567890") in Base32; its vectors are 8 digits, AWS uses 6.
RFC_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_codes_match_rfc_6238():
    assert totp_codes(RFC_SEED, 1, now=59) == ["287082"]
    assert totp_codes(RFC_SEED, 1, now=1111111109) == ["081804"]
    # Two consecutive codes end at the current step: the previous step's code, then the current one.
    assert totp_codes(RFC_SEED, 2, now=59) == ["755224", "287082"]


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "", None])
def test_codes_must_be_six_digits(code):
    with pytest.raises(IamInputError, match="must be exactly 6 digits"):
        validate_code(code)


def test_seed_file_must_be_private_and_base32(tmp_path):
    seed = tmp_path / "seed"
    seed.write_text(RFC_SEED + "\n")
    seed.chmod(0o600)
    assert read_seed_file(str(seed)) == RFC_SEED
    seed.chmod(0o640)
    with pytest.raises(IamInputError, match="has mode 0640"):
        read_seed_file(str(seed))
    seed.chmod(0o600)
    seed.write_text("not base32!\n")
    with pytest.raises(IamInputError, match="does not hold a Base32 MFA seed"):
        read_seed_file(str(seed))
    with pytest.raises(IamInputError, match="does not exist"):
        read_seed_file(str(tmp_path / "missing"))
