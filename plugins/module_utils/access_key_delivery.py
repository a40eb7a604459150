# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The key writer's side of iam_access_key: its destinations, the record of keys in flight beside the first
one, and the delivery of a new key to all of them (with its rollback when a write fails)."""

from __future__ import annotations

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError


def aws_error_text(exc):
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


class KeyDelivery:
    """What AccessKeyManager does with files: it needs self.user, self.targets, self.mode, self.uid, self.gid,
    self.record_file, self.record, self.saved_record, self.client and change() (an IamManager's)."""

    @staticmethod
    def target(dest, fmt, profile):
        try:
            return files.Destination.of(dest, fmt, profile)
        except files.CredentialFileError as exc:
            raise IamInputError(str(exc))

    def note(self, kind, key_id):
        if key_id not in self.record[kind]:
            self.record[kind].append(key_id)

    def forget(self, key_id):
        for ids in self.record.values():
            if key_id in ids:
                ids.remove(key_id)

    def remembered(self, key_id):
        """Save the record, so that the next run deletes the undelivered key_id; say who will delete it."""
        try:
            self.save_record()
        except files.CredentialFileError:
            self.record_file = None
        if self.record_file is None:
            return f"delete it yourself (aws iam delete-access-key --user-name {self.user} --access-key-id {key_id})"
        return f"the next run of this task deletes it (recorded in {self.record_file}), or delete it yourself"

    def save_record(self):
        """Write the record if it changed (never in check mode)."""
        if self.record_file is None or self.check_mode or self.record == self.saved_record:
            return
        files.write_record(self.record_file, self.user, self.record, self.uid, self.gid)
        self.saved_record = {name: list(ids) for name, ids in self.record.items()}

    def held_key_ids(self):
        """The key id each destination holds (None where it holds none), in the order of the destinations."""
        try:
            return [t.read_key_id() for t in self.targets]
        except files.CredentialFileError as exc:
            raise IamInputError(str(exc))

    def deliver(self, created, replaced_ids):
        """Write the new key to every destination, recording it first; on failure delete it again."""
        key_id = created["AccessKeyId"]
        self.note("undelivered", key_id)
        for old_id in replaced_ids:
            self.note("retiring", old_id)
        try:
            self.save_record()
        except files.CredentialFileError as exc:
            self.roll_back(key_id, exc)
        content = {}
        for target in self.targets:
            content.update(target.render(key_id, created["SecretAccessKey"]))
        try:
            files.write_files(content, self.mode, self.uid, self.gid)
        except (files.CredentialFileError, OSError) as exc:
            for old_id in replaced_ids:
                self.forget(old_id)
            self.roll_back(key_id, exc)
        self.forget(key_id)
        self.save_record()

    def roll_back(self, key_id, write_error):
        """No orphaned key and no lost secret: the new key goes again before the task fails."""
        try:
            self.client.delete_access_key(UserName=self.user, AccessKeyId=key_id, aws_retry=True)
        except (BotoCoreError, ClientError) as exc:
            raise IamInputError(
                f"{write_error}; and deleting the new access key {key_id} again failed too ({aws_error_text(exc)}). "
                f"Key {key_id} of user {self.user} is left behind, Active, and nobody holds its secret: "
                f"{self.remembered(key_id)}"
            )
        self.forget(key_id)
        try:
            self.save_record()
        except files.CredentialFileError:
            pass
        raise IamInputError(
            f"{write_error}; the new access key {key_id} was deleted again, so user {self.user}'s keys in AWS are "
            "as they were"
        )

    def fix_file_modes(self):
        for path in self.out["files"]:
            # Through the file's own descriptor: chmod/chown of a planted link or hard link would reach another file.
            fixes = files.fix_file(path, self.mode, self.uid, self.gid, self.check_mode)
            if "mode" in fixes:
                self.change(f"set mode {self.params['mode']} on {path}")
            if "owner" in fixes:
                self.change(f"set owner of {path}")

    def remove_profile(self, dest, profile):
        if files.remove_profile(dest, profile, self.check_mode):
            self.change(f"remove profile {profile} from {dest}")
