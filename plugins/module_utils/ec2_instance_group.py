# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The manager of cloudburst.aws.ec2_instance_group: exactly N tagged instances of one cluster role.

The calls do not grow with N: one filtered DescribeInstances finds the group; the missing instances come from
one RunInstances with MinCount = MaxCount = the number missing (tags, market options, root volume and all in
that one request); extra ones go in one TerminateInstances; waiting polls one DescribeInstances for all of
them. Instances are only ever found through the tag filters (cluster, managed-by), never by AMI or subnet, so
nobody else's instance is counted or terminated.

Tags only say what an instance claims to be: anyone allowed to launch with the cluster's tags can plant one.
So an instance belongs to the group only when the controller's launch records (launch_records.py) name it:
its id came back from a RunInstances of this controller, or it carries a client token written down before such
a call whose answer was lost, or the user adopted it by id. Its key pair and image must be the ones recorded.
Any other tagged instance is reported, never counted, never returned (so never configured) and never
terminated.
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

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import AwsManager
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import ABSENT_STATES
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import LIVE_STATES
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import CLUSTER_TAG
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import ROLE_TAG
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import MANAGED_TAG
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import InstanceGroupError
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import InstanceTrust
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_trust import age_key
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_records import LaunchRecords

INSTANCE_ID_PATTERN = re.compile(r"^i-[0-9a-f]{8,17}\Z")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+\Z")
PRICE_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)?\Z")
# Just-launched instances may be unknown to DescribeInstances for a moment (EC2 is eventually consistent).
EC2_RETRY_CODES = ["InvalidInstanceID.NotFound"]


def ec2_retry():
    return AWSRetry.jittered_backoff(catch_extra_error_codes=EC2_RETRY_CODES)


def snake_instance(instance, record=None):
    """An instance as amazon.aws.ec2_instance_info returns it: snake_case keys, tags as a dict; with record, its
    launch record as launch_record (role, image_id, key_name, client_token and the tags it was launched with)."""
    result = camel_dict_to_snake_dict(instance, ignore_list=["Tags"])
    result["tags"] = boto3_tag_list_to_ansible_dict(instance.get("Tags", []))
    if record is not None:
        result["launch_record"] = dict(record)
    return result


class InstanceGroupManager(InstanceTrust, AwsManager):
    """Keeps exactly params['count'] live instances of the role that this controller launched for the cluster.

    params are the module's options. client is an EC2 client whose calls accept aws_retry=True (the module's
    client, or a RetryingBotoClientWrapper). In check mode every write is only recorded in changes, and the launch
    records are read, never written. warnings collects what the module reports as warnings.
    """

    def __init__(self, client, params, check_mode=False, sleep=time.sleep, clock=time.monotonic, now=time.time):
        self.client = client
        self.params = params
        self.check_mode = check_mode
        self.changes = []
        self.warnings = []
        self.launched_ids = []
        self.terminated_ids = []
        self.untrusted_ids = []
        self.records = None
        self._trusted = {}
        self._sleep = sleep
        self._clock = clock
        self._now = now

    failure = "EC2 call failed for {what}"

    def failure_result(self):
        return {"changes": self.changes, "launched_ids": self.launched_ids, "terminated_ids": self.terminated_ids,
                "untrusted_ids": self.untrusted_ids}

    def local_error_message(self, exc, what):
        return f"launch records {self.params['launch_records']} of {what}: {exc}"

    # --- input -------------------------------------------------------------------------------------------

    def validate_scope(self):
        """What the module and its _info module share: cluster, role, the ids to adopt."""
        p = self.params
        if not NAME_PATTERN.match(p["cluster"] or ""):
            raise InstanceGroupError(f"cluster must be 1-63 letters, digits, '-' or '_' (got {p['cluster']!r}); "
                                     "nothing was changed.")
        if p.get("state") in ("present", "retagged") or p.get("role"):
            if not NAME_PATTERN.match(p.get("role") or ""):
                raise InstanceGroupError(f"role must be 1-63 letters, digits, '-' or '_' (got {p.get('role')!r}); "
                                         "nothing was changed.")
        bad = [i for i in p.get("adopt_instance_ids") or [] if not INSTANCE_ID_PATTERN.match(str(i))]
        if bad:
            raise InstanceGroupError(f"adopt_instance_ids must be instance ids such as i-0123456789abcdef0 (got "
                                     f"{', '.join(map(repr, bad))}); nothing was changed.")

    def validate(self):
        self.validate_scope()
        p = self.params
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
        if not 1 <= p["metadata_hop_limit"] <= 64:
            raise InstanceGroupError(f"metadata_hop_limit must be 1 to 64 (got {p['metadata_hop_limit']}); "
                                     "nothing was changed.")
        for key in list(p.get("tags") or {}) + list(p.get("retag") or {}):
            if key in (CLUSTER_TAG, ROLE_TAG, MANAGED_TAG) or key.startswith("aws:"):
                raise InstanceGroupError(f"tag {key!r} is set by the module (or reserved by AWS); nothing was changed.")
        if p["state"] == "retagged" and not p.get("retag"):
            raise InstanceGroupError("state retagged needs the tags to set (retag); nothing was changed.")

    # --- writing -----------------------------------------------------------------------------------------

    def instance_tags(self):
        p = self.params
        tags = dict(p.get("tags") or {})
        tags.update(self.owned_tags())
        tags[ROLE_TAG] = p["role"]
        tags.setdefault("Name", f"cloudburst-{p['cluster']}-{p['role']}")
        return tags

    def run_request(self, count, token):
        """The one RunInstances request that launches count instances under the client token."""
        p = self.params
        request = {
            "ImageId": p["image_id"], "InstanceType": p["instance_type"], "MinCount": count, "MaxCount": count,
            "InstanceInitiatedShutdownBehavior": p["shutdown_behavior"],
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": ansible_dict_to_boto3_tag_list(self.instance_tags())}],
            # IMDSv2 only, and only one hop: a container on the node (one more hop) gets no role credentials.
            "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": p["metadata_http_tokens"],
                                "HttpPutResponseHopLimit": p["metadata_hop_limit"]},
            # The same token makes a retried request (an answer lost after EC2 acted) launch nothing more, and it
            # names the instances of a call whose answer never came (written down before the call).
            "ClientToken": token,
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
        if p.get("root_volume_size") or p["encrypt_root_volume"]:
            request["BlockDeviceMappings"] = [self.root_volume()]
        return request

    def root_volume(self):
        """The root device's mapping: the size asked for (or the image's), encrypted unless encrypt_root_volume is
        off."""
        p = self.params
        ebs = {"DeleteOnTermination": True}
        if p["encrypt_root_volume"]:
            ebs["Encrypted"] = True
        if p.get("root_volume_size"):
            ebs["VolumeSize"] = p["root_volume_size"]
        if p.get("root_device_name") and "VolumeSize" in ebs:
            return {"DeviceName": p["root_device_name"], "Ebs": ebs}
        images = self.client.describe_images(ImageIds=[p["image_id"]], aws_retry=True)["Images"]
        if not images:
            raise InstanceGroupError(f"AMI {p['image_id']} was not found; nothing was launched.")
        device = p.get("root_device_name") or images[0]["RootDeviceName"]
        # The image's own size, said again: EC2 takes it from the snapshot when left out, moto insists on it.
        size = next((m.get("Ebs", {}).get("VolumeSize") for m in images[0].get("BlockDeviceMappings", [])
                     if m.get("DeviceName") == device), None)
        if size and "VolumeSize" not in ebs:
            ebs["VolumeSize"] = size
        return {"DeviceName": device, "Ebs": ebs}

    def launch(self, count):
        p = self.params
        if not p.get("image_id") or not p.get("instance_type"):
            raise InstanceGroupError(f"{count} instance(s) must be launched, which needs image_id and instance_type; "
                                     "nothing was changed.")
        self.changes.append(f"launch {count} {p['market']} {p['instance_type']} instance(s) of {p['role']} "
                            f"in cluster {p['cluster']}")
        if self.check_mode:
            return []
        token = str(uuid.uuid4())
        request = self.run_request(count, token)
        self.records.expect(token, {"role": p["role"], "image_id": p["image_id"], "key_name": p.get("key_name"),
                                    "tags": self.instance_tags(), "count": count, "client_token": token},
                            self._now())
        launched = self.client.run_instances(aws_retry=True, **request)["Instances"]
        self.records.confirm(token, launched)
        self.launched_ids = [i["InstanceId"] for i in launched]
        return launched

    def terminate(self, instances):
        ids = [i["InstanceId"] for i in instances]
        self.changes.append(f"terminate {len(ids)} instance(s): {' '.join(ids)}")
        self.terminated_ids = ids
        if not self.check_mode:
            self.client.terminate_instances(InstanceIds=ids, aws_retry=True)
            self.records.forget(ids)
            self.records.save()

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
        before = self.trusted_of_role(LIVE_STATES)
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

    def ensure_retagged(self):
        """Set retag on the role's instances that this controller launched and that still bill or may again (stopped
        ones too: a stopped cluster's lease end moves with it): in EC2 and in their records."""
        wanted = {str(k): str(v) for k, v in self.params["retag"].items()}
        before = self.trusted_of_role(ABSENT_STATES)
        stale = [i for i in before if any(boto3_tag_list_to_ansible_dict(i.get("Tags", [])).get(k) != v
                                          or (self._trusted[i["InstanceId"]][1].get("tags") or {}).get(k) != v
                                          for k, v in wanted.items())]
        if not stale:
            return before, before
        ids = [i["InstanceId"] for i in stale]
        self.changes.append(f"retag {len(ids)} instance(s) {' '.join(ids)}: "
                            + ", ".join(f"{k}={v}" for k, v in sorted(wanted.items())))
        if self.check_mode:
            return before, before
        self.client.create_tags(Resources=ids, Tags=ansible_dict_to_boto3_tag_list(wanted), aws_retry=True)
        after = []
        for instance in before:
            if instance["InstanceId"] in ids:
                tags = dict(boto3_tag_list_to_ansible_dict(instance.get("Tags", [])), **wanted)
                instance = dict(instance, Tags=ansible_dict_to_boto3_tag_list(tags))
                record = self.records.instances.get(instance["InstanceId"])
                if record is not None:
                    record["tags"] = dict(record.get("tags") or {}, **wanted)
                    self.records.dirty = True
            after.append(instance)
        self.records.save()
        return before, after

    def ensure_absent(self):
        before = self.trusted_of_role(ABSENT_STATES)
        if before:
            self.terminate(before)
            if self.params["wait"]:
                self.wait_for([i["InstanceId"] for i in before], ("terminated",), gone_ok=True)
        return before, []

    def open_records(self):
        p = self.params
        return LaunchRecords(p["launch_records"], p["cluster"], write=not self.check_mode,
                             lock_timeout=p.get("wait_timeout", 600), sleep=self._sleep, clock=self._clock)

    def run(self):
        """Validate, then ensure the state; returns the module result (without changed/failed handling)."""
        self.validate()
        with self.open_records() as self.records:
            try:
                self.sort_by_trust(self.cluster_instances())
                if self.params["state"] == "present":
                    before, after = self.ensure_present()
                elif self.params["state"] == "retagged":
                    before, after = self.ensure_retagged()
                else:
                    before, after = self.ensure_absent()
            finally:
                self.records.save()
        return {
            "changed": bool(self.changes),
            "changes": self.changes,
            "instances": [self.snake(i) for i in after],
            "instance_ids": [i["InstanceId"] for i in after],
            "launched_ids": self.launched_ids,
            "terminated_ids": self.terminated_ids,
            "untrusted_ids": self.untrusted_ids,
            "diff": {"before": summary(before),
                     "after": summary(after, self.changes if self.check_mode else None, self.params)},
        }

    def info(self):
        """The _info module's answer: the trusted instances (live or stopped) of the role, or of every role, oldest
        first, with their launch records; the records are only read (a lost answer's instances are recognised but
        not written down, adoption is only checked)."""
        self.validate_scope()
        self.check_mode = True
        with self.open_records() as self.records:
            self.sort_by_trust(self.cluster_instances())
        found = self.trusted_of_role(ABSENT_STATES)
        return {"instances": [self.snake(i) for i in found], "instance_ids": [i["InstanceId"] for i in found],
                "untrusted_ids": self.untrusted_ids}

    def snake(self, instance):
        held = self._trusted.get(instance["InstanceId"])
        return snake_instance(instance, held[1] if held else self.records.instances.get(instance["InstanceId"]))


def summary(instances, planned=None, params=None):
    """What the diff shows: how many instances and which ids."""
    ids = [i["InstanceId"] for i in instances]
    result = {"count": len(ids), "instance_ids": ids}
    if planned and params is not None and params["state"] == "present":
        result["count"] = params["count"]
    return result
