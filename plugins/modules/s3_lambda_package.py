#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_lambda_package
short_description: Zip one Python file for Lambda and store it in S3 under a key named by its content
version_added: 1.0.0
description:
  - Reads one Python file on the controller and zips it deterministically (fixed time stamps and modes), so
    the same code always gives the same bytes.
  - Stores the zip as C(<prefix><file name>-<first 16 hex digits of its SHA-256>.zip) in a bucket, only when
    no object of that key exists. New code therefore gets a new key, which is what a CloudFormation
    C(AWS::Lambda::Function) with C(Code.S3Key) needs to deploy it; unchanged code makes no write call.
  - An object already at that key is trusted only when its size and SHA-256 are the package's. Anything else
    (an object someone planted or changed under the content-named key, which a function deployed from the key
    would run) fails with a message that names it, and nothing is written.
  - Old packages are left in place (a stack being rolled back may still need one).
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  src:
    description: The Python file on the controller.
    type: path
    required: true
  bucket:
    description: The bucket to store the package in.
    type: str
    required: true
  prefix:
    description: A key prefix for the package, such as C(lambda/).
    type: str
    default: ""
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
attributes:
  check_mode:
    support: full
    description: Computes the key and looks for it; stores nothing.
  diff_mode:
    support: none
    description: No diff; RV(key) names what was stored.
"""

EXAMPLES = r"""
- name: Package the lease function
  cloudburst.aws.s3_lambda_package:
    src: "{{ playbook_dir }}/../plugins/module_utils/annex_lease.py"
    bucket: cloudburst-annex-123456789012-us-east-1
  register: lease_code
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: always
  type: str
key:
  description: The package's key.
  returned: always
  type: str
  sample: annex-lease-0c1d2e3f4a5b6c7d.zip
handler_module:
  description: The module name a Lambda handler names (the file name without C(.py)).
  returned: always
  type: str
  sample: annex_lease
sha256:
  description: The SHA-256 of the zip, hex.
  returned: always
  type: str
size:
  description: The zip's size in bytes.
  returned: always
  type: int
version_id:
  description:
    - The version of the stored object, in a bucket with versioning on (the annex setup's is), for a template that
      pins C(Code.S3ObjectVersion). Absent in check mode when the object would be new, and without versioning.
  returned: when known
  type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.lambda_package import PackageManager


def main():
    argument_spec = dict(
        src=dict(type="path", required=True),
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    manager = PackageManager(module, module.client("s3", retry_decorator=AWSRetry.jittered_backoff()))
    module.exit_json(**run_manager(module, manager, module.params["src"]))


if __name__ == "__main__":
    main()
