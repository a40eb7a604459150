# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.sts_session: temporary credentials with MFA, written as a CLI profile.

GetSessionToken with an MFA code gives credentials whose requests carry aws:MultiFactorAuthPresent, which
the require-MFA policy asks for. They are written as one profile of the credentials file (with
aws_session_token and the expiry), through credential_files' atomic writer at 0600; every other profile
stays as it is, byte for byte, and reads the same to botocore.
"""

from __future__ import annotations

import datetime
import os
import stat

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils import credentials_ini
from ansible_collections.cloudburst.aws.plugins.module_utils import safe_directory
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import read_seed_file
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import totp_codes
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_mfa import validate_code

# GetSessionToken's limits for an IAM user, in seconds.
MIN_DURATION, MAX_DURATION = 900, 129600
EXPIRATION_KEY = credentials_ini.EXPIRATION_OPTION
SESSION_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", EXPIRATION_KEY)


def render_session_profile(path, profile, credentials, expiration):
    """The credentials file at path with profile's section holding the session's credentials.

    credential_files.set_profile() writes the key id, secret, session token and expiry first in the section,
    keeps the profile's own other settings (region, ...) and every other line of the file as they are, and
    refuses a file botocore cannot read. A legacy aws_security_token goes: botocore would take it before the
    new aws_session_token.
    """
    settings = dict(zip(SESSION_KEYS, (credentials["AccessKeyId"], credentials["SecretAccessKey"],
                                       credentials["SessionToken"], expiration)))
    text = safe_directory.read_file(path)[0] or ""
    return credentials_ini.set_profile(text, profile, settings, ("aws_security_token",), path)


def parse_time(value):
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


class StsSessionManager(IamManager):
    def validate(self):
        p = self.params
        self.profile = p["session_profile"]
        try:
            files.validate_profile_name(self.profile)
        except files.CredentialFileError as exc:
            raise IamInputError(str(exc))
        if p["mfa_code"] is not None:
            validate_code(p["mfa_code"], "MFA code")
        self.seed = read_seed_file(os.path.abspath(os.path.expanduser(p["seed_file"]))) if p["seed_file"] else None
        if not MIN_DURATION <= p["duration_seconds"] <= MAX_DURATION:
            raise IamInputError(f"duration_seconds must be between {MIN_DURATION} and {MAX_DURATION} "
                                f"(got {p['duration_seconds']})")
        if p["renew_before_minutes"] < 0:
            raise IamInputError("renew_before_minutes must not be negative")
        self.path = os.path.abspath(os.path.expanduser(p["credentials_file"]))
        status = safe_directory.file_status(self.path)
        if status and stat.S_ISDIR(status.st_mode):
            raise IamInputError(f"credentials_file {self.path} is a directory")
        self.text = safe_directory.read_file(self.path)[0] or ""
        self.existing = credentials_ini.profile_settings(self.text, self.profile, self.path)
        if self.existing and self.existing.get("aws_access_key_id") and \
                not any(token in self.existing for token in credentials_ini.TOKEN_OPTIONS):
            raise IamInputError(
                f"profile {self.profile} in {self.path} holds a long-term access key; sts_session writes temporary "
                "credentials only and will not overwrite it. Choose another profile name"
            )
        if self.profile == p.get("profile"):
            raise IamInputError(f"profile {self.profile} is the profile this task signs in with; choose another name")
        files.check_writable(os.path.dirname(self.path), self.check_mode)

    def expiration_of_existing(self):
        if not self.existing or "aws_session_token" not in self.existing:
            return None
        return parse_time(self.existing.get(EXPIRATION_KEY))

    def serial_number(self):
        if self.params["serial_number"]:
            return self.params["serial_number"]
        arn = self.sts.get_caller_identity(aws_retry=True)["Arn"]
        if ":user/" not in arn:
            raise IamInputError(f"the caller {arn} is not an IAM user; give serial_number")
        user = arn.split(":user/", 1)[1].split("/")[-1]
        devices = self.client.list_mfa_devices(UserName=user, aws_retry=True)["MFADevices"]
        if len(devices) != 1:
            found = ", ".join(d["SerialNumber"] for d in devices) or "none"
            raise IamInputError(f"user {user} has {len(devices)} MFA devices ({found}); give serial_number")
        return devices[0]["SerialNumber"]

    def ensure_present(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        expiration = self.expiration_of_existing()
        before = {"profile": self.profile, "credentials_file": self.path,
                  "expiration": expiration.isoformat() if expiration else None}
        margin = datetime.timedelta(minutes=self.params["renew_before_minutes"])
        if expiration and expiration - margin > now and not self.params["force"]:
            self.result_extra = {"expiration": before["expiration"], "renewed": False,
                                 "access_key_id": self.existing.get("aws_access_key_id")}
            return before, dict(before)
        if self.params["mfa_code"] is None and self.seed is None:
            raise IamInputError("the session must be renewed: give mfa_code or seed_file")
        why = "expires" if expiration else "does not exist"
        self.change(f"get a session token and write profile {self.profile} to {self.path} (the session {why})")
        files.prepare_directory(os.path.dirname(self.path), True, -1, -1, self.check_mode)
        if self.check_mode:
            # No call: GetSessionToken would use up the MFA code.
            self.result_extra = {"expiration": None, "renewed": True, "access_key_id": None}
            return before, dict(before, expiration="(new session)")
        serial = self.serial_number()
        code = self.params["mfa_code"] or totp_codes(self.seed, 1)[0]
        credentials = self.sts.get_session_token(SerialNumber=serial, TokenCode=code,
                                                 DurationSeconds=self.params["duration_seconds"],
                                                 aws_retry=True)["Credentials"]
        expires = credentials["Expiration"].astimezone(datetime.timezone.utc).isoformat()
        text = render_session_profile(self.path, self.profile, credentials, expires)
        try:
            files.write_files({self.path: text}, 0o600, -1, -1)
        except files.CredentialFileError as exc:
            raise IamInputError(f"{exc}; the session's credentials were not saved (they expire on their own)")
        self.result_extra = {"expiration": expires, "renewed": True, "access_key_id": credentials["AccessKeyId"],
                             "serial_number": serial}
        return before, dict(before, expiration=expires)
