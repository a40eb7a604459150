#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_instance_group
short_description: Exactly N tagged EC2 instances of one cluster role, launched and terminated in batches
version_added: 0.1.0
description:
  - Keeps exactly O(count) pending or running instances tagged C(cloudburst:cluster=)O(cluster),
    C(cloudburst:role=)O(role) and C(managed-by=cloudburst.aws). Instances are found only by these tag filters,
    never by image or subnet, so nobody else's instance is ever counted, stopped or terminated.
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
    description: V(present) keeps O(count) instances; V(absent) terminates the role's (or cluster's) instances.
    type: str
    choices: [present, absent]
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
    description: The image's root device name; unset means one C(DescribeImages) to read it, only when O(root_volume_size) is set.
    type: str
  tags:
    description:
      - More tags for new instances. C(Name) defaults to C(cloudburst-<cluster>-<role>).
      - C(cloudburst:cluster), C(cloudburst:role) and C(managed-by) are set by the module and refused here.
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
  - A retried C(RunInstances) carries the same client token, so an answer lost after EC2 acted launches nothing more.
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
  register: workers

- name: Scale down to one worker (the newest three are terminated)
  cloudburst.aws.ec2_instance_group:
    cluster: demo
    role: worker
    count: 1

- name: Terminate every instance of the cluster
  cloudburst.aws.ec2_instance_group:
    cluster: demo
    state: absent
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
      description: The instance's tags as a dict.
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
changes:
  description: What the task did (or would do in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore


from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import CloudburstAWSModule
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import InstanceGroupError
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import InstanceGroupManager
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import ec2_retry


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        role=dict(type="str", default=""),
        state=dict(type="str", choices=["present", "absent"], default="present"),
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
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        poll_interval=dict(type="int", default=5),
    )
    module = CloudburstAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              mutually_exclusive=[["subnet_id", "availability_zone"]])
    manager = InstanceGroupManager(module.client("ec2", retry_decorator=ec2_retry()), module.params,
                                   check_mode=module.check_mode)
    what = f"instances of {module.params['role'] or 'every role'} in cluster {module.params['cluster']}"
    try:
        result = manager.run()
    except InstanceGroupError as exc:
        module.fail_json(msg=str(exc), changes=manager.changes, launched_ids=manager.launched_ids,
                         terminated_ids=manager.terminated_ids)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"EC2 call failed for {what}", changes=manager.changes,
                             launched_ids=manager.launched_ids, terminated_ids=manager.terminated_ids)
    else:
        diff = result.pop("diff")
        if module._diff:
            result["diff"] = diff
        module.exit_json(**result)


if __name__ == "__main__":
    main()
