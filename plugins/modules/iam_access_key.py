#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_access_key
short_description: Create, write, rotate, deactivate and delete an IAM user's access keys safely
version_added: 1.0.0
description:
  - Keeps one working access key for an IAM user and delivers it to a credential file on the host that
    runs the module, without ever printing the secret.
  - With O(dest), the key recorded in O(dest) is the current key. Re-running changes nothing while that key
    is active and younger than O(rotate_after_days) and O(max_age_days).
  - Rotation follows AWS's advice within its limit of two keys per user. The module creates the new key,
    writes it, and then deactivates or deletes the old key (O(keep_previous)). When the user already has
    two keys, an inactive key that is not current is deleted first. The module never deletes an active
    key to make room.
  - Every destination is checked for writability before a key is created, so a read-only directory costs no
    key. If writing fails after AWS created the new key, the module deletes that key again and fails. If that
    delete fails too, the message names both errors and the key left behind, and the next run deletes it.
  - Files are written atomically (a temporary file with the final mode, then a rename), with mode O(mode)
    (0600 by default). A directory that the module creates gets mode 0700.
  - Nothing is done by path in a directory that O(owner) controls. Directories are opened from C(/) one name
    at a time without following links; files are created, re-moded and re-owned through their own
    descriptors. The destination directory and the files must not be links, and a link further up is
    followed only when root or the user running the module owns it and its directory. A file with more than
    one hard link, a FIFO or a device in place of a file is refused.
  - Without O(dest), the module makes sure the user has an active key. A key that it creates is returned
    once, in RV(access_key.secret_access_key), and the module hides its whole result from output.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  user_name:
    description: The IAM user whose keys are managed.
    type: str
    required: true
    aliases: [user]
  state:
    description:
      - V(present) keeps a current key (see above). V(absent) deletes the key O(id), or every key of the user
        when O(id) is not given, and removes what O(dest) holds for it.
    type: str
    choices: [present, absent]
    default: present
  id:
    description:
      - One key to act on. With O(state=present), O(active) sets its status. With O(state=absent), only this
        key is deleted.
    type: str
  active:
    description: With O(id) and O(state=present), whether that key is active.
    type: bool
    default: true
  rotate_after_days:
    description: Replace the current key once it is this many days old. Requires O(dest).
    type: int
  max_age_days:
    description:
      - No key may be older than this. The current key is replaced when it is this old. Any other key of the
        user that is this old is deleted.
    type: int
  keep_previous:
    description: What happens to the replaced key after rotation.
    type: str
    choices: [inactive, delete]
    default: inactive
  dest:
    description:
      - Where the key is written. This is a file for O(format=aws_credentials) and O(format=env), and a
        directory for O(format=condor_annex) (usually C(~/.condor)).
    type: path
  extra_destinations:
    description:
      - More places to write the same key to, for example condor_annex files and an AWS profile. A key that
        is missing from any destination is replaced by a new one written to all of them. Requires O(dest).
    type: list
    elements: dict
    suboptions:
      dest:
        description: As O(dest).
        type: path
        required: true
      format:
        description: As O(format).
        type: str
        choices: [aws_credentials, condor_annex, env]
        default: aws_credentials
      credentials_profile:
        description: As O(credentials_profile).
        type: str
        default: default
  format:
    description:
      - V(aws_credentials) is one profile in an INI credentials file. The module keeps the file's other
        profiles and the profile's other settings as they are, byte for byte, and botocore reads them as
        before. A session token and its expiry in the profile go, since they do not belong to the new key. A
        file that botocore cannot read (a repeated section or option, a line that is no option) is refused,
        not repaired.
      - V(condor_annex) is the two files that condor_annex reads. C(publicKeyFile) holds only the key id and
        C(privateKeyFile) holds only the secret, one line each.
      - V(env) is C(export AWS_ACCESS_KEY_ID=...) and C(export AWS_SECRET_ACCESS_KEY=...) lines.
    type: str
    choices: [aws_credentials, condor_annex, env]
    default: aws_credentials
  credentials_profile:
    description:
      - The profile's name in the credentials file, for O(format=aws_credentials).
      - V(DEFAULT) is refused, since botocore gives a C([DEFAULT]) section's settings to every profile.
    type: str
    default: default
  owner:
    description: The user who owns the written files (and a directory the module creates).
    type: str
  group:
    description: The group of the written files.
    type: str
  mode:
    description:
      - Mode of the written files, as an octal string. Modes that let other users read the file are refused.
    type: str
    default: "0600"
  create_dirs:
    description: Create the directory of O(dest) (mode 0700) when it is missing.
    type: bool
    default: true
notes:
  - Check mode reports a rotation without creating or writing anything. Diff mode shows key ids, never a secret.
  - C(CreateAccessKey) is not idempotent, so it is never retried blindly. When its outcome is unknown (a 5xx
    answer or a broken connection), the module lists the user's keys. A key that appeared meanwhile was made
    by the lost call, and nobody holds its secret, so the module deletes it, says so in a warning and in
    RV(changes), and tries again.
  - IAM may list a new key only some seconds later, so when no new key shows up the module lists again after
    1, 2 and 4 seconds. A key still not listed may exist. While one may, the module makes no try that could
    be the user's third key (IAM allows two). With another key already there, the task fails and says to look
    again in a minute. A later try that succeeds is followed by one more look for the lost key.
  - Beside the first destination, in C(.cloudburst-access-keys.json) (mode 0600) in its directory, the module
    records the keys in flight. These are keys it created but has not written yet, and keys it rotated out but
    has not deactivated or deleted yet. When a run is interrupted (a denied C(UpdateAccessKey) or
    C(DeleteAccessKey), a failed write whose rollback failed too), the next run finishes the job. It deletes
    the unwritten keys and retires the rotated-out ones. The file is removed when nothing is in flight.
  - Keys that this module did not create or rotate out are never deactivated or deleted (except by
    O(max_age_days) and O(state=absent)). An other active key is reported in a warning.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.iam
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Give condor_annex a key, rotated every 90 days
  cloudburst.aws.iam_access_key:
    user_name: annex-user
    dest: /home/alice/.condor
    format: condor_annex
    owner: alice
    rotate_after_days: 90

- name: An AWS CLI profile, the old key deleted right after rotation
  cloudburst.aws.iam_access_key:
    user_name: annex-user
    dest: /home/alice/.aws/credentials
    credentials_profile: annex
    owner: alice
    rotate_after_days: 90
    keep_previous: delete

- name: One key for condor_annex and for the AWS CLI
  cloudburst.aws.iam_access_key:
    user_name: annex-user
    dest: /home/alice/.condor
    format: condor_annex
    extra_destinations:
      - dest: /home/alice/.aws/credentials
        credentials_profile: annex
    owner: alice

- name: Deactivate a key that is no longer used
  cloudburst.aws.iam_access_key:
    user_name: annex-user
    id: "{{ old_key_id }}"
    active: false

- name: Delete every key of the user and the files that hold them
  cloudburst.aws.iam_access_key:
    user_name: annex-user
    dest: /home/alice/.condor
    format: condor_annex
    state: absent
"""

RETURN = r"""
access_key:
  description: The current key after the task. In check mode, a key that would be created has a null id.
  returned: when the user has a current key
  type: dict
  contains:
    access_key_id:
      description: The key's id.
      type: str
    status:
      description: C(Active) or C(Inactive).
      type: str
    create_date:
      description: When the key was created, ISO 8601.
      type: str
    age_days:
      description: Whole days since creation.
      type: int
    secret_access_key:
      description: The secret. It is returned only when the key is created without O(dest), and the result is then hidden.
      type: str
      returned: at creation without dest
previous_access_key_id:
  description: The key that this rotation replaced.
  returned: after a rotation of an existing key
  type: str
deleted_access_key_ids:
  description: Keys that this task deleted (or would delete).
  returned: always
  type: list
  elements: str
files:
  description: The credential files for O(dest).
  returned: always
  type: list
  elements: str
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.credential_files import FORMATS
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_access_key import AccessKeyManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client_without_retries
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager


def main():
    argument_spec = dict(
        user_name=dict(type="str", required=True, aliases=["user"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        id=dict(type="str"),
        active=dict(type="bool", default=True),
        rotate_after_days=dict(type="int"),
        max_age_days=dict(type="int"),
        keep_previous=dict(type="str", default="inactive", choices=["inactive", "delete"]),
        dest=dict(type="path"),
        format=dict(type="str", default="aws_credentials", choices=list(FORMATS)),
        credentials_profile=dict(type="str", default="default"),
        extra_destinations=dict(type="list", elements="dict", options=dict(
            dest=dict(type="path", required=True),
            format=dict(type="str", default="aws_credentials", choices=list(FORMATS)),
            credentials_profile=dict(type="str", default="default"),
        )),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="str", default="0600"),
        create_dirs=dict(type="bool", default=True),
    )
    module = CloudburstAWSModule(
        argument_spec=argument_spec,
        required_by={"rotate_after_days": "dest", "extra_destinations": "dest"},
        supports_check_mode=True,
    )
    manager = AccessKeyManager(module, iam_client(module), iam_client_without_retries(module))
    before, after = run_manager(module, manager, f"the access keys of {module.params['user_name']}")
    module.exit_json(**manager.result(before, after), **manager.out)


if __name__ == "__main__":
    main()
