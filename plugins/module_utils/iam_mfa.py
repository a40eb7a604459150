# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The logic of cloudburst.aws.iam_mfa_device, and the seed file that sts_session reads too.

A virtual MFA device's seed (the Base32 secret) is returned by AWS once, at creation. It is written to a
0600 file at once (with an optional QR code beside it), so that a lost phone is recoverable from the saved
seed. If that file cannot be written, the new device is deleted again: a device whose seed nobody holds is
a lockout waiting to happen. The device is then enabled with two consecutive TOTP codes computed from the
seed. The seed never appears in the module's result or diff.
"""

from __future__ import annotations

import io
import os
import re
import stat
import time

try:
    import pyotp
    HAS_PYOTP = True
except ImportError:
    HAS_PYOTP = False

try:
    import segno
    HAS_SEGNO = True
except ImportError:
    HAS_SEGNO = False

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.cloudburst.aws.plugins.module_utils import credential_files as files
from ansible_collections.cloudburst.aws.plugins.module_utils import safe_directory
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client_without_retries
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamManager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import partition_and_account
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_path
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import validate_user_name

DEVICE_NAME_PATTERN = re.compile(r"^[\w+=,.@-]{1,226}$")
CODE_PATTERN = re.compile(r"^[0-9]{6}$")
SEED_PATTERN = re.compile(r"^[A-Z2-7]+=*$")
TOTP_STEP = 30
ISSUER = "Amazon Web Services"


# --- the seed file and TOTP codes -----------------------------------------------------------------------

def require_pyotp():
    if not HAS_PYOTP:
        raise IamInputError(missing_required_lib("pyotp"))


def validate_code(code, what="authentication code"):
    """A TOTP code as AWS takes it: exactly six digits."""
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        length = len(code) if isinstance(code, str) else "no"
        raise IamInputError(f"an {what} must be exactly 6 digits (got {length} characters)")
    return code


def check_seed_mode(path, info):
    """Refuse a seed file that other users may read or change (info: the file's status)."""
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise IamInputError(
            f"seed file {path} has mode {mode:04o}: other users may have read the MFA secret. Run "
            f"'chmod 600 {path}', and replace the MFA device if the host is shared"
        )


def read_seed_file(path):
    """The Base32 seed held in path; the file must be 0600 (or stricter) and hold one Base32 string.

    Read through its descriptor (credential_files.read_file): a link, a FIFO or a hard link is refused.
    """
    try:
        seed, info = safe_directory.read_file(path)
    except files.CredentialFileError as exc:
        raise IamInputError(f"seed file: {exc}")
    if seed is None:
        raise IamInputError(f"seed file {path} does not exist")
    check_seed_mode(path, info)
    seed = seed.strip()
    if not SEED_PATTERN.match(seed):
        raise IamInputError(f"seed file {path} does not hold a Base32 MFA seed")
    return seed


def totp_codes(seed, count=1, now=None):
    """count consecutive TOTP codes for the seed, the last one for the current 30-second step."""
    require_pyotp()
    now = time.time() if now is None else now
    totp = pyotp.TOTP(seed)
    return [totp.at(now - TOTP_STEP * back) for back in range(count - 1, -1, -1)]


# --- the manager ----------------------------------------------------------------------------------------

class MfaDeviceManager(IamManager):
    """A user's virtual MFA device: present (created, seed saved, enabled), deactivated, or absent."""

    def validate(self):
        p = self.params
        self.user = p["user_name"]
        validate_user_name(self.user)
        self.name = p["name"] or self.user
        if not DEVICE_NAME_PATTERN.match(self.name):
            raise IamInputError(f"{self.name!r} is not a valid MFA device name: use letters, digits and +=,.@_-")
        validate_path(p["path"])
        self.seed_file = os.path.abspath(os.path.expanduser(p["seed_file"])) if p["seed_file"] else None
        self.qr_file = os.path.abspath(os.path.expanduser(p["qr_code_file"])) if p["qr_code_file"] else None
        for option, path in (("seed_file", self.seed_file), ("qr_code_file", self.qr_file)):
            if path and p["state"] != "absent" and not safe_directory.directory_exists(os.path.dirname(path)):
                raise IamInputError(f"the directory of {option} {path} does not exist; create it (mode 0700) first")
        if self.qr_file and not self.qr_file.endswith(".svg"):
            raise IamInputError(f"qr_code_file {self.qr_file} must end in .svg (an SVG image)")
        if self.qr_file and not self.seed_file:
            raise IamInputError("qr_code_file needs seed_file")
        if self.qr_file and p["state"] == "present" and not HAS_SEGNO:
            raise IamInputError(missing_required_lib("segno"))
        codes = p["authentication_codes"]
        if codes is not None:
            if len(codes) != 2:
                raise IamInputError("authentication_codes must be two consecutive codes")
            for code in codes:
                validate_code(code)
        if p["resync"] and p["state"] != "present":
            raise IamInputError("resync needs state: present")
        if p["resync"] and codes is None and not self.seed_file:
            raise IamInputError("resync needs authentication_codes or seed_file")
        if self.seed_file and p["state"] != "absent" and safe_directory.file_status(self.seed_file):
            self.seed = read_seed_file(self.seed_file)
        else:
            self.seed = None
        if p["state"] == "present":
            require_pyotp()
        self.user_arn = self.get_user_arn()
        if self.user_arn:
            partition, account = partition_and_account(self.user_arn)
            self.serial = f"arn:{partition}:iam::{account}:mfa{p['path']}{self.name}"
            self.account = account
        else:
            self.serial = self.account = None

    def get_user_arn(self):
        try:
            return self.client.get_user(UserName=self.user, aws_retry=True)["User"]["Arn"]
        except is_boto3_error_code("NoSuchEntity"):
            if self.check_mode:
                # In a check run an earlier task may only have predicted this user's creation.
                self.module.warn(f"IAM user {self.user} does not exist (yet); a real run fails if it still does not")
                return None
            raise IamInputError(f"IAM user {self.user!r} does not exist")

    # --- reading ------------------------------------------------------------------------------------

    def find_device(self):
        """The virtual device with this serial number (with its User when assigned), or None."""
        if self.serial is None:
            return None
        paginator = self.client.get_paginator("list_virtual_mfa_devices")
        for page in paginator.paginate(AssignmentStatus="Any"):
            for device in page["VirtualMFADevices"]:
                if device["SerialNumber"] == self.serial:
                    return device
        return None

    def enabled_for_user(self):
        if self.serial is None:
            return None
        devices = self.client.list_mfa_devices(UserName=self.user, aws_retry=True)["MFADevices"]
        return next((d for d in devices if d["SerialNumber"] == self.serial), None)

    def describe(self, exists, enabled, enable_date=None):
        return {
            "serial_number": self.serial,
            "user_name": self.user,
            "exists": exists,
            "enabled": bool(enabled),
            "enable_date": enable_date.isoformat() if hasattr(enable_date, "isoformat") else enable_date,
            "seed_file": self.seed_file,
            "seed_file_exists": bool(self.seed_file and safe_directory.file_status(self.seed_file)),
        }

    def current(self):
        device = self.find_device()
        enabled = self.enabled_for_user()
        if device and device.get("User") and device["User"].get("UserName") not in (None, self.user):
            raise IamInputError(f"MFA device {self.serial} is assigned to user {device['User']['UserName']}, "
                                f"not {self.user}")
        return device, enabled

    # --- present ------------------------------------------------------------------------------------

    def ensure_present(self):
        device, enabled = self.current()
        before = self.describe(device is not None, enabled, (enabled or {}).get("EnableDate"))
        if enabled:
            if self.seed is None:
                self.warnings.append(
                    f"MFA device {self.serial} is enabled, but seed_file {self.seed_file} does not hold its seed. "
                    "AWS never shows a seed again: if the phone is lost, delete the device and enrol a new one"
                    if self.seed_file else
                    f"MFA device {self.serial} is enabled; no seed_file was given, so nothing here can recover it")
            elif self.qr_file and not safe_directory.file_status(self.qr_file):
                self.change(f"write the QR code to {self.qr_file}")
                if not self.check_mode:
                    files.write_files({self.qr_file: self.qr_svg(self.seed)}, 0o600, -1, -1)
            if self.params["resync"]:
                self.resync()
            after = dict(before)
        elif device is not None and self.seed is not None:
            self.enable(self.seed, created=False)
            after = self.describe(True, True, None if self.check_mode else "now")
        else:
            if device is not None:
                self.change(f"delete unassigned MFA device {self.serial}: its seed is not in seed_file",
                            self.client.delete_virtual_mfa_device, SerialNumber=self.serial)
            if not self.seed_file:
                raise IamInputError("seed_file is required to create an MFA device: AWS shows its seed only once")
            self.create_and_enable()
            after = self.describe(True, True, None if self.check_mode else "now")
        if not self.check_mode and self.changes:
            enabled = self.enabled_for_user()
            after = self.describe(True, enabled, (enabled or {}).get("EnableDate"))
        return before, after

    def create_and_enable(self):
        self.change(f"create virtual MFA device {self.serial}")
        self.change(f"write its seed to {self.seed_file} (mode 0600)"
                    + (f" and its QR code to {self.qr_file}" if self.qr_file else ""))
        if self.check_mode:
            self.change(f"enable it for user {self.user} with two consecutive codes from the seed")
            return
        # Not retried blindly: a retry after an unknown outcome would meet EntityAlreadyExists and lose the seed.
        created = iam_client_without_retries(self.module).create_virtual_mfa_device(
            VirtualMFADeviceName=self.name, Path=self.params["path"])
        seed = created["VirtualMFADevice"]["Base32StringSeed"]
        seed = seed.decode("ascii") if isinstance(seed, bytes) else seed
        content = {self.seed_file: seed + "\n"}
        try:
            if self.qr_file:
                content[self.qr_file] = self.qr_svg(seed)
            files.write_files(content, 0o600, -1, -1)
        except (files.CredentialFileError, OSError, ValueError) as exc:
            self.delete_again()
            raise IamInputError(f"{exc}; the new MFA device {self.serial} was deleted again, so nothing is left "
                                "whose seed nobody holds")
        self.enable(seed, created=True)

    def enable(self, seed, created):
        if not created:
            self.change(f"enable MFA device {self.serial} for user {self.user} with two consecutive codes from "
                        f"{self.seed_file}")
        else:
            self.changes.append(f"enable it for user {self.user} with two consecutive codes from the seed")
        if self.check_mode:
            return
        code_1, code_2 = totp_codes(seed, 2)
        try:
            self.client.enable_mfa_device(UserName=self.user, SerialNumber=self.serial,
                                          AuthenticationCode1=code_1, AuthenticationCode2=code_2, aws_retry=True)
        except is_boto3_error_code("InvalidAuthenticationCode") as exc:
            if created:
                self.delete_again()
                files.remove_files([path for path in (self.seed_file, self.qr_file) if path], False)
                raise IamInputError(f"AWS refused the codes computed from the new seed ({exc}); the device was "
                                    "deleted again. Check this host's clock")
            raise IamInputError(f"AWS refused the codes computed from {self.seed_file} for {self.serial} ({exc}): "
                                "the file does not hold this device's seed, or this host's clock is off. Remove "
                                "the file to replace the device")

    def delete_again(self):
        self.client.delete_virtual_mfa_device(SerialNumber=self.serial, aws_retry=True)
        self.changes.append(f"delete MFA device {self.serial} again")

    def resync(self):
        codes = self.params["authentication_codes"]
        source = "the given codes"
        if codes is None:
            if self.seed is None:
                raise IamInputError(f"resync needs authentication_codes: seed file {self.seed_file} does not exist")
            codes = totp_codes(self.seed, 2)
            source = f"two codes from {self.seed_file}"
        self.change(f"resync MFA device {self.serial} with {source}", self.client.resync_mfa_device,
                    UserName=self.user, SerialNumber=self.serial,
                    AuthenticationCode1=codes[0], AuthenticationCode2=codes[1])

    def qr_svg(self, seed):
        """The otpauth:// URI of the seed as an SVG QR code, the form authenticator apps scan."""
        uri = pyotp.TOTP(seed).provisioning_uri(name=f"{self.name}@{self.account}", issuer_name=ISSUER)
        buffer = io.BytesIO()
        segno.make(uri, error="m", micro=False).save(buffer, kind="svg", scale=4)
        return buffer.getvalue().decode("utf-8")

    # --- deactivated and absent -----------------------------------------------------------------------

    def ensure_absent(self):
        device, enabled = self.current()
        before = self.describe(device is not None, enabled, (enabled or {}).get("EnableDate"))
        if enabled:
            self.change(f"deactivate MFA device {self.serial} of user {self.user}", self.client.deactivate_mfa_device,
                        UserName=self.user, SerialNumber=self.serial)
        if self.params["state"] == "deactivated":
            if device is None and not enabled:
                self.warnings.append(f"user {self.user} has no MFA device {self.serial or self.name}")
            return before, self.describe(device is not None or bool(enabled), False)
        if device is not None:
            self.change(f"delete virtual MFA device {self.serial}", self.client.delete_virtual_mfa_device,
                        SerialNumber=self.serial)
        for path in (self.seed_file, self.qr_file):
            if path:
                for removed in files.remove_files([path], self.check_mode):
                    self.changes.append(f"remove {removed}")
        return before, self.describe(False, False)
