# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A deterministic zip of one Python file for a Lambda function, stored under an S3 key named by its content."""

from __future__ import annotations

import hashlib
import io
import zipfile

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
