#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_instance_group
short_description: Exactly N tagged EC2 instances of one cluster role, launched and terminated in batches
version_added: 1.0.0
description:
  - Keeps exactly O(count) pending or running instances of O(role) that this controller launched for O(cluster),
    tagged C(cloudburst:cluster=)O(cluster), C(cloudburst:role=)O(role) and C(managed-by=cloudburst.aws). Instances
    are found by these tag filters, never by image or subnet, so nobody else's instance is ever counted, stopped or
    terminated.
  - 'Tags are not trusted: anyone allowed to launch with the cluster''s tags could plant an instance. An instance
    belongs to the group only when the launch records O(launch_records) on the controller name it: its id came back
    from a C(RunInstances) of this module, or it carries the client token that the module wrote down there before a
    C(RunInstances) whose answer was lost, or it was adopted with O(adopt_instance_ids); and its key pair and image
    are the ones recorded. Any other tagged instance is reported in a warning (C(not launched by this controller:
    i-...)) and in RV(untrusted_ids), and is not counted, not returned (so never configured by the roles) and never
    terminated.'
  - A cluster with tagged instances and no launch records file at all (launched before this module kept records, or
    from another controller) fails with the instances' ids and nothing changes, until they are adopted.
  - 'New instances get AWS''s own hardening by default: IMDSv2 only (O(metadata_http_tokens)), a hop limit of one
    (O(metadata_hop_limit)) so that a container on the node cannot reach the instance''s role credentials, and an
    encrypted root volume (O(encrypt_root_volume), with the account''s default EBS key).'
  - The calls do not grow with the number of instances. One filtered C(DescribeInstances) finds the group. The
    missing instances come from one C(RunInstances) with C(MinCount=MaxCount=) the number missing, carrying
    the tags (C(TagSpecifications)), the spot market options (C(InstanceMarketOptions)), the root volume
    (C(BlockDeviceMappings)), the profile, the user data and the shutdown behaviour. Extra instances go in one
    C(TerminateInstances). Waiting polls one C(DescribeInstances) for all of them.
  - 'Scale-down terminates the newest instances first (launch time, then launch index): a resize keeps the
    oldest nodes.'
  - Stopped instances of the role are not counted and not touched by O(state=present); O(state=absent)
    terminates them too.
  - Options such as the instance type or the user data apply to instances launched from now on; running
    instances are not changed or replaced.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  cluster:
    description: The cluster's name, tagged as C(cloudburst:cluster). 1-63 letters, digits, C(-) or C(_).
    type: str
    required: true
  role:
    description:
      - The cluster role (master, worker, annex, ...), tagged as C(cloudburst:role).
      - Required with O(state=present). With O(state=absent), empty means every role of the cluster.
    type: str
    default: ""
  state:
    description:
      - V(present) keeps O(count) instances; V(absent) terminates the role's (or cluster's) instances that this
        controller launched (or adopted).
      - V(retagged) sets O(retag) on the role's pending, running, stopping or stopped instances that this controller
        launched (in EC2 and in their launch records), and launches and terminates nothing; for example a renewed annex
        lease end, or an extended Spark cluster's.
    type: str
    choices: [present, absent, retagged]
    default: present
  count:
    description: How many pending or running instances the role keeps; V(0) terminates them all.
    type: int
    default: 1
  image_id:
    description: The AMI to launch. Required when instances must be launched.
    type: str
  instance_type:
    description: The instance type (C(family.size), for example C(t3.medium)). Required when instances must be launched.
    type: str
  subnet_id:
    description: The subnet to launch in; without it, the default VPC (in O(availability_zone) when given).
    type: str
  availability_zone:
    description: The zone to launch in when no O(subnet_id) is given.
    type: str
  security_group_ids:
    description: Security group ids of new instances.
    type: list
    elements: str
    default: []
  key_name:
    description: The EC2 key pair whose public key new instances let in.
    type: str
  instance_profile:
    description: IAM instance profile of new instances, by name or ARN.
    type: str
  user_data:
    description: User data (cloud-init) of new instances, as text; it is sent in base64.
    type: str
  shutdown_behavior:
    description: What a shutdown from inside a new instance does.
    type: str
    choices: [terminate, stop]
    default: terminate
  market:
    description: V(spot) launches one-time spot instances (interruption terminates them) through C(InstanceMarketOptions).
    type: str
    choices: [on-demand, spot]
    default: on-demand
  spot_max_price:
    description: Maximum hourly spot price in USD, for example V(0.05); unset means the on-demand price.
    type: str
  root_volume_size:
    description: Root volume size in GiB of new instances (deleted with the instance); V(0) keeps the image's.
    type: int
    default: 0
  root_device_name:
    description: The image's root device name; unset means one C(DescribeImages) to read it, when a root volume
      mapping is sent (O(root_volume_size) or O(encrypt_root_volume)).
    type: str
  launch_records:
    description:
      - The cluster's launch records on the controller, a JSON file that only this module writes (one file per cluster).
      - Its directory must belong to the user running the module, with mode 0700; a missing one is created so. The
        file is mode 0600 and replaced atomically; a file or directory that others may write, that belongs to someone
        else or that is a symbolic link is refused.
      - Launching writes the client token down before C(RunInstances) and the instance ids after it; terminating and
        instances seen terminated drop out; stop and start keep the ids. O(state=absent) leaves the file without the
        instances it terminated (an empty file after a whole cluster's destroy, so that a planted instance cannot
        block the next launch).
      - The roles keep it beside the cluster key, as C(<key file>.launched/<cluster>.json).
    type: path
    required: true
  adopt_instance_ids:
    description:
      - Ids of tagged instances of the cluster to trust and write into O(launch_records), for a cluster launched before
        this module kept launch records (or whose records were lost). List only instances this controller launched.
      - Each must be a pending, running, stopping or stopped instance tagged with the cluster and C(managed-by), and
        carry O(key_name) when that is given; otherwise the module fails and nothing changes. Their role is the one
        they are tagged with. Ids already recorded change nothing, so the list may stay in a vars file.
    type: list
    elements: str
    default: []
  metadata_http_tokens:
    description:
      - Instance metadata of new instances; V(required) allows only IMDSv2 (session tokens), V(optional) allows IMDSv1
        as well (an SSRF in anything on the node can then read the role's credentials). Running instances are not
        changed.
    type: str
    choices: [required, optional]
    default: required
  metadata_hop_limit:
    description:
      - The PUT response hop limit of the instance metadata service for new instances, 1 to 64. V(1) keeps the role's
        credentials away from containers on the node (a container's bridge is one more hop); V(2) only where a container
        on the node must reach the metadata service itself.
    type: int
    default: 1
  encrypt_root_volume:
    description:
      - Encrypt the root volume of new instances (with the account's default EBS key). It needs the image's root
        device and size, read with one C(DescribeImages) per launch unless O(root_device_name) and
        O(root_volume_size) are given.
    type: bool
    default: true
  tags:
    description:
      - More tags for new instances. C(Name) defaults to C(cloudburst-<cluster>-<role>).
      - C(cloudburst:cluster), C(cloudburst:role) and C(managed-by) are set by the module and refused here.
    type: dict
    default: {}
  retag:
    description:
      - With O(state=retagged), the tags to set on the role's live instances that this controller launched, in EC2
        (one CreateTags) and in their launch records, so that what the records say they were launched with follows.
      - Only instances whose tags differ are changed; the module's own tags are refused here as in O(tags).
    type: dict
    default: {}
  wait:
    description: Wait until new and kept instances run, and terminated ones are terminated.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two polls while waiting (each poll is one C(DescribeInstances) for all instances).
    type: int
    default: 5
notes:
  - A retried C(RunInstances) carries the same client token, so an answer lost after EC2 acted launches nothing more;
    the token is written into O(launch_records) before the call, so the instances of a call whose answer never came are
    recognised by the next run (EC2 refuses a used token to anyone else's different request).
  - moto 5.2.5 does not keep a client token's idempotency and does not implement the C(client-token) filter; the module
    matches tokens on the instances it describes anyway.
attributes:
  check_mode:
    support: full
    description: Reports what would be launched or terminated, with no write call.
  diff_mode:
    support: full
    description: Shows the count and instance ids before and after.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cloudburst.aws.insecure_tls
"""

EXAMPLES = r"""
- name: Four spot workers of cluster demo in the cluster's subnet
  cloudburst.aws.ec2_instance_group:
    cluster: demo
    role: worker
    count: 4
    image_id: ami-0123456789abcdef0
    instance_type: m5.large
    subnet_id: "{{ ec2_network_result.subnet_id }}"
    security_group_ids: ["{{ ec2_security_groups_result.worker }}"]
    key_name: cloudburst-demo
    market: spot
    spot_max_price: "0.05"
    root_volume_size: 30
    launch_records: ~/.ssh/cloudburst-demo_ed25519.launched/demo.json
  register: workers

- name: Adopt the workers of a cluster launched before the module kept launch records
  cloudburst.aws.ec2_instance_group:
    cluster: demo
    role: worker
    count: 2
    image_id: ami-0123456789abcdef0
    instance_type: m5.large
    key_name: cloudburst-demo
    launch_records: ~/.ssh/cloudburst-demo_ed25519.launched/demo.json
    adopt_instance_ids: [i-0123456789abcdef0, i-0fedcba9876543210]

- name: Scale down to one worker (the newest three are terminated)
  cloudburst.aws.ec2_instance_group:
    cluster: demo
    role: worker
    count: 1
    launch_records: ~/.ssh/cloudburst-demo_ed25519.launched/demo.json

- name: Terminate every instance of the cluster that this controller launched
  cloudburst.aws.ec2_instance_group:
    cluster: demo
    state: absent
    launch_records: ~/.ssh/cloudburst-demo_ed25519.launched/demo.json
"""

RETURN = r"""
instances:
  description: The group's instances after the task, oldest first, as amazon.aws.ec2_instance_info returns them.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance id.
      type: str
    private_ip_address:
      description: The private IPv4 address.
      type: str
    public_ip_address:
      description: The public IPv4 address, if any.
      type: str
    state:
      description: The state, with C(name) and C(code).
      type: dict
    placement:
      description: The placement, with C(availability_zone).
      type: dict
    launch_time:
      description: When the instance was launched.
      type: str
    instance_lifecycle:
      description: C(spot) for a spot instance.
      type: str
    tags:
      description: The instance's tags as a dict (anyone allowed to tag the cluster's instances can change them).
      type: dict
    launch_record:
      description: What the launch records say about the instance (C(role), C(image_id), C(key_name), C(client_token),
        C(tags) as launched, C(adopted) for an adopted one); the controller's own word, unlike RV(instances[].tags).
      type: dict
instance_ids:
  description: The ids of RV(instances).
  returned: always
  type: list
  elements: str
launched_ids:
  description: The instances this task launched (empty in check mode).
  returned: always
  type: list
  elements: str
terminated_ids:
  description: The instances this task terminated (or would, in check mode).
  returned: always
  type: list
  elements: str
untrusted_ids:
  description: Tagged instances of the role (of every role with an empty O(role)) that the launch records do not name;
    they are reported in a warning and otherwise left alone.
  returned: always
  type: list
  elements: str
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import run_manager
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import InstanceGroupManager
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import ec2_retry


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        role=dict(type="str", default=""),
        state=dict(type="str", choices=["present", "absent", "retagged"], default="present"),
        count=dict(type="int", default=1),
        image_id=dict(type="str"),
        instance_type=dict(type="str"),
        subnet_id=dict(type="str"),
        availability_zone=dict(type="str"),
        security_group_ids=dict(type="list", elements="str", default=[]),
        key_name=dict(type="str", no_log=False),
        instance_profile=dict(type="str"),
        user_data=dict(type="str"),
        shutdown_behavior=dict(type="str", choices=["terminate", "stop"], default="terminate"),
        market=dict(type="str", choices=["on-demand", "spot"], default="on-demand"),
        spot_max_price=dict(type="str"),
        root_volume_size=dict(type="int", default=0),
        root_device_name=dict(type="str"),
        tags=dict(type="dict", default={}),
        retag=dict(type="dict", default={}),
        launch_records=dict(type="path", required=True),
        adopt_instance_ids=dict(type="list", elements="str", default=[]),
        metadata_http_tokens=dict(type="str", choices=["required", "optional"], default="required"),
        metadata_hop_limit=dict(type="int", default=1),
        encrypt_root_volume=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        poll_interval=dict(type="int", default=5),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                                 mutually_exclusive=[["subnet_id", "availability_zone"]])
    manager = InstanceGroupManager(module.client("ec2", retry_decorator=ec2_retry()), module.params,
                                   check_mode=module.check_mode)
    what = f"instances of {module.params['role'] or 'every role'} in cluster {module.params['cluster']}"
    result = run_manager(module, manager, what)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
