#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_user
short_description: Manage an IAM user, its policies and groups, and restrict it to source IP addresses
version_added: 1.0.0
description:
  - Creates, updates or deletes an IAM user for programmatic access.
  - Manages the user's path, tags, permissions boundary, attached managed policies (by ARN or by name),
    inline policies, group memberships and a source IP restriction.
  - O(source_ip_allowlist) manages an inline policy that denies every request from outside the listed
    networks, in the shape AWS documents (Deny C(*) on C(*) with C(NotIpAddress aws:SourceIp)), plus
    C(Bool aws:ViaAWSService false) so that AWS services acting for the user still work.
  - A user has one restriction of this module's. It is recognised by its statement id, so when
    O(source_ip_policy_name) changes, the earlier restriction is removed from the policy that held it.
  - A lockout guard refuses a change that would lock out the controller's address (O(controller_ip)) or the
    identity running the play, unless O(allow_lockout=true). It evaluates every policy that will apply to
    the user after the change, not just the restriction.
  - O(state=absent) first removes everything AWS requires gone (access keys, MFA devices, console
    password, inline and attached policies, group memberships, signing certificates, SSH public keys and
    service-specific credentials), so that deleting never stops at C(DeleteConflict).
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  name:
    description: The user's name.
    type: str
    required: true
    aliases: [user_name]
  state:
    description: Whether the user should exist.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The user's IAM path, such as C(/cloudburst/). Left as it is when not given (C(/) for a new user).
    type: str
  tags:
    description: Tags for the user. Left as they are when not given.
    type: dict
  purge_tags:
    description: Remove tags that are not in O(tags).
    type: bool
    default: true
  permissions_boundary:
    description:
      - The managed policy (ARN or name) that bounds the user's permissions. An empty string removes it.
    type: str
  managed_policies:
    description:
      - Managed policies to attach, by ARN or by name. A name means the AWS managed policy of that name
        (for example C(AdministratorAccess) or C(service-role/NAME)), or else this account's own policy of
        that name. Left as they are when not given.
    type: list
    elements: str
  purge_managed_policies:
    description:
      - Detach managed policies that are not in O(managed_policies). Only when O(managed_policies) is given; a
        user whose task leaves it out keeps every policy it has.
      - The default is V(true), the opposite of the default of amazon.aws's C(iam_user) option of the same name
        (an alias of its C(purge_policies)). The user ends with the policies its task names and no others, so
        a policy attached by hand (C(AdministratorAccess) to debug, say) does not outlive the next run. Set
        V(false) to attach O(managed_policies) beside whatever else the user has.
    type: bool
    default: true
  inline_policies:
    description:
      - Inline policies, as a dictionary of policy name to policy document (a dictionary or a JSON string).
        Documents are compared by meaning, not by text. Left as they are when not given.
    type: dict
  require_mfa:
    description:
      - V(true) puts AWS's require-MFA policy (the one P(cloudburst.aws.require_mfa_policy#filter) builds) on
        the user as the inline policy O(require_mfa_policy_name); V(false) removes that policy; left as it is when not given.
      - For people who use the console or the CLI with MFA. Never set it on a programmatic user such as the
        condor_annex user. Requests signed with long-term keys carry no MFA, so its keys would stop working.
        That user's protection is O(source_ip_allowlist).
      - The lockout guard cannot evaluate C(aws:MultiFactorAuthPresent), so together with O(controller_ip) it
        refuses the change unless O(allow_lockout=true).
    type: bool
  require_mfa_policy_name:
    description: Name of the inline policy that O(require_mfa) manages.
    type: str
    default: cloudburst-require-mfa
  purge_inline_policies:
    description:
      - Delete inline policies that are not in O(inline_policies). The source IP restriction policy is
        never purged this way.
    type: bool
    default: true
  groups:
    description: Groups the user belongs to. The groups must exist. Left as they are when not given.
    type: list
    elements: str
  purge_groups:
    description: Remove the user from groups that are not in O(groups).
    type: bool
    default: true
  source_ip_allowlist:
    description:
      - The networks (IPv4 or IPv6 CIDRs) the user's requests may come from. Every other source is denied.
      - C(0.0.0.0/0) and C(::/0) are refused, and so is a list whose networks together cover every IPv4 or
        every IPv6 address (such as C(0.0.0.0/1) and C(128.0.0.0/1)). A network wider than C(/8) (IPv4) or
        C(/32) (IPv6) is refused unless O(allow_wide_prefixes=true).
      - Host bits are cleared with a warning; the policy must fit IAM's 2,048-character limit for a user's
        inline policies.
      - Left as it is when not given.
    type: list
    elements: str
  allow_wide_prefixes:
    description:
      - Accept networks in O(source_ip_allowlist) wider than C(/8) (IPv4) or C(/32) (IPv6). A list that
        covers every address of a family stays refused.
    type: bool
    default: false
  source_ip_policy_name:
    description:
      - The name of the inline policy that holds the source IP restriction.
      - With O(source_ip_allowlist), a restriction of this module's found in another inline policy (by its
        statement id) is removed from there, so changing the name moves the restriction.
    type: str
    default: cloudburst-source-ip-allow-list
  controller_ip:
    description:
      - The one address the controller's AWS calls come from, for example
        RV(cloudburst.aws.public_ip_info#module:ip). A network (CIDR) is refused.
      - With O(source_ip_allowlist), the task fails if a request from this address would be denied after the
        change. The guard evaluates every policy that will then apply to the user (the restriction, the other
        inline policies, the attached managed policies, the groups' policies and the permissions boundary). A
        Deny that holds for the address and depends on C(aws:SourceIp) or covers every action on every resource
        refuses the change, and so do Deny statements that cover everything only together, and Allow
        statements that all exclude the address. "Every action on every resource" is any spelling that no real
        request escapes (V(*:*), V(arn:*), V(arn:aws:*:*:*:*), C(NotAction), C(NotResource)). A statement
        with a condition the guard cannot evaluate counts against the address.
    type: str
  allow_lockout:
    description:
      - Apply the change even when the lockout guard finds that it would lock out O(controller_ip) or the
        identity that runs the play.
    type: bool
    default: false
notes:
  - Requests that reach AWS through a VPC endpoint carry no C(aws:SourceIp), so the restriction denies them.
  - The lockout guard runs only when the task manages a restriction and changes something that decides what
    the user may do. Without O(controller_ip), it only refuses to restrict the identity that runs the play.
  - After creating a user, the module waits (up to two minutes) until IAM finds it before the next call.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.iam
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Learn the controller's address
  cloudburst.aws.public_ip_info:
  register: controller

- name: A user for annex and Spark launching, usable only from the team's networks
  cloudburst.aws.iam_user:
    name: annex-user
    path: /cloudburst/
    managed_policies:
      - arn:aws:iam::123456789012:policy/cloudburst-launch
    source_ip_allowlist:
      - "{{ controller.cidr }}"
      - 2001:db8:42::/48
    controller_ip: "{{ controller.ip }}"
    tags:
      team: genomics

- name: A person who must use MFA for everything but enrolling their own device
  cloudburst.aws.iam_user:
    name: alice
    require_mfa: true

- name: Remove the user and everything that belongs to it
  cloudburst.aws.iam_user:
    name: annex-user
    state: absent
"""

RETURN = r"""
user:
  description:
    - The user after the task (predicted in check mode), as M(cloudburst.aws.iam_user_info) describes it.
      Absent after O(state=absent).
  returned: when the user exists after the task
  type: dict
  contains:
    user_name:
      description: The user's name.
      type: str
      sample: annex-user
    user_id:
      description: The user's unique id (null for a user a check run would create).
      type: str
    create_date:
      description: When the user was created, ISO 8601 (null for a user a check run would create).
      type: str
      sample: "2026-11-25T09:30:00+00:00"
    arn:
      description: The user's ARN.
      type: str
      sample: arn:aws:iam::123456789012:user/cloudburst/annex-user
    path:
      description: The user's path.
      type: str
      sample: /cloudburst/
    tags:
      description: The user's tags.
      type: dict
    managed_policies:
      description: ARNs of the attached managed policies.
      type: list
      elements: str
    inline_policy_names:
      description: Names of the user's inline policies, the restriction included.
      type: list
      elements: str
    groups:
      description: The user's groups.
      type: list
      elements: str
    permissions_boundary:
      description: ARN of the permissions boundary, if any.
      type: str
    source_ip_restricted:
      description: Whether a source IP restriction of this module's is attached.
      type: bool
    source_ip_allowlist:
      description: The networks of the source IP restriction, or null when there is none.
      type: list
      elements: str
      sample: ["203.0.113.7/32"]
    source_ip_policy_names:
      description: The inline policies that hold the restriction (one, or none).
      type: list
      elements: str
      sample: ["cloudburst-source-ip-allow-list"]
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["create user annex-user", "add inline policy cloudburst-source-ip-allow-list"]
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import iam_client
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import sts_client
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_user import IamUserManager


def main():
    argument_spec = dict(
        name=dict(type="str", required=True, aliases=["user_name"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        path=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        permissions_boundary=dict(type="str"),
        managed_policies=dict(type="list", elements="str"),
        purge_managed_policies=dict(type="bool", default=True),
        inline_policies=dict(type="dict"),
        require_mfa=dict(type="bool"),
        require_mfa_policy_name=dict(type="str", default="cloudburst-require-mfa"),
        purge_inline_policies=dict(type="bool", default=True),
        groups=dict(type="list", elements="str"),
        purge_groups=dict(type="bool", default=True),
        source_ip_allowlist=dict(type="list", elements="str"),
        allow_wide_prefixes=dict(type="bool", default=False),
        source_ip_policy_name=dict(type="str", default="cloudburst-source-ip-allow-list"),
        controller_ip=dict(type="str"),
        allow_lockout=dict(type="bool", default=False),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    manager = IamUserManager(module, iam_client(module), sts_client(module))
    before, after = run_manager(module, manager, f"user {module.params['name']}")
    result = manager.result(before, after)
    if after is not None:
        result["user"] = after
    module.exit_json(**result)


if __name__ == "__main__":
    main()
