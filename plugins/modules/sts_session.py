#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sts_session
short_description: Temporary credentials with MFA, written as a profile of the AWS credentials file
version_added: 1.0.0
description:
  - Calls STS C(GetSessionToken) with a code from the user's MFA device and writes the temporary credentials
    (with C(aws_session_token) and their expiry) as profile O(session_profile) of O(credentials_file). This is
    how a person whose policy requires MFA (P(cloudburst.aws.require_mfa_policy#filter)) uses the AWS CLI, as in
    C(aws --profile NAME ...).
  - The code comes from O(mfa_code), typed by the person, or is computed from O(seed_file) (see
    M(cloudburst.aws.iam_mfa_device)). That file makes the seed a second thing on disk next to the keys, so
    use it only for automation that its owner chose.
  - The file is written atomically (a temporary file with mode 0600, then a rename), and read and written
    through descriptors, as cloudburst.aws.iam_access_key does. Every other profile stays as it is, byte for
    byte, and botocore reads it as before; so do the profile's own other settings, such as C(region). A file
    that botocore cannot read is refused, not repaired.
  - While the profile's session is valid for more than O(renew_before_minutes), nothing changes and no code
    is used.
  - The task's own AWS credentials (the long-term access key) sign the call. A profile that holds a long-term
    key is never overwritten.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  session_profile:
    description: The name of the profile that receives the temporary credentials.
    type: str
    required: true
  credentials_file:
    description: The AWS credentials file. Its directory is created with mode 0700 when it is missing.
    type: path
    default: ~/.aws/credentials
  mfa_code:
    description: The current 6-digit code from the MFA device.
    type: str
  seed_file:
    description: A seed file written by M(cloudburst.aws.iam_mfa_device), to compute the code from. Mode 0600.
    type: path
  serial_number:
    description:
      - The MFA device's ARN. Defaults to the only MFA device of the IAM user whose credentials sign the call.
    type: str
  duration_seconds:
    description: How long the session lasts, from 900 seconds to 129600 seconds (36 hours).
    type: int
    default: 43200
  renew_before_minutes:
    description: Renew the session when it expires within this many minutes.
    type: int
    default: 30
  force:
    description: Get a new session even while the current one is still valid.
    type: bool
    default: false
requirements:
  - pyotp (only for O(seed_file))
notes:
  - AWS does not accept a code twice. Right after M(cloudburst.aws.iam_mfa_device) enabled a device, wait for
    the next 30-second step before O(seed_file) gives a new code.
extends_documentation_fragment:
  - cloudburst.aws.iam
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: A 12-hour MFA session for the AWS CLI, with the code the person types (-e mfa_code=123456)
  cloudburst.aws.sts_session:
    session_profile: alice-mfa
    mfa_code: "{{ mfa_code }}"

- name: The same for automation that keeps the seed
  cloudburst.aws.sts_session:
    session_profile: alice-mfa
    seed_file: /home/alice/.aws/mfa-seed
    credentials_file: /home/alice/.aws/credentials
"""

RETURN = r"""
session:
  description: The temporary profile after the task. Never the secret or the session token.
  returned: always
  type: dict
  contains:
    profile:
      description: The profile's name.
      type: str
    credentials_file:
      description: The file it is in.
      type: str
    access_key_id:
      description: The temporary access key id (it starts with ASIA on AWS). Null in check mode.
      type: str
    expiration:
      description: When the session ends, ISO 8601 in UTC.
      type: str
    renewed:
      description: Whether this task got a new session.
      type: bool
    serial_number:
      description: The MFA device used.
      type: str
      returned: when renewed
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import sts_client
from ansible_collections.cloudburst.aws.plugins.module_utils.sts_session import StsSessionManager


def main():
    argument_spec = dict(
        session_profile=dict(type="str", required=True),
        credentials_file=dict(type="path", default="~/.aws/credentials"),
        mfa_code=dict(type="str", no_log=True),
        seed_file=dict(type="path"),
        serial_number=dict(type="str"),
        duration_seconds=dict(type="int", default=43200),
        renew_before_minutes=dict(type="int", default=30),
        force=dict(type="bool", default=False),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                                 mutually_exclusive=[["mfa_code", "seed_file"]])
    manager = StsSessionManager(module, iam_client(module), sts_client(module))
    before, after = run_manager(module, manager, f"session profile {module.params['session_profile']}")
    session = dict(profile=manager.profile, credentials_file=manager.path, **manager.result_extra)
    module.exit_json(session=session, **manager.result(before, after))


if __name__ == "__main__":
    main()
