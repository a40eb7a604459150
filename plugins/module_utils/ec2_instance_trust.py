# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which tagged instances of a cluster are the group's: those the controller's launch records name (launched
by it, a lost launch's client token, or adopted by id), with the image and key pair recorded. Every other tagged
instance is reported, never counted, returned or terminated (see ec2_instance_group.py)."""

from __future__ import annotations

import collections

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_records import CLOCK_SKEW
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_records import PENDING_TTL

CLUSTER_TAG = "cloudburst:cluster"
ROLE_TAG = "cloudburst:role"
MANAGED_TAG = "managed-by"
MANAGED_VALUE = "cloudburst.aws"
# The states in which an instance counts as one of the group.
LIVE_STATES = ("pending", "running")
# The states that state=absent terminates (everything not already on its way out); also the states in which a
# tagged instance that the launch records do not name is reported.
ABSENT_STATES = ("pending", "running", "stopping", "stopped")
# The states of an instance that is gone or going: its launch record is dropped.
ENDED_STATES = ("shutting-down", "terminated")
ADOPT_HINT = ("adopt them once by listing their ids in adopt_instance_ids (role variables "
              "ec2_instances_adopt_instance_ids, spark_ec2_adopt_instance_ids, htcondor_annex_adopt_instance_ids)")


class InstanceGroupError(CloudburstError):
    """Bad input, or a wait that ran out; found before any write where it is input."""


def age_key(instance):
    """Oldest first: launch time, then the launch index within one RunInstances, then the id."""
    return (instance["LaunchTime"], instance.get("AmiLaunchIndex", 0), instance["InstanceId"])


def tagged_role(instance):
    return boto3_tag_list_to_ansible_dict(instance.get("Tags", [])).get(ROLE_TAG, "")


def launched_as(instance, record):
    """Whether the instance has the image and key pair its record says it was launched with (neither can change)."""
    return (instance.get("ImageId") == record.get("image_id")
            and (instance.get("KeyName") or None) == (record.get("key_name") or None))


def launched_after(instance, recorded_at):
    """Whether the instance was launched after its client token was written down (give or take clock skew)."""
    launch_time = instance.get("LaunchTime")
    return hasattr(launch_time, "timestamp") and launch_time.timestamp() >= recorded_at - CLOCK_SKEW


class InstanceTrust:
    """The reading side of InstanceGroupManager: it needs self.client, self.params, self.records, self.changes,
    self.warnings, self._now and sets self._trusted and self.untrusted_ids."""

    def owned_tags(self):
        return {CLUSTER_TAG: self.params["cluster"], MANAGED_TAG: MANAGED_VALUE}

    def describe(self, **kwargs):
        paginator = self.client.get_paginator("describe_instances")
        pages = paginator.paginate(**kwargs).build_full_result()
        return [i for reservation in pages.get("Reservations", []) for i in reservation["Instances"]]

    def cluster_instances(self):
        """Every instance tagged with the cluster, in every role and state: one filtered DescribeInstances (the ended
        ones let the records forget them)."""
        return self.describe(Filters=[{"Name": f"tag:{key}", "Values": [value]}
                                      for key, value in sorted(self.owned_tags().items())])

    def sort_by_trust(self, instances):
        """The instances (live or stopped) the launch records name, as {id: (instance, record)}; reports the others
        of this role, and fails closed when the cluster has no records at all and nothing is adopted. Adoption is
        checked before anything else."""
        p, records = self.params, self.records
        held = {i["InstanceId"]: i for i in instances if i["State"]["Name"] in ABSENT_STATES}
        adopt = self.adoptable(held)
        trusted, untrusted, hits = {}, [], collections.Counter()
        for instance in instances:
            instance_id, token = instance["InstanceId"], instance.get("ClientToken")
            pending = records.pending.get(token) if token else None
            if pending is not None and launched_as(instance, pending) \
                    and launched_after(instance, pending["recorded_at"]):
                hits[token] += 1
            else:
                pending = None
            if instance["State"]["Name"] in ENDED_STATES:
                records.forget([instance_id])
                continue
            if instance_id not in held:
                continue
            record = records.instances.get(instance_id)
            if record is not None and launched_as(instance, record):
                trusted[instance_id] = (instance, record)
            elif pending is not None:
                # A RunInstances whose answer was lost: the token written down before it names the instance.
                trusted[instance_id] = (instance, records.add(instance, pending))
            elif instance_id in adopt:
                self.changes.append(f"adopt {instance_id} ({tagged_role(instance) or 'no role'}) into the launch "
                                    f"records of cluster {p['cluster']}")
                adopted = {"role": tagged_role(instance), "image_id": instance.get("ImageId"),
                           "key_name": instance.get("KeyName"),
                           "tags": boto3_tag_list_to_ansible_dict(instance.get("Tags", []))}
                trusted[instance_id] = (instance, records.add(instance, adopted, adopted=True))
            else:
                untrusted.append(instance)
        now = self._now()
        for token, pending in list(records.pending.items()):
            if hits[token] >= pending.get("count", 1) or now - pending.get("recorded_at", 0) > PENDING_TTL:
                records.drop_pending(token)
        # Without any records, and without the user saying which instances are theirs, tags are all there is: a
        # cluster launched before the records existed (or from another controller). Counting none of them would
        # launch the whole cluster again beside them; counting them would trust tags. So: stop, and say how to adopt.
        if untrusted and not records.exists and not adopt:
            raise InstanceGroupError(
                f"cluster {p['cluster']} has instances tagged as its own "
                f"({', '.join(sorted(i['InstanceId'] for i in untrusted))}) but this "
                f"controller has no launch records for it ({records.path}), so none of them is trusted. A cluster "
                "launched before cloudburst.aws kept launch records has none: if this controller launched them, "
                f"{ADOPT_HINT}. Otherwise they are not yours: terminate them or choose another cluster name. "
                "Nothing was changed.")
        self.report(untrusted)
        self._trusted = trusted
        return trusted

    def adoptable(self, held):
        """The ids to adopt, each a live or stopped instance of the cluster with the cluster's key pair."""
        p = self.params
        adopt = list(dict.fromkeys(p.get("adopt_instance_ids") or []))
        missing = [i for i in adopt if i not in held]
        if missing:
            raise InstanceGroupError(f"adopt_instance_ids names {', '.join(missing)}: not a live or stopped instance "
                                     f"tagged {CLUSTER_TAG}={p['cluster']} and {MANAGED_TAG}={MANAGED_VALUE}; "
                                     "nothing was changed.")
        key = p.get("key_name")
        wrong = [i for i in adopt if key and held[i].get("KeyName") != key]
        if wrong:
            raise InstanceGroupError(
                "adopt_instance_ids names "
                + ", ".join(f"{i} (key pair {held[i].get('KeyName') or 'none'})" for i in wrong)
                + f": the cluster's instances carry key pair {key}; nothing was changed.")
        return set(adopt)

    def report(self, untrusted):
        role = self.params.get("role")
        self.untrusted_ids = sorted(i["InstanceId"] for i in untrusted if not role or tagged_role(i) == role)
        if self.untrusted_ids:
            scope = f"{CLUSTER_TAG}={self.params['cluster']}" + (f", {ROLE_TAG}={role}" if role else "")
            self.warnings.append(
                f"not launched by this controller: {', '.join(self.untrusted_ids)} (tagged {scope}). Not counted, "
                "never configured, never terminated by cloudburst.aws: terminate them yourself if nobody should have "
                f"launched them; if this controller did launch them, {ADOPT_HINT}.")

    def trusted_of_role(self, states):
        role = self.params.get("role")
        return sorted((i for i, record in self._trusted.values()
                       if (not role or record.get("role") == role) and i["State"]["Name"] in states), key=age_key)
