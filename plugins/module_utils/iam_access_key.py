# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_access_key: keys created, written, rotated and removed the way AWS
advises (create the second key, move clients, deactivate the old, delete the old), within IAM's limit of
two keys per user, without ever returning or printing a secret that was written to a file.

The promise: no Active key whose secret nobody holds. So:
  * CreateAccessKey is never retried blindly. After an unknown outcome (a 5xx or a lost connection) the
    user's keys are listed, and a key that appeared meanwhile is deleted (its secret was never received).
  * Every destination is checked for writability before a key is created.
  * A record beside the first destination (credential_files.RECORD_NAME) names the keys in flight: created
    but not yet written ("undelivered"), and rotated out but not yet deactivated or deleted ("retiring").
    The next run finishes what an interrupted run left. Keys that the module did not make or rotate out are
    never deleted or deactivated by it.
"""

from __future__ import annotations

import re
import time

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils.access_key_delivery import KeyDelivery
from ansible_collections.cloudburst.aws.plugins.module_utils.access_key_delivery import aws_error_text
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IAM_RETRY_CODES
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_user_name
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import describe_key

MAX_KEYS_PER_USER = 2
# CreateAccessKey is tried at most this often in one run; every try after an unknown outcome first
# deletes what the lost try made.
CREATE_ATTEMPTS = 4
CREATE_RETRY_DELAY = 1.0
# IAM is eventually consistent: ListAccessKeys right after a CreateAccessKey whose answer was lost may not
# show the key yet. After an unknown outcome the keys are listed again after each of these pauses (7 s in
# all), until every lost try's key is seen; a key never seen is counted as possibly made (see create_key).
LOST_KEY_LISTING_DELAYS = (1.0, 2.0, 4.0)


def create_outcome(exc):
    """What a failed CreateAccessKey means: "refused" (AWS did not act), "throttled" or "unknown"."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code", "")
        if status >= 500:
            return "unknown"
        if AWSRetry.found(code, IAM_RETRY_CODES):
            return "throttled"
        return "refused"
    return "unknown"  # a BotoCoreError: the connection broke or timed out, the request may have arrived


class AccessKeyManager(KeyDelivery, IamManager):
    def __init__(self, module, client, create_client=None):
        super().__init__(module, client)
        # CreateAccessKey goes through a client without retries (see iam_client_without_retries).
        self.create_client = create_client or client
        self.user = self.params["user_name"]
        self.out = {"deleted_access_key_ids": [], "files": []}
        self.record_file = None
        self.record = {"undelivered": [], "retiring": []}
        self.saved_record = None

    # --- input ------------------------------------------------------------------------------------

    def validate(self):
        p = self.params
        validate_user_name(self.user)
        if not re.fullmatch(r"0?[0-7]{3}", p["mode"] or ""):
            raise IamInputError(f"mode {p['mode']!r} is not an octal file mode such as 0600")
        self.mode = int(p["mode"], 8)
        if self.mode & 0o077:
            raise IamInputError(f"mode {p['mode']} would let other users on the host read the secret; use 0600 or 0400")
        for option in ("rotate_after_days", "max_age_days"):
            if p[option] is not None and p[option] < 1:
                raise IamInputError(f"{option} must be a positive number of days")
        self.targets = []
        if p["dest"]:
            self.targets.append(self.target(p["dest"], p["format"], p["credentials_profile"]))
        for extra in p["extra_destinations"] or []:
            self.targets.append(self.target(extra["dest"], extra["format"], extra["credentials_profile"]))
        paths = [path for t in self.targets for path in t.paths()]
        if len(paths) != len(set(paths)):
            raise IamInputError("two destinations name the same file")
        self.dest = self.targets[0].dest if self.targets else None
        try:
            self.uid, self.gid = files.resolve_owner(p["owner"], p["group"])
        except files.CredentialFileError as exc:
            raise IamInputError(str(exc))
        if self.targets:
            self.record_file = files.record_path(self.targets[0].directory)
            self.record = files.read_record(self.record_file, self.user)
            self.saved_record = {name: list(ids) for name, ids in self.record.items()}

    # --- AWS --------------------------------------------------------------------------------------

    def list_keys(self, missing_ok=False):
        try:
            keys = self.client.list_access_keys(UserName=self.user, aws_retry=True)["AccessKeyMetadata"]
        except is_boto3_error_code("NoSuchEntity"):
            if missing_ok:
                return []
            if self.check_mode:
                # In a check run an earlier task may only have predicted this user's creation.
                self.module.warn(f"IAM user {self.user} does not exist (yet); a real run fails if it still does not")
                return []
            raise IamInputError(f"IAM user {self.user!r} does not exist")
        return sorted(keys, key=lambda k: k["CreateDate"])

    def delete_key(self, key_id, why):
        self.change(f"delete access key {key_id} ({why})", self.client.delete_access_key, gone_ok=True,
                    UserName=self.user, AccessKeyId=key_id)
        self.out["deleted_access_key_ids"].append(key_id)
        self.forget(key_id)

    def set_status(self, key_id, status, why=None):
        self.change(f"mark access key {key_id} {status}" + (f" ({why})" if why else ""),
                    self.client.update_access_key, UserName=self.user, AccessKeyId=key_id, Status=status)

    def create_key(self, keys):
        """CreateAccessKey, never retried blindly. Returns the new key (None in check mode).

        After an unknown outcome the user's keys are listed until the lost call's key is seen (with backoff,
        LOST_KEY_LISTING_DELAYS); a key that was not there before was made by the lost call and nobody holds
        its secret, so it is deleted (and the record keeps it if that fails). A lost call whose key is never
        seen may still have made one that IAM does not list yet ("unseen"). IAM allows two keys per user, so
        no try is made that could be a third key while one is unseen: the task stops and says so. A try that
        succeeds while one is unseen is followed by one more look for it.
        """
        self.change("create a new access key")
        if self.check_mode:
            return None
        known = {k["AccessKeyId"] for k in keys}
        error = None
        unseen = 0  # tries with an unknown outcome whose key has not been seen (and deleted)
        for attempt in range(CREATE_ATTEMPTS):
            if attempt:
                if unseen and len(known) + unseen + 1 > MAX_KEYS_PER_USER:
                    raise IamInputError(self.unseen_message(known, unseen, error))
                time.sleep(CREATE_RETRY_DELAY * attempt)
            try:
                created = self.create_client.create_access_key(UserName=self.user)["AccessKey"]
            except (BotoCoreError, ClientError) as exc:
                outcome = create_outcome(exc)
                if outcome == "refused":
                    raise
                error = exc
            else:
                if unseen:
                    self.look_for_unseen_key(known | {created["AccessKeyId"]}, created["AccessKeyId"], error)
                return created
            if outcome == "unknown":
                unseen = max(0, unseen + 1 - self.delete_lost_keys(known, error, unseen + 1))
        raise IamInputError(
            f"CreateAccessKey for user {self.user} failed {CREATE_ATTEMPTS} times, last with "
            f"{aws_error_text(error)}; " + (self.unseen_message(known, unseen, error, tried=True) if unseen else
                                            "no new key is left behind, and the destinations are unchanged")
        )

    def unseen_message(self, known, unseen, error, tried=False):
        waited = sum(LOST_KEY_LISTING_DELAYS)
        text = (f"CreateAccessKey's response was lost ({aws_error_text(error)}) and user {self.user}'s keys, "
                f"listed for {waited:g} seconds since, show no key that it made; AWS may still have made one "
                "that IAM does not list yet, whose secret nobody holds. ")
        if not tried:
            text += (f"The user has {len(known)} other key(s) and IAM allows {MAX_KEYS_PER_USER}, so another try "
                     "could be a third key: none is made. ")
        return text + (f"Look again in a minute (aws iam list-access-keys --user-name {self.user}) and delete a key "
                       "that is in no destination, then run the task again; the destinations are unchanged")

    def new_keys(self, keys, known):
        """The keys that are neither known nor deleted by this run (a deleted key may still be listed)."""
        return [k for k in keys if k["AccessKeyId"] not in known
                and k["AccessKeyId"] not in self.out["deleted_access_key_ids"]]

    def delete_lost_keys(self, known, error, expected):
        """List the keys until `expected` lost keys are seen or LOST_KEY_LISTING_DELAYS are used up; delete
        every key that appeared. Returns how many were found."""
        found = 0
        for delay in (0,) + tuple(LOST_KEY_LISTING_DELAYS):
            if delay:
                time.sleep(delay)
            for key in self.new_keys(self.list_keys(), known):
                self.delete_lost_key(key["AccessKeyId"], error)
                found += 1
            if found >= expected:
                break
        return found

    def look_for_unseen_key(self, known, created_id, error):
        """After a try succeeded while an earlier lost try's key was unseen: list until the new key is
        listed (the lost one was made before it), delete any other key that appeared, warn if none did."""
        for delay in (0,) + tuple(LOST_KEY_LISTING_DELAYS):
            if delay:
                time.sleep(delay)
            keys = self.list_keys()
            lost = self.new_keys(keys, known)
            for key in lost:
                self.delete_lost_key(key["AccessKeyId"], error)
            if lost or any(k["AccessKeyId"] == created_id for k in keys):
                return
        self.module.warn(f"an earlier CreateAccessKey for user {self.user} lost its response "
                         f"({aws_error_text(error)}) and IAM does not list the new key {created_id} yet either; if a "
                         "key that is in no destination appears, nobody holds its secret: delete it")

    def delete_lost_key(self, key_id, error):
        why = (f"CreateAccessKey's response was lost ({aws_error_text(error)}) after AWS made this key, so "
               "nobody holds its secret")
        self.module.warn(f"access key {key_id} of user {self.user}: {why}; deleting it")
        self.note("undelivered", key_id)
        try:
            self.delete_key(key_id, why)
        except (BotoCoreError, ClientError) as exc:
            raise IamInputError(
                f"{why}; deleting key {key_id} failed too ({aws_error_text(exc)}). Key {key_id} is left behind "
                f"and Active; {self.remembered(key_id)}"
            )
        self.save_record()

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
        before = {"access_key_id": key["AccessKeyId"], "status": key["Status"]}
        if key["Status"] != wanted:
            self.set_status(key["AccessKeyId"], wanted)
            key = dict(key, Status=wanted)
        self.out["access_key"] = describe_key(key)
        return before, {"access_key_id": key["AccessKeyId"], "status": wanted}

    def ensure_one_active_key(self, keys):
        active = [k for k in keys if k["Status"] == "Active"]
        if active:
            self.out["access_key"] = describe_key(active[-1])
            before = {"access_key_id": active[-1]["AccessKeyId"]}
            return before, before
        keys = self.free_a_slot(keys, keep=set())
        created = self.create_key(keys)
        after = {"access_key_id": "(new key)"}
        if created:
            # The secret leaves the module only here, at creation; the action plugin hides this result.
            self.out["access_key"] = dict(describe_key(created), secret_access_key=created["SecretAccessKey"])
            after = {"access_key_id": created["AccessKeyId"]}
        return {"access_key_id": None}, after

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

    def ensure_written_key(self, keys):
        held = self.held_key_ids()
        held_ids = [key_id for key_id in dict.fromkeys(held) if key_id]
        recorded_id = held[0] if len(set(held)) == 1 else None
        current = next((k for k in keys if k["AccessKeyId"] == recorded_id), None)
        reason = self.rotation_reason(current, recorded_id)
        before = {"access_key_id": recorded_id or (held_ids[0] if held_ids else None)}
        if recorded_id is None and held_ids:
            reason = f"not every destination holds key {held_ids[0]}"
        # Every key a destination holds is replaced by a rotation, and retired after it.
        replaced = [k for key_id in held_ids for k in keys if k["AccessKeyId"] == key_id]
        self.out["files"] = [path for t in self.targets for path in t.paths()]
        if reason is None:
            self.fix_file_modes()
            self.out["access_key"] = describe_key(current)
            keys = self.finish_interrupted(keys, {recorded_id})
            self.enforce_max_age(keys, keep={recorded_id})
            self.save_record()
            return before, before

        # Every destination must be writable before a key exists whose secret they are to hold. All are looked
        # at first (a check-mode pass), so a refused one leaves no directory made for the others.
        try:
            for check_only in (True,) if self.check_mode else (True, False):
                for target in self.targets:
                    files.prepare_directory(target.directory, self.params["create_dirs"], self.uid, self.gid,
                                            check_only)
                    files.check_writable(target.directory, check_only)
        except files.CredentialFileError as exc:
            raise IamInputError(f"{exc}; no access key was created")
        replaced_ids = {k["AccessKeyId"] for k in replaced}
        keys = self.finish_interrupted(keys, replaced_ids)
        keys = self.free_a_slot(keys, keep=replaced_ids)
        created = self.create_key(keys)
        self.change(f"write the new key to {', '.join(t.dest for t in self.targets)} ({reason})")
        if created is not None:
            self.deliver(created, replaced_ids)
            self.out["access_key"] = describe_key(created)
            after = {"access_key_id": created["AccessKeyId"]}
        else:
            self.out["access_key"] = {"access_key_id": None, "status": "Active", "create_date": None, "age_days": 0}
            after = {"access_key_id": "(new key)"}
        if replaced:
            self.out["previous_access_key_id"] = replaced[0]["AccessKeyId"]
        for old in replaced:
            self.retire(old, created)
        self.enforce_max_age([k for k in keys if k["AccessKeyId"] not in self.out["deleted_access_key_ids"]],
                             keep=replaced_ids)
        self.save_record()
        return before, after

    def retire(self, old, created):
        """Deactivate or delete the key that the new one replaced; a failure says how the next run finishes."""
        old_id = old["AccessKeyId"]
        try:
            if self.params["keep_previous"] == "delete":
                self.delete_key(old_id, "replaced by the new key")
            elif old["Status"] == "Active":
                self.set_status(old_id, "Inactive", "replaced by the new key")
        except (BotoCoreError, ClientError) as exc:
            self.save_record()
            new = f"the new key {created['AccessKeyId']} is" if created else "the new key is"
            raise IamInputError(
                f"{new} written to {', '.join(t.dest for t in self.targets)}, but retiring the old key {old_id} "
                f"failed ({aws_error_text(exc)}). Key {old_id} stays {old['Status']} for now; the next run of this "
                f"task finishes the rotation (keep_previous: {self.params['keep_previous']})"
            )
        self.forget(old_id)

    def finish_interrupted(self, keys, held_ids):
        """Finish what an earlier run left in the record; return the keys that remain.

        An undelivered key's secret is lost: it is deleted. A retiring key is deactivated, or deleted with
        keep_previous: delete. Keys that the destinations hold (held_ids) are never touched here, and keys that
        are not in the record are only reported.
        """
        remaining = []
        for key in keys:
            key_id = key["AccessKeyId"]
            if key_id in held_ids:
                self.forget(key_id)
            elif key_id in self.record["undelivered"]:
                self.delete_key(key_id, "an earlier run created it but never wrote it, so nobody holds its secret")
                continue
            elif key_id in self.record["retiring"]:
                if self.params["keep_previous"] == "delete":
                    self.delete_key(key_id, "finishing the rotation an earlier run began")
                    continue
                if key["Status"] == "Active":
                    self.set_status(key_id, "Inactive", "finishing the rotation an earlier run began")
                    key = dict(key, Status="Inactive")
                self.forget(key_id)
            elif key["Status"] == "Active" and held_ids - {None}:
                self.module.warn(f"user {self.user} has another active access key, {key_id}, that this module did "
                                 "not make; it is left as it is")
            remaining.append(key)
        listed = {k["AccessKeyId"] for k in keys}
        for ids in self.record.values():
            ids[:] = [key_id for key_id in ids if key_id in listed]  # keys deleted elsewhere
        return remaining

    def free_a_slot(self, keys, keep):
        """IAM allows two keys per user: make room for a new one, deleting only an inactive key not in keep."""
        if len(keys) < MAX_KEYS_PER_USER:
            return keys
        others = [k for k in keys if k["AccessKeyId"] not in keep]
        inactive = [k for k in others if k["Status"] == "Inactive"]
        if inactive:
            self.delete_key(inactive[0]["AccessKeyId"], "inactive, to make room for the new key")
            return [k for k in keys if k["AccessKeyId"] != inactive[0]["AccessKeyId"]]
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
            if key["AccessKeyId"] in keep or key["AccessKeyId"] in self.out["deleted_access_key_ids"]:
                continue
            age = describe_key(key)["age_days"]
            if age >= limit:
                self.delete_key(key["AccessKeyId"], f"{age} days old, max_age_days is {limit}")

    # --- absent -----------------------------------------------------------------------------------

    def ensure_absent(self):
        keys = self.list_keys(missing_ok=True)
        wanted = self.params["id"]
        before_id = None
        for key in keys:
            if wanted is None or key["AccessKeyId"] == wanted:
                before_id = before_id or key["AccessKeyId"]
                self.delete_key(key["AccessKeyId"], "state is absent")
        for target in self.targets:
            recorded = target.read_key_id()
            if not recorded or (wanted is not None and recorded != wanted):
                continue
            if target.format == "aws_credentials":
                self.remove_profile(target.dest, target.profile)
            else:
                for path in files.remove_files(target.paths(), self.check_mode):
                    self.change(f"remove {path}")
        listed = {k["AccessKeyId"] for k in keys} - set(self.out["deleted_access_key_ids"])
        for ids in self.record.values():
            ids[:] = [key_id for key_id in ids if key_id in listed]
        self.save_record()
        return {"access_key_id": before_id}, {"access_key_id": None}
