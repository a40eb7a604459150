# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_access_key: keys created, written, rotated and removed the way AWS
advises (create the second key, move clients, deactivate the old, delete the old), within IAM's limit of
two keys per user, without ever returning or printing a secret that was written to a file."""

from __future__ import annotations

import datetime
import os
import stat

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_user_name

MAX_KEYS_PER_USER = 2


def describe_key(meta, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    created = meta["CreateDate"]
    return {
        "access_key_id": meta["AccessKeyId"],
        "status": meta["Status"],
        "create_date": created.isoformat(),
        "age_days": (now - created).days,
    }


class AccessKeyManager:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.user = self.params["user_name"]
        self.check_mode = module.check_mode
        self.changes = []
        self.result = {"deleted_access_key_ids": [], "files": []}
        # The current key id before and after the task, for diff mode.
        self.before_id = self.after_id = None

    # --- input ------------------------------------------------------------------------------------

    def validate(self):
        p = self.params
        validate_user_name(self.user)
        try:
            self.mode = int(p["mode"], 8)
        except ValueError:
            raise IamInputError(f"mode {p['mode']!r} is not an octal file mode such as 0600")
        if self.mode & 0o007:
            raise IamInputError(f"mode {p['mode']} would let every user on the host read the secret; use 0600 or 0640")
        for option in ("rotate_after_days", "max_age_days"):
            if p[option] is not None and p[option] < 1:
                raise IamInputError(f"{option} must be a positive number of days")
        if p["rotate_after_days"] and not p["dest"]:
            raise IamInputError("rotate_after_days needs dest: a rotated key must be delivered somewhere")
        self.targets = []
        if p["dest"]:
            self.targets.append(self.target(p["dest"], p["format"], p["credentials_profile"]))
        for extra in p["extra_destinations"] or []:
            self.targets.append(self.target(extra["dest"], extra["format"], extra["credentials_profile"]))
        if p["extra_destinations"] and not p["dest"]:
            raise IamInputError("extra_destinations needs dest")
        paths = [path for t in self.targets for path in files.target_paths(t["format"], t["dest"])]
        if len(paths) != len(set(paths)):
            raise IamInputError("two destinations name the same file")
        self.dest = self.targets[0]["dest"] if self.targets else None
        try:
            self.uid, self.gid = files.resolve_owner(p["owner"], p["group"])
        except files.CredentialFileError as exc:
            raise IamInputError(str(exc))

    @staticmethod
    def target(dest, fmt, profile):
        dest = os.path.abspath(os.path.expanduser(dest))
        directory = dest if fmt == "condor_annex" else os.path.dirname(dest)
        return {"dest": dest, "format": fmt, "profile": profile, "directory": directory}

    # --- AWS --------------------------------------------------------------------------------------

    def list_keys(self):
        try:
            keys = self.client.list_access_keys(UserName=self.user, aws_retry=True)["AccessKeyMetadata"]
        except is_boto3_error_code("NoSuchEntity"):
            if self.check_mode:
                # In a check run an earlier task may only have predicted this user's creation.
                self.module.warn(f"IAM user {self.user} does not exist (yet); a real run fails if it still does not")
                return []
            raise IamInputError(f"IAM user {self.user!r} does not exist")
        return sorted(keys, key=lambda k: k["CreateDate"])

    def delete_key(self, key_id, why):
        self.changes.append(f"delete access key {key_id} ({why})")
        self.result["deleted_access_key_ids"].append(key_id)
        if not self.check_mode:
            self.client.delete_access_key(UserName=self.user, AccessKeyId=key_id, aws_retry=True)

    def set_status(self, key_id, status):
        self.changes.append(f"mark access key {key_id} {status}")
        if not self.check_mode:
            self.client.update_access_key(UserName=self.user, AccessKeyId=key_id, Status=status, aws_retry=True)

    def create_key(self):
        self.changes.append("create a new access key")
        if self.check_mode:
            return None
        return self.client.create_access_key(UserName=self.user, aws_retry=True)["AccessKey"]

    # --- present ----------------------------------------------------------------------------------

    def ensure_present(self):
        keys = self.list_keys()
        if self.params["id"]:
            return self.ensure_status(keys)
        if self.dest is None:
            return self.ensure_one_active_key(keys)
        return self.ensure_written_key(keys)

    def ensure_status(self, keys):
        key = next((k for k in keys if k["AccessKeyId"] == self.params["id"]), None)
        if key is None:
            raise IamInputError(f"user {self.user} has no access key {self.params['id']}")
        wanted = "Active" if self.params["active"] else "Inactive"
        self.before_id = self.after_id = key["AccessKeyId"]
        if key["Status"] != wanted:
            self.set_status(key["AccessKeyId"], wanted)
            key = dict(key, Status=wanted)
        self.result["access_key"] = describe_key(key)

    def ensure_one_active_key(self, keys):
        active = [k for k in keys if k["Status"] == "Active"]
        if active:
            self.result["access_key"] = describe_key(active[-1])
            self.before_id = self.after_id = active[-1]["AccessKeyId"]
            return
        self.free_a_slot(keys, keep=None)
        created = self.create_key()
        if created:
            # The secret leaves the module only here, at creation; the action plugin hides this result.
            self.result["access_key"] = dict(describe_key(created), secret_access_key=created["SecretAccessKey"])
            self.after_id = created["AccessKeyId"]

    def rotation_reason(self, current, recorded_id):
        if recorded_id is None:
            return "dest holds no access key yet"
        if current is None:
            return f"dest holds key {recorded_id}, which user {self.user} no longer has"
        if current["Status"] != "Active":
            return f"dest holds key {recorded_id}, which is inactive"
        age = describe_key(current)["age_days"]
        for option in ("max_age_days", "rotate_after_days"):
            limit = self.params[option]
            if limit and age >= limit:
                return f"key {recorded_id} is {age} days old ({option} is {limit})"
        return None

    def recorded_key_id(self):
        """The key id every destination records, or None when one holds none or they disagree."""
        try:
            recorded = {files.read_key_id(t["format"], t["dest"], t["profile"]) for t in self.targets}
        except files.CredentialFileError as exc:
            raise IamInputError(str(exc))
        return recorded.pop() if len(recorded) == 1 else None

    def ensure_written_key(self, keys):
        first = self.targets[0]
        recorded_id = self.recorded_key_id()
        previous_id = files.read_key_id(first["format"], first["dest"], first["profile"])
        current = next((k for k in keys if k["AccessKeyId"] == recorded_id), None)
        reason = self.rotation_reason(current, recorded_id)
        self.before_id = self.after_id = recorded_id or previous_id
        if recorded_id is None and previous_id is not None:
            reason = f"not every destination holds key {previous_id}"
            current = next((k for k in keys if k["AccessKeyId"] == previous_id), None)
        self.result["files"] = [path for t in self.targets for path in files.target_paths(t["format"], t["dest"])]
        if reason is None:
            self.fix_file_modes()
            self.result["access_key"] = describe_key(current)
            self.enforce_max_age(keys, keep={current["AccessKeyId"]})
            return

        try:
            for target in self.targets:
                files.prepare_directory(target["directory"], self.params["create_dirs"], self.uid, self.gid,
                                        self.check_mode)
        except files.CredentialFileError as exc:
            raise IamInputError(str(exc))
        self.free_a_slot(keys, keep=current)
        created = self.create_key()
        self.changes.append(f"write the new key to {', '.join(t['dest'] for t in self.targets)} ({reason})")
        if created is not None:
            self.write_or_roll_back(created)
            self.result["access_key"] = describe_key(created)
            self.after_id = created["AccessKeyId"]
        else:
            self.result["access_key"] = {"access_key_id": None, "status": "Active", "create_date": None, "age_days": 0}
            self.after_id = "(new key)"
        if current is not None:
            self.result["previous_access_key_id"] = current["AccessKeyId"]
            if self.params["keep_previous"] == "delete":
                self.delete_key(current["AccessKeyId"], "replaced by the new key")
            elif current["Status"] == "Active":
                self.set_status(current["AccessKeyId"], "Inactive")
        keep = {current["AccessKeyId"]} if current is not None else set()
        self.enforce_max_age([k for k in keys if k["AccessKeyId"] not in self.result["deleted_access_key_ids"]],
                             keep=keep)

    def write_or_roll_back(self, created):
        content = {}
        for target in self.targets:
            content.update(files.render(target["format"], target["dest"], target["profile"], created["AccessKeyId"],
                                        created["SecretAccessKey"]))
        try:
            files.write_files(content, self.mode, self.uid, self.gid)
        except (files.CredentialFileError, OSError) as exc:
            # No orphaned key and no lost secret: the new key goes again before the task fails.
            self.client.delete_access_key(UserName=self.user, AccessKeyId=created["AccessKeyId"], aws_retry=True)
            raise IamInputError(
                f"{exc}; the new access key {created['AccessKeyId']} was deleted again, so user {self.user}'s "
                "keys in AWS are as they were"
            )

    def free_a_slot(self, keys, keep):
        """IAM allows two keys per user: make room for a new one, deleting only an inactive key."""
        if len(keys) < MAX_KEYS_PER_USER:
            return
        keep_id = keep["AccessKeyId"] if keep else None
        others = [k for k in keys if k["AccessKeyId"] != keep_id]
        inactive = [k for k in others if k["Status"] == "Inactive"]
        if inactive:
            self.delete_key(inactive[0]["AccessKeyId"], "inactive, to make room for the new key")
            return
        listed = ", ".join(f"{k['AccessKeyId']} ({k['Status'].lower()})" for k in keys)
        raise IamInputError(
            f"user {self.user} already has {len(keys)} access keys ({listed}), the most AWS allows, and no "
            "inactive one to delete; deactivate or delete a key that is no longer used, then run again"
        )

    def enforce_max_age(self, keys, keep):
        limit = self.params["max_age_days"]
        if not limit:
            return
        for key in keys:
            if key["AccessKeyId"] in keep or key["AccessKeyId"] in self.result["deleted_access_key_ids"]:
                continue
            age = describe_key(key)["age_days"]
            if age >= limit:
                self.delete_key(key["AccessKeyId"], f"{age} days old, max_age_days is {limit}")

    def fix_file_modes(self):
        for path in self.result["files"]:
            info = os.lstat(path)
            if stat.S_IMODE(info.st_mode) != self.mode:
                self.changes.append(f"set mode {self.params['mode']} on {path}")
                if not self.check_mode:
                    os.chmod(path, self.mode)
            if (self.uid != -1 and info.st_uid != self.uid) or (self.gid != -1 and info.st_gid != self.gid):
                self.changes.append(f"set owner of {path}")
                if not self.check_mode:
                    os.chown(path, self.uid, self.gid)

    # --- absent -----------------------------------------------------------------------------------

    def ensure_absent(self):
        keys = self.list_keys()
        wanted = self.params["id"]
        for key in keys:
            if wanted is None or key["AccessKeyId"] == wanted:
                self.before_id = self.before_id or key["AccessKeyId"]
                self.delete_key(key["AccessKeyId"], "state is absent")
        for target in self.targets:
            recorded = files.read_key_id(target["format"], target["dest"], target["profile"])
            if not recorded or (wanted is not None and recorded != wanted):
                continue
            if target["format"] == "aws_credentials":
                self.remove_profile(target["dest"], target["profile"])
            else:
                for path in files.remove_files(files.target_paths(target["format"], target["dest"]), self.check_mode):
                    self.changes.append(f"remove {path}")

    def remove_profile(self, dest, profile):
        remaining = files.without_profile(dest, profile)
        if remaining is None:
            return
        self.changes.append(f"remove profile {profile} from {dest}")
        if not self.check_mode:
            info = os.lstat(dest)
            files.write_files({dest: remaining}, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
