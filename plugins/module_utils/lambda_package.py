# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A deterministic zip of one Python file for a Lambda function, stored under an S3 key named by its content."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import AwsManager
from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError

# Every entry of the zip gets this time stamp, so the same source always gives the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def deterministic_zip(source_text, arcname):
    """A zip holding one file, byte for byte the same for the same text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, source_text.encode("utf-8"))
    return buffer.getvalue()


def package_key(prefix, arcname, data):
    """A content-addressed key: new code gives a new key, which is what makes CloudFormation update it."""
    stem = arcname.rsplit(".", 1)[0].replace("_", "-")
    return f"{prefix}{stem}-{hashlib.sha256(data).hexdigest()[:16]}.zip"


def stored_package_problem(s3, bucket, key, data, size):
    """Why the object already at a package's content-named key cannot stand for data, or None when it is data.

    The key names the content, but anyone who may write to the bucket can put other bytes under it first, and a
    function deployed from that key would run them. So the object's size (size, from HeadObject), then its
    SHA-256, must be data's; only an object of the right size is read. s3 is a client whose calls accept
    aws_retry=True.
    """
    want = hashlib.sha256(data).hexdigest()
    if size == len(data):
        body = s3.get_object(aws_retry=True, Bucket=bucket, Key=key)["Body"].read()
        found = hashlib.sha256(body).hexdigest()
        if found == want:
            return None
        detail = f"SHA-256 {found[:16]}..."
    else:
        detail = f"{size} bytes"
    return (f"s3://{bucket}/{key} already exists with other content ({detail}, not this package's {len(data)} bytes "
            f"with SHA-256 {want[:16]}...): its key is named by the package's content, so someone else wrote it, and a "
            "function deployed from it would run their code. Look at who wrote it and delete it before running again; "
            "nothing was changed.")


class PackageError(CloudburstError):
    """A source that is no readable Python file, or an object at the package's key with other content."""


class PackageManager(AwsManager):
    """s3_lambda_package: the source zipped deterministically and stored under its content-named key, once."""

    reports_changes = False

    def run(self):
        src, bucket = self.params["src"], self.params["bucket"]
        arcname = os.path.basename(src)
        if not arcname.endswith(".py"):
            raise PackageError(f"{src} is not a Python file (*.py): a Lambda handler names a Python module.")
        try:
            with open(src, encoding="utf-8") as stream:
                data = deterministic_zip(stream.read(), arcname)
        except OSError as exc:
            raise PackageError(f"Cannot read the function's code {src}: {exc.strerror or exc}")
        key = package_key(self.params["prefix"], arcname, data)
        result = dict(bucket=bucket, key=key, handler_module=arcname[:-3], sha256=hashlib.sha256(data).hexdigest(),
                      size=len(data), changed=False)
        self.failure = f"Could not store {key} in bucket {bucket}"
        try:
            stored = self.client.head_object(aws_retry=True, Bucket=bucket, Key=key)
        except is_boto3_error_code(["404", "NoSuchKey", "NotFound"]):
            result["changed"], stored = True, {}
            if not self.check_mode:
                stored = self.client.put_object(aws_retry=True, Bucket=bucket, Key=key, Body=data,
                                                ContentType="application/zip", ChecksumAlgorithm="SHA256")
        else:
            problem = stored_package_problem(self.client, bucket, key, data, stored["ContentLength"])
            if problem:
                self.failure_extra = result
                raise PackageError(problem)
        if stored.get("VersionId") not in (None, "null"):
            result["version_id"] = stored["VersionId"]
        return result
