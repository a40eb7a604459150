#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_mfa_device
short_description: Enrol, resync, deactivate and delete an IAM user's virtual MFA device, keeping its seed
version_added: 1.0.0
description:
  - Creates a virtual MFA device for an IAM user and writes its seed (the Base32 secret) to O(seed_file) with
    mode 0600. With O(qr_code_file), it also writes the seed as an SVG QR code that authenticator apps scan.
    A lost phone is then recoverable from the saved seed.
  - Enables the device with two consecutive TOTP codes computed from the seed (the previous and the current
    30-second step).
  - If O(seed_file) cannot be written, the new device is deleted again, and the task fails. AWS shows a
    seed only once, and a device whose seed nobody holds is a lockout waiting to happen.
  - Re-running changes nothing while the device is enabled for the user. A device that exists but is not
    enabled is enabled with codes from O(seed_file) when that file exists. Otherwise it is deleted and
    replaced, because its seed is unknown.
  - The seed is never in the module's result, its diff or its log.
  - O(resync=true) resynchronises an enabled device whose clock drifted. O(state=deactivated) detaches the
    device from the user, and O(state=absent) also deletes it and removes O(seed_file) and O(qr_code_file).
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  user_name:
    description: The IAM user whose MFA device this is.
    type: str
    required: true
    aliases: [user]
  name:
    description: The virtual MFA device's name. Defaults to O(user_name).
    type: str
  path:
    description: The device's IAM path.
    type: str
    default: /
  state:
    description:
      - V(present) creates and enables the device. V(deactivated) detaches it from the user but keeps it.
        V(absent) detaches and deletes it and removes O(seed_file) and O(qr_code_file).
    type: str
    choices: [present, deactivated, absent]
    default: present
  seed_file:
    description:
      - Where the device's seed is kept, one Base32 line, mode 0600. Its directory must exist.
      - Required to create a device. An existing file must not be readable by group or others.
      - Read and written through descriptors, like cloudburst.aws.iam_access_key's files. The file and its
        directory must not be links (a link further up is followed only when root or the user running the
        module owns it and its directory), and a FIFO or a file with more than one hard link is refused.
    type: path
  qr_code_file:
    description:
      - Where to write the seed as an SVG QR code (an C(otpauth://) URI), mode 0600. Needs O(seed_file).
      - It holds the secret, just like O(seed_file). Scan it, then keep it as safe as the seed or remove it.
    type: path
  resync:
    description:
      - Resynchronise the enabled device with two consecutive codes, from O(authentication_codes) or else
        computed from O(seed_file). Reports a change every time it runs.
    type: bool
    default: false
  authentication_codes:
    description: Two consecutive 6-digit codes from the device, for O(resync=true).
    type: list
    elements: str
requirements:
  - pyotp (to compute the codes)
  - segno (only for O(qr_code_file))
notes:
  - Codes are computed on the host that runs the module, so its clock must be right.
extends_documentation_fragment:
  - cloudburst.aws.iam
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Enrol alice's virtual MFA device and keep its seed
  cloudburst.aws.iam_mfa_device:
    user_name: alice
    seed_file: /home/alice/.aws/mfa-seed
    qr_code_file: /home/alice/.aws/mfa-seed.svg

- name: Resynchronise with two codes read from the phone
  cloudburst.aws.iam_mfa_device:
    user_name: alice
    resync: true
    authentication_codes: ["123456", "654321"]

- name: Remove the device and the saved seed
  cloudburst.aws.iam_mfa_device:
    user_name: alice
    seed_file: /home/alice/.aws/mfa-seed
    state: absent
"""

RETURN = r"""
device:
  description: The device after the task (predicted in check mode). Never the seed.
  returned: always
  type: dict
  contains:
    serial_number:
      description: The device's ARN.
      type: str
      sample: arn:aws:iam::123456789012:mfa/alice
    user_name:
      description: The user.
      type: str
    exists:
      description: Whether the virtual device exists.
      type: bool
    enabled:
      description: Whether it is enabled for the user.
      type: bool
    enable_date:
      description: When it was enabled, ISO 8601.
      type: str
    seed_file:
      description: The seed file's path.
      type: str
    seed_file_exists:
      description: Whether the seed file exists.
      type: bool
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["create virtual MFA device arn:aws:iam::123456789012:mfa/alice"]
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import MfaDeviceManager


def main():
    argument_spec = dict(
        user_name=dict(type="str", required=True, aliases=["user"]),
        name=dict(type="str"),
        path=dict(type="str", default="/"),
        state=dict(type="str", default="present", choices=["present", "deactivated", "absent"]),
        seed_file=dict(type="path"),
        qr_code_file=dict(type="path"),
        resync=dict(type="bool", default=False),
        authentication_codes=dict(type="list", elements="str", no_log=True),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    manager = MfaDeviceManager(module, iam_client(module))
    before, after = run_manager(module, manager, f"the MFA device of user {module.params['user_name']}")
    module.exit_json(device=after, **manager.result(before, after))


if __name__ == "__main__":
    main()
