# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS's access denied answers, read and explained.

AWS names the principal, the action, the resource and why in its message ("User: ARN is not authorized to perform:
ec2:RunInstances on resource: ARN because no identity-based policy allows the ec2:RunInstances action", or "... with
an explicit deny in an identity-based policy", possibly followed by the denying policy's ARN). read_denial() takes
that apart; explain() says what it means for a cloudburst.aws user, in particular that an explicit deny of a
read-only call the launch policy grants is the source-IP restriction refusing a request from outside its
allow-list, and from which address the request came as far as the controller knows (its checkip answer).
"""

from __future__ import annotations

import re

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import AwsManager
from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import PublicIpError
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import find_public_ip
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import insecure_url_problem
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import RESTRICTION_SID

DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
                "Forbidden")
_DENIAL = re.compile(
    r"(?:User|Role|Principal): (?P<principal>\S+) is not authorized to perform: (?P<action>\S+)"
    r"(?: on resource: (?P<resource>\S+))?"
    r"(?: (?:with an explicit deny in (?:an? |the )?(?P<deny>[^:.]+?)(?:: (?P<policy>\S+))?"
    r"|because no (?P<missing>[^.]+?) allows the \S+ action))?\s*(?:\.|$|Encoded)")


class Denial:
    """One AWS access denial: who, what, on which resource, and whether a Deny said so (explicit) or nothing
    allowed it (the policy type that lacks an Allow is `missing`)."""

    def __init__(self, principal, action, resource, explicit_in=None, policy=None, missing=None):
        self.principal, self.action, self.resource = principal, action, resource or "*"
        self.explicit_in, self.policy, self.missing = explicit_in, policy, missing

    @property
    def explicit(self):
        return self.explicit_in is not None

    def __str__(self):
        if self.explicit:
            where = self.explicit_in + (f" ({self.policy})" if self.policy else "")
            reason = f"an explicit Deny in {where} refused it"
        elif self.missing:
            reason = f"no {self.missing} allows {self.action} (the missing permission)"
        else:
            reason = "AWS did not say why"
        return f"{self.principal} may not call {self.action} on {self.resource}: {reason}"


def error_code(error):
    return (getattr(error, "response", None) or {}).get("Error", {}).get("Code", "")


def read_denial(error):
    """A Denial from a botocore ClientError (or its message), or None when it is no access denial AWS explained."""
    message = error if isinstance(error, str) else (getattr(error, "response", None) or {}).get("Error", {}).get(
        "Message", "") or str(error)
    match = _DENIAL.search(message or "")
    if not match:
        return None
    return Denial(match.group("principal"), match.group("action"), match.group("resource"),
                  explicit_in=match.group("deny"), policy=match.group("policy"), missing=match.group("missing"))


def explain(denial, controller_ip=None, checkip_problem=None):
    """The message for a denial of a read-only call the collection's launch policy grants (the access check)."""
    if denial.explicit:
        came_from = (f"the request came from {controller_ip}, this controller's public address as its checkip "
                     "answer names it (a proxy or NAT on the way would show AWS another)" if controller_ip else
                     f"this controller could not learn its own public address ({checkip_problem})")
        return (f"AWS refused {denial.action} on {denial.resource} to {denial.principal} with an explicit deny in "
                f"{denial.explicit_in}{' (' + denial.policy + ')' if denial.policy else ''}, and so refuses every "
                f"request of this key from here. That is how the source-IP restriction of a cloudburst.aws user "
                f"(statement {RESTRICTION_SID}) answers a request from outside its allow-list: {came_from}, outside "
                "the restriction. Run from an address in the user's allow-list, or have an administrator add this "
                "one (iam_restricted_user_allowlist). Nothing was changed.")
    return (f"{denial}. The key cannot make the calls the collection needs; an administrator attaches the launch "
            "policy (cloudburst.aws.iam_restricted_user). Nothing was changed.")


class AccessDeniedError(CloudburstError):
    """AWS refused the check's call; the message explains the denial."""


class AccessCheckManager(AwsManager):
    """access_check: does AWS take this key (sts:GetCallerIdentity), and may it list the regions
    (ec2:DescribeRegions); a denial is explained, with the controller's address when a policy denies it."""

    reports_changes = False

    def controller_address(self):
        """(address, None) from the checkip URL, or (None, why it could not be learnt)."""
        p = self.params
        problem = insecure_url_problem(p["checkip_url"], p["allow_insecure_url"])
        if problem:
            return None, problem
        try:
            result, _attempts = find_public_ip(self.module, p["checkip_url"], 10, 2, 1, p["allow_private"],
                                               p["allow_insecure_url"])
        except PublicIpError as exc:
            return None, str(exc)
        return result["ip"], None

    def run(self):
        retry = AWSRetry.jittered_backoff()
        self.failure = "AWS does not accept this key (sts:GetCallerIdentity, which needs no permission)"
        identity = self.module.client("sts", retry_decorator=retry).get_caller_identity(aws_retry=True)
        self.failure = "Could not list the regions (ec2:DescribeRegions)"
        try:
            regions = self.module.client("ec2", retry_decorator=retry).describe_regions(aws_retry=True)["Regions"]
        except ClientError as exc:
            denial = read_denial(exc)
            if denial is None:
                raise
            address, problem = self.controller_address() if denial.explicit else (None, None)
            self.failure_extra = dict(arn=identity["Arn"], controller_ip=address, action=denial.action,
                                      resource=denial.resource, explicit_deny=denial.explicit)
            raise AccessDeniedError(explain(denial, address, problem))
        return dict(changed=False, arn=identity["Arn"], account=identity["Account"], user_id=identity["UserId"],
                    regions=sorted(r["RegionName"] for r in regions))
