# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Documentation shared by this collection's IAM modules.

Use C(cloudburst.aws.iam) in modules that change IAM, and C(cloudburst.aws.iam.info) in modules that only
read it. Either brings the notes on IAM's global region and its retries, and the check mode and diff mode
attributes. A module may still override one attribute's description. (Each fragment is one string
literal: ansible-test's yamllint reads them from the source, not by running it.)
"""

from __future__ import annotations


class ModuleDocFragment:
    # For modules that change IAM.
    DOCUMENTATION = r"""
notes:
  - IAM is a global service. When no region is given by O(region), C(AWS_REGION), C(AWS_DEFAULT_REGION) or
    the profile, the module uses C(us-east-1). A custom O(endpoint_url) therefore needs no region.
  - IAM is eventually consistent. Calls are retried with jittered backoff on throttling and on
    C(EntityTemporarilyUnmodifiable), C(ConcurrentModification) and C(ServiceFailure).
    Calls that create something that cannot be found again by name, such as C(CreateAccessKey), are never
    retried blindly. A removal that is retried after its first answer was lost, and finds its object gone,
    counts as done.
attributes:
  check_mode:
    support: full
    description: Reports what would change and makes no change.
  diff_mode:
    support: full
    description: Shows the object before and after the task, never a secret.
"""

    # For modules that only read IAM.
    INFO = r"""
notes:
  - IAM is global, so without a region from O(region), C(AWS_REGION), C(AWS_DEFAULT_REGION) or the profile,
    the module reads from C(us-east-1); a custom O(endpoint_url) needs no region.
  - Reads are retried with jittered backoff on throttling, 5xx answers and IAM's eventual consistency
    (C(EntityTemporarilyUnmodifiable), C(ConcurrentModification), C(ServiceFailure)).
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module changes nothing.
"""
