# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""iam_user's lockout guard: read every policy that will apply to the user after the change, and ask
lockout_guard whether the controller can still make the requests the collection needs."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import IamInputError
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_info import _paginate as paginate
from ansible_collections.cloudburst.aws.plugins.module_utils.lockout_guard import lockout_reasons
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import PolicyEvaluationError
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import allowed_cidrs
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import source_ip_decision

ALLOW_EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class LockoutGuardMixin:
    """For IamUserManager: self.params, self.client, self.name, self.user_arn, the planned final_inline,
    final_managed, final_groups and boundary, and the planned changes."""

    _managed_documents = None

    def lockout_guard(self, before):
        """Refuse a change that would lock out the controller's address or this play's identity.

        The guard runs when the task manages a restriction and changes anything that decides what the user
        may do: the restriction, an inline policy, an attached managed policy, a group or the boundary. With
        controller_ip, it evaluates every policy that will apply after the change (the user's inline and
        attached policies, its groups' and its permissions boundary) for the requests the collection makes
        (lockout_guard); a condition it cannot evaluate counts against the controller. Without controller_ip,
        it refuses to restrict the identity the play runs as."""
        if self.restriction is None or self.params["allow_lockout"]:
            return
        deciding = (before is None or self.puts or self.deletes or self.to_attach or self.to_detach
                    or self.groups_to_add or self.groups_to_remove
                    or self.boundary != before["permissions_boundary"])
        if not deciding:
            return
        cidrs = allowed_cidrs(self.restriction)
        if self.params["controller_ip"]:
            address = self.controller_ip
            if source_ip_decision([ALLOW_EVERYTHING, self.restriction], address) == "Deny":
                raise IamInputError(
                    f"the controller's address {address} is outside the allow-list {cidrs}: user "
                    f"{self.name} could no longer be used from this controller. Add the address to "
                    "source_ip_allowlist, or set allow_lockout: true if that is what you want"
                )
            policies, boundary = self.policies_after()
            try:
                reasons = lockout_reasons(policies, address, self.user_arn, boundary)
            except PolicyEvaluationError as exc:
                raise IamInputError(f"the lockout guard cannot read a policy of user {self.name}: {exc}; set "
                                    "allow_lockout: true to apply the change anyway")
            if reasons:
                raise IamInputError(
                    f"user {self.name} could no longer be used from the controller's address {address}: "
                    f"{'; '.join(reasons)}. Change those policies, or set allow_lockout: true if that is what "
                    "you want"
                )
        elif self.restriction_moves and self.caller()["Arn"] == self.user_arn:
            raise IamInputError(
                f"this play runs as {self.user_arn}, the user being restricted to {cidrs}, and no controller_ip "
                "shows that the controller stays inside; pass controller_ip (from cloudburst.aws.public_ip_info) "
                "or set allow_lockout: true"
            )

    def policies_after(self):
        """(label, document) for every identity policy that will apply to the user, and the boundary's."""
        restriction_name = self.params["source_ip_policy_name"]
        policies = []
        for policy_name, document in sorted(self.final_inline.items()):
            what = "the source IP restriction" if policy_name == restriction_name else "inline policy"
            policies.append((f"{what} {policy_name}", document))
        for arn in self.final_managed:
            document = self.managed_document(arn)
            if document is not None:
                policies.append((f"managed policy {arn}", document))
        for group in self.final_groups:
            for policy_name in paginate(self.client, "list_group_policies", "PolicyNames", GroupName=group):
                document = self.client.get_group_policy(GroupName=group, PolicyName=policy_name, aws_retry=True)[
                    "PolicyDocument"]
                policies.append((f"inline policy {policy_name} of group {group}", document))
            for policy in paginate(self.client, "list_attached_group_policies", "AttachedPolicies", GroupName=group):
                document = self.managed_document(policy["PolicyArn"])
                if document is not None:
                    policies.append((f"managed policy {policy['PolicyArn']} of group {group}", document))
        boundary = None
        if self.boundary:
            document = self.managed_document(self.boundary)
            if document is not None:
                boundary = (f"permissions boundary {self.boundary}", document)
        return policies, boundary

    def managed_document(self, arn):
        """The default version's document of a managed policy; None (with a warning) only in a check run
        for a policy that an earlier task would create."""
        if self._managed_documents is None:
            self._managed_documents = {}
        if arn not in self._managed_documents:
            try:
                version = self.client.get_policy(PolicyArn=arn, aws_retry=True)["Policy"]["DefaultVersionId"]
                self._managed_documents[arn] = self.client.get_policy_version(
                    PolicyArn=arn, VersionId=version, aws_retry=True)["PolicyVersion"]["Document"]
            except is_boto3_error_code("NoSuchEntity"):
                if not self.check_mode:
                    raise
                self.warnings.append(f"the lockout guard could not read managed policy {arn}, which an earlier task "
                                     "of this check run may create; the real run evaluates it")
                self._managed_documents[arn] = None
        return self._managed_documents[arn]
