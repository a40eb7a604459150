# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The manager of cloudburst.aws.ec2_instance_group: exactly N tagged instances of one cluster role.

The calls do not grow with N: one filtered DescribeInstances finds the group; the missing instances come from
one RunInstances with MinCount = MaxCount = the number missing (tags, market options, root volume and all in
that one request); extra ones go in one TerminateInstances; waiting polls one DescribeInstances for all of
them. Instances are only ever found through the tag filters (cluster, role, managed-by), never by AMI or
subnet, so nobody else's instance is counted or terminated.
"""

from __future__ import annotations

import re
import time
import uuid

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

CLUSTER_TAG = "cloudburst:cluster"
ROLE_TAG = "cloudburst:role"
MANAGED_TAG = "managed-by"
MANAGED_VALUE = "cloudburst.aws"
# The states in which an instance counts as one of the group.
LIVE_STATES = ("pending", "running")
# The states that state=absent terminates (everything not already on its way out).
ABSENT_STATES = ("pending", "running", "stopping", "stopped")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+\Z")
PRICE_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)?\Z")
# Just-launched instances may be unknown to DescribeInstances for a moment (EC2 is eventually consistent).
EC2_RETRY_CODES = ["InvalidInstanceID.NotFound"]


class InstanceGroupError(ValueError):
    """Bad input, or a wait that ran out; found before any write where it is input."""


def ec2_retry():
    return AWSRetry.jittered_backoff(catch_extra_error_codes=EC2_RETRY_CODES)


def snake_instance(instance):
    """An instance as amazon.aws.ec2_instance_info returns it: snake_case keys, tags as a dict."""
    result = camel_dict_to_snake_dict(instance, ignore_list=["Tags"])
    result["tags"] = boto3_tag_list_to_ansible_dict(instance.get("Tags", []))
    return result


def age_key(instance):
    """Oldest first: launch time, then the launch index within one RunInstances, then the id."""
    return (instance["LaunchTime"], instance.get("AmiLaunchIndex", 0), instance["InstanceId"])


class InstanceGroupManager:
    """Keeps exactly params['count'] live instances tagged with the cluster, the role and managed-by.

    params are the module's options. client is an EC2 client whose calls accept aws_retry=True (the module's
    client, or a RetryingBotoClientWrapper). In check mode every write is only recorded in changes.
    """

    def __init__(self, client, params, check_mode=False, sleep=time.sleep, clock=time.monotonic):
        self.client = client
        self.params = params
        self.check_mode = check_mode
        self.changes = []
        self.launched_ids = []
        self.terminated_ids = []
        self._sleep = sleep
        self._clock = clock

    # --- input -------------------------------------------------------------------------------------------

    def validate(self):
        p = self.params
        if not NAME_PATTERN.match(p["cluster"] or ""):
            raise InstanceGroupError(f"cluster must be 1-63 letters, digits, '-' or '_' (got {p['cluster']!r}); "
                                     "nothing was changed.")
        if p["state"] == "present" or p.get("role"):
            if not NAME_PATTERN.match(p.get("role") or ""):
                raise InstanceGroupError(f"role must be 1-63 letters, digits, '-' or '_' (got {p.get('role')!r}); "
                                         "nothing was changed.")
        if p["state"] == "absent":
            return
        if p["count"] < 0:
            raise InstanceGroupError(f"count must be 0 or more (got {p['count']}); nothing was changed.")
        if p.get("instance_type") and not INSTANCE_TYPE_PATTERN.match(p["instance_type"]):
            raise InstanceGroupError(f"instance_type {p['instance_type']!r} is not an instance type (family.size, "
                                     "for example t3.medium); nothing was changed.")
        price = p.get("spot_max_price")
        if price and not PRICE_PATTERN.match(str(price)):
            raise InstanceGroupError(f"spot_max_price {price!r} is not a price in USD (for example 0.05); "
                                     "nothing was changed.")
        if price and p["market"] != "spot":
            raise InstanceGroupError("spot_max_price is set but market is on-demand; nothing was changed.")
        if (p.get("root_volume_size") or 0) < 0:
            raise InstanceGroupError(f"root_volume_size must be 0 (the image's) or more GiB (got "
                                     f"{p['root_volume_size']}); nothing was changed.")
        for key in (p.get("tags") or {}):
            if key in (CLUSTER_TAG, ROLE_TAG, MANAGED_TAG) or key.startswith("aws:"):
                raise InstanceGroupError(f"tag {key!r} is set by the module (or reserved by AWS); nothing was changed.")

    # --- reading -----------------------------------------------------------------------------------------

    def owned_tags(self):
        return {CLUSTER_TAG: self.params["cluster"], MANAGED_TAG: MANAGED_VALUE}

    def filters(self, states):
        tags = dict(self.owned_tags())
        if self.params.get("role"):
            tags[ROLE_TAG] = self.params["role"]
        found = [{"Name": f"tag:{key}", "Values": [value]} for key, value in sorted(tags.items())]
        return found + [{"Name": "instance-state-name", "Values": list(states)}]

    def describe(self, **kwargs):
        paginator = self.client.get_paginator("describe_instances")
        pages = paginator.paginate(**kwargs).build_full_result()
        return [i for reservation in pages.get("Reservations", []) for i in reservation["Instances"]]

    def group(self, states=LIVE_STATES):
        """The group's instances in the given states, oldest first: one filtered DescribeInstances."""
        return sorted(self.describe(Filters=self.filters(states)), key=age_key)

    # --- writing -----------------------------------------------------------------------------------------

    def instance_tags(self):
        p = self.params
        tags = dict(p.get("tags") or {})
        tags.update(self.owned_tags())
        tags[ROLE_TAG] = p["role"]
        tags.setdefault("Name", f"cloudburst-{p['cluster']}-{p['role']}")
        return tags

    def run_request(self, count):
        """The one RunInstances request that launches count instances."""
        p = self.params
        request = {
            "ImageId": p["image_id"], "InstanceType": p["instance_type"], "MinCount": count, "MaxCount": count,
            "InstanceInitiatedShutdownBehavior": p["shutdown_behavior"],
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": ansible_dict_to_boto3_tag_list(self.instance_tags())}],
            # The same token makes a retried request (an answer lost after EC2 acted) launch nothing more.
            "ClientToken": str(uuid.uuid4()),
        }
        if p.get("subnet_id"):
            request["SubnetId"] = p["subnet_id"]
        elif p.get("availability_zone"):
            request["Placement"] = {"AvailabilityZone": p["availability_zone"]}
        if p.get("security_group_ids"):
            request["SecurityGroupIds"] = list(p["security_group_ids"])
        if p.get("key_name"):
            request["KeyName"] = p["key_name"]
        if p.get("instance_profile"):
            profile = p["instance_profile"]
            request["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
        if p.get("user_data"):
            request["UserData"] = p["user_data"]  # boto3 encodes it in base64
        if p["market"] == "spot":
            spot = {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}
            if p.get("spot_max_price"):
                spot["MaxPrice"] = str(p["spot_max_price"])
            request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": spot}
        if p.get("root_volume_size"):
            request["BlockDeviceMappings"] = [{"DeviceName": self.root_device_name(), "Ebs": {
                "VolumeSize": p["root_volume_size"], "DeleteOnTermination": True}}]
        return request

    def root_device_name(self):
        if self.params.get("root_device_name"):
            return self.params["root_device_name"]
        images = self.client.describe_images(ImageIds=[self.params["image_id"]], aws_retry=True)["Images"]
        if not images:
            raise InstanceGroupError(f"AMI {self.params['image_id']} was not found; nothing was launched.")
        return images[0]["RootDeviceName"]

    def launch(self, count):
        p = self.params
        if not p.get("image_id") or not p.get("instance_type"):
            raise InstanceGroupError(f"{count} instance(s) must be launched, which needs image_id and instance_type; "
                                     "nothing was changed.")
        self.changes.append(f"launch {count} {p['market']} {p['instance_type']} instance(s) of {p['role']} "
                            f"in cluster {p['cluster']}")
        if self.check_mode:
            return []
        request = self.run_request(count)
        launched = self.client.run_instances(aws_retry=True, **request)["Instances"]
        self.launched_ids = [i["InstanceId"] for i in launched]
        return launched

    def terminate(self, instances):
        ids = [i["InstanceId"] for i in instances]
        self.changes.append(f"terminate {len(ids)} instance(s): {' '.join(ids)}")
        self.terminated_ids = ids
        if not self.check_mode:
            self.client.terminate_instances(InstanceIds=ids, aws_retry=True)

    def wait_for(self, ids, wanted, gone_ok=False):
        """Poll one DescribeInstances for all ids until each is in wanted; returns their descriptions."""
        if not ids or self.check_mode:
            return []
        deadline = self._clock() + self.params["wait_timeout"]
        while True:
            try:
                instances = self.describe(InstanceIds=list(ids))
            except is_boto3_error_code("InvalidInstanceID.NotFound"):
                instances = []  # not visible yet; AWS is eventually consistent
            states = {i["InstanceId"]: i["State"]["Name"] for i in instances}
            if gone_ok:
                states.update({i: "terminated" for i in ids if i not in states})
            waiting = sorted(i for i in ids if states.get(i) not in wanted)
            if not waiting:
                return instances
            if self._clock() >= deadline:
                raise InstanceGroupError(
                    f"instances did not reach {' or '.join(wanted)} within {self.params['wait_timeout']} s: "
                    + ", ".join(f"{i} ({states.get(i, 'not visible')})" for i in waiting))
            if any(states.get(i) in ("terminated", "shutting-down") for i in waiting) and "running" in wanted:
                raise InstanceGroupError("instances ended while launching: " + ", ".join(
                    f"{i} ({states[i]})" for i in waiting if states.get(i) in ("terminated", "shutting-down")))
            self._sleep(self.params["poll_interval"])

    # --- states ------------------------------------------------------------------------------------------

    def ensure_present(self):
        p = self.params
        before = self.group()
        wanted = p["count"]
        kept = before
        if len(before) < wanted:
            kept = before + self.launch(wanted - len(before))
        elif len(before) > wanted:
            # Newest first: a resize keeps the oldest nodes (the ones that have their data and their peers).
            extra = sorted(before, key=age_key, reverse=True)[:len(before) - wanted]
            self.terminate(extra)
            kept = [i for i in before if i not in extra]
            if p["wait"]:
                self.wait_for([i["InstanceId"] for i in extra], ("terminated",), gone_ok=True)
        if p["wait"] and any(i["State"]["Name"] != "running" for i in kept):
            kept = self.wait_for([i["InstanceId"] for i in kept], ("running",)) or kept
        return before, sorted(kept, key=age_key)

    def ensure_absent(self):
        before = self.group(ABSENT_STATES)
        if before:
            self.terminate(before)
            if self.params["wait"]:
                self.wait_for([i["InstanceId"] for i in before], ("terminated",), gone_ok=True)
        return before, []

    def run(self):
        """Validate, then ensure the state; returns the module result (without changed/failed handling)."""
        self.validate()
        if self.params["state"] == "present":
            before, after = self.ensure_present()
        else:
            before, after = self.ensure_absent()
        return {
            "changed": bool(self.changes),
            "changes": self.changes,
            "instances": [snake_instance(i) for i in after],
            "instance_ids": [i["InstanceId"] for i in after],
            "launched_ids": self.launched_ids,
            "terminated_ids": self.terminated_ids,
            "diff": {"before": summary(before),
                     "after": summary(after, self.changes if self.check_mode else None, self.params)},
        }


def summary(instances, planned=None, params=None):
    """What the diff shows: how many instances and which ids."""
    ids = [i["InstanceId"] for i in instances]
    result = {"count": len(ids), "instance_ids": ids}
    if planned and params is not None and params["state"] == "present":
        result["count"] = params["count"]
    return result
