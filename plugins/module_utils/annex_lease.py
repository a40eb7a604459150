# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The annex lease reaper: terminate the instances of every annex whose lease has ended, delete its objects.

This file is self-contained (standard library and boto3 only, no Ansible imports) because it is used twice:

- as the code of the lease Lambda function (handler ``annex_lease.handler``, runtime python3.13), run by a
  per-annex EventBridge schedule, so that leases are enforced with the controller off;
- by the ``cloudburst.aws.htcondor_annex_reaper`` module, run from a timer on the controller or the central
  manager (and by the tests against moto, which stores schedules but never fires them).

The contract with the launch side (roles/htcondor_annex, through roles/ec2_instances):

- every annex instance carries the tag ``htcondor:AnnexName`` (the annex's name, as condor_annex tags it)
  and the tag ``cloudburst:lease-end`` (``ec2_instances_lease_end``): the lease end as ISO 8601 in UTC,
  ``2026-11-25T14:05:00Z``. Epoch seconds (``1795615500``) and other ISO 8601 offsets are read too;
- the annex's objects in the configuration bucket are those under the key prefix ``config-<annex name>/``
  (inside condor_annex's ``config-*`` pattern that the instance profile is scoped to); each carries the
  lease end as the user metadata ``lease-end``, so that objects of an annex whose instances are already gone
  (idle shutdown) are still removed after its lease.

An instance whose lease-end tag is missing or unreadable is never terminated; it is reported as skipped.

The setup's lease function also ends annexes that the stock ``condor_annex -count`` launched on the setup. Their
rule (named after the annex ID, condor_annex's annex name cut to 27 characters) gives the function the stock
lease function's input, ``{"AnnexID", "S3BucketName", "LeaseExpiration"}`` with the lease end in epoch seconds,
and ``end_stock_annex`` does what HTCondor's odi-lease function does with it once the lease has passed: delete
``config-<AnnexID>.tar.gz`` from the bucket, terminate the annex's instances (those whose client token is
``<AnnexID>_...``, condor_annex's token for its launch), then remove the rule's target and the rule. Unlike the
stock function it matches the client token up to the underscore, so annex ``a`` never ends annex ``ab``, and it
refuses a bucket other than the setup's. ``condor_annex -annex-name NAME -duration H`` puts a new
LeaseExpiration into the rule's input, which extends the lease, and an empty S3BucketName, for which the setup's
bucket stands in (HTCondor's own function then failed to delete the tarball and never terminated the annex). Spot
fleet annexes (``-slots``) are not ended.

The same reaper ends leased EC2 clusters (reap_clusters: a Spark cluster of cloudburst.aws.spark_ec2 with
spark_ec2_lease_hours): instances that carry cloudburst:cluster, managed-by=cloudburst.aws, cloudburst:lease-end and
cloudburst:lease-action (terminate or stop, what spark_ec2_lease_action chose) are terminated or stopped once their
lease end has passed. A schedule's input {"cluster": NAME} runs it for one cluster.
"""

from __future__ import annotations

import datetime
import logging
import os
import re

ANNEX_TAG = "htcondor:AnnexName"
LEASE_TAG = "cloudburst:lease-end"
# A leased EC2 cluster's instances (reap_clusters): the EC2 layer's ownership tags and what ends them.
CLUSTER_TAG = "cloudburst:cluster"
MANAGED_TAG = ("managed-by", "cloudburst.aws")
LEASE_ACTION_TAG = "cloudburst:lease-action"
LEASE_ACTIONS = ("terminate", "stop")
CLUSTER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
LEASE_METADATA = "lease-end"
OBJECT_PREFIX = "config-"
# States in which an instance still bills (or may again): the reaper terminates these.
LIVE_STATES = ("pending", "running", "stopping", "stopped")
# \Z, not $: "$" also matches before a final line break, and a name with one must not pass.
ANNEX_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,26}\Z")
_EPOCH_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)?$")
# How far ahead of this host's clock a real (not dry) run may judge leases: clock skew, no more. A later moment
# would end annexes whose leases have not ended.
_FUTURE_TOLERANCE = datetime.timedelta(seconds=60)
# TerminateInstances and DeleteObjects take at most this many ids / keys per call.
_TERMINATE_BATCH = 500
_DELETE_BATCH = 1000


class LeaseError(ValueError):
    """Bad input to the reaper (an annex name or a time it cannot use)."""


def object_prefix(annex_name):
    """The key prefix of one annex's objects in the configuration bucket."""
    check_annex_name(annex_name)
    return f"{OBJECT_PREFIX}{annex_name}/"


def annex_cluster(annex_name, prefix):
    """The EC2 layer's cluster (cloudburst:cluster tag) of one annex: prefix plus a suffix no other annex has.

    Cluster names hold letters, digits, '-' and '_' but no '.'. A name without '.' is its own suffix, as it
    always was, so annexes launched before keep their cluster. A name with '.' becomes '_' followed by the name
    with each '_' written '__' and each '.' written '_d': no annex name starts with '_', and that escape reads
    back one way only, so two names never share a cluster ('a.b' and 'a_b' both had 'a_b' before).
    """
    check_annex_name(annex_name)
    if "." not in annex_name:
        return f"{prefix}{annex_name}"
    return prefix + "_" + annex_name.replace("_", "__").replace(".", "_d")


def check_annex_name(annex_name):
    if not isinstance(annex_name, str) or not ANNEX_NAME_PATTERN.match(annex_name):
        raise LeaseError(f"annex name {annex_name!r} must be 1 to 27 letters, digits, '.', '-' or '_'")
    return annex_name


def to_datetime(value):
    """An aware UTC datetime from a datetime, epoch seconds (number or digits) or ISO 8601 text."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, bool):
        raise LeaseError(f"not a time: {value!r}")
    elif isinstance(value, (int, float)):
        moment = datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    elif isinstance(value, str) and _EPOCH_PATTERN.match(value.strip()):
        moment = datetime.datetime.fromtimestamp(float(value.strip()), tz=datetime.timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise LeaseError(f"not a time (ISO 8601 or epoch seconds): {value!r}") from None
    else:
        raise LeaseError(f"not a time: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def judging_time(now=None, dry_run=False):
    """The moment to judge leases at: the current time, or the given ``now`` (ISO 8601 or epoch seconds), which
    only a dry run takes: judged at a later moment, a real run would terminate annexes whose leases run on."""
    if now is None or now == "":
        return datetime.datetime.now(datetime.timezone.utc)
    if not dry_run:
        raise LeaseError(f"now ({now!r}) is for planning only: give it in check mode, where nothing is terminated or "
                         "deleted; a real run judges leases at the current time")
    return to_datetime(now)


def format_lease_end(value):
    """The tag's canonical form: ISO 8601 UTC to the second with a Z (2026-11-25T14:05:00Z)."""
    return to_datetime(value).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def tags_of(instance):
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags") or []}


def lease_end(instance):
    """The instance's lease end as a UTC datetime, or None when the tag is missing or unreadable."""
    value = tags_of(instance).get(LEASE_TAG)
    if value is None:
        return None
    try:
        return to_datetime(value)
    except LeaseError:
        return None


def _state(instance):
    return (instance.get("State") or {}).get("Name")


def expired_instances(instances, now):
    """The annex instances (tagged htcondor:AnnexName) in a live state whose lease end has passed at now.

    instances are EC2 instance descriptions (DescribeInstances' shape); now is a datetime or epoch seconds.
    """
    moment = to_datetime(now)
    found = []
    for instance in instances:
        if ANNEX_TAG not in tags_of(instance) or _state(instance) not in LIVE_STATES:
            continue
        end = lease_end(instance)
        if end is not None and end <= moment:
            found.append(instance)
    return found


def describe_annex_instances(ec2, annex_name=None):
    """Every live annex instance (of one annex, or of all), in DescribeInstances' shape."""
    filters = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
    if annex_name is None:
        filters.append({"Name": "tag-key", "Values": [ANNEX_TAG]})
    else:
        filters.append({"Name": f"tag:{ANNEX_TAG}", "Values": [check_annex_name(annex_name)]})
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [instance for page in pages for reservation in page["Reservations"] for instance in reservation["Instances"]]


def list_annex_objects(s3, bucket, annex_name=None):
    """Keys of the annexes' objects: annex name -> [key, ...]."""
    prefix = object_prefix(annex_name) if annex_name else OBJECT_PREFIX
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents") or []:
            name = entry["Key"][len(OBJECT_PREFIX):].split("/", 1)[0]
            if "/" in entry["Key"][len(OBJECT_PREFIX):] and ANNEX_NAME_PATTERN.match(name):
                found.setdefault(name, []).append(entry["Key"])
    return found


def _object_lease_end(s3, bucket, key):
    metadata = s3.head_object(Bucket=bucket, Key=key).get("Metadata") or {}
    try:
        return to_datetime(metadata[LEASE_METADATA])
    except (KeyError, LeaseError):
        return None


def _chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def check_cluster_name(cluster):
    if not isinstance(cluster, str) or not CLUSTER_NAME_PATTERN.match(cluster):
        raise LeaseError(f"cluster name {cluster!r} must be 1 to 63 letters, digits, '-' or '_'")
    return cluster


def _refuse_a_later_moment(moment, dry_run):
    if not dry_run and moment > datetime.datetime.now(datetime.timezone.utc) + _FUTURE_TOLERANCE:
        raise LeaseError(f"refusing to end instances at {format_lease_end(moment)}, a moment still to come: that ends "
                         "annexes and clusters whose leases run on (judge a later moment only with dry_run)")


def reap(ec2, s3, bucket, now, annex_name=None, dry_run=False):
    """Terminate every annex instance whose lease has ended and delete the objects of each ended annex.

    ec2 and s3 are boto3 clients; bucket may be None or empty (then no object is touched); annex_name limits
    the pass to one annex; dry_run decides without changing anything. An annex has ended when it has an
    expired instance and no live instance with a later (or unreadable) lease, or when it has no live
    instance and the lease end recorded on its objects has passed.

    Returns a dict: ``terminated`` (instance ids), ``deleted`` (object keys), ``annexes`` (annex name ->
    the expired instance ids), ``ended`` (names of the annexes whose objects go), ``skipped`` (instances
    without a readable lease end: id and annex), ``dry_run`` and ``now`` (ISO 8601).
    """
    moment = to_datetime(now)
    _refuse_a_later_moment(moment, dry_run)
    if annex_name is not None:
        check_annex_name(annex_name)
    instances = describe_annex_instances(ec2, annex_name)
    expired = expired_instances(instances, moment)
    expired_ids = {i["InstanceId"] for i in expired}
    by_annex, live_annexes, skipped = {}, set(), []
    for instance in instances:
        name = tags_of(instance).get(ANNEX_TAG)
        if instance["InstanceId"] in expired_ids:
            by_annex.setdefault(name, []).append(instance["InstanceId"])
        else:
            live_annexes.add(name)
            if lease_end(instance) is None:
                skipped.append({"instance_id": instance["InstanceId"], "annex_name": name})
    ended = {name for name in by_annex if name not in live_annexes}

    objects = {}
    if bucket:
        for name, keys in list_annex_objects(s3, bucket, annex_name).items():
            if name in live_annexes:
                continue
            if name in ended or any((_object_lease_end(s3, bucket, key) or moment) < moment for key in keys):
                ended.add(name)
                objects[name] = sorted(keys)

    terminated = sorted(expired_ids)
    deleted = sorted(key for name in ended for key in objects.get(name, []))
    if not dry_run:
        for batch in _chunks(terminated, _TERMINATE_BATCH):
            ec2.terminate_instances(InstanceIds=batch)
        for batch in _chunks(deleted, _DELETE_BATCH):
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                raise RuntimeError(f"could not delete {len(errors)} object(s) from {bucket}: {errors[:3]}")
    return {
        "terminated": terminated,
        "deleted": deleted,
        "annexes": {name: sorted(ids) for name, ids in sorted(by_annex.items())},
        "ended": sorted(ended),
        "skipped": skipped,
        "dry_run": bool(dry_run),
        "now": format_lease_end(moment),
    }


STOCK_KEYS = ("AnnexID", "S3BucketName", "LeaseExpiration")


def is_stock_event(event):
    """Whether the event is the stock condor_annex rule's input."""
    return isinstance(event, dict) and "AnnexID" in event


def stock_annex_instances(ec2, annex_id):
    """The live instances of a stock condor_annex annex: tagged htcondor:AnnexName (as condor_annex tags them), with
    a client token of <AnnexID>_<uuid> (condor_annex's generateClientToken)."""
    prefix = check_annex_name(annex_id) + "_"
    return [i for i in describe_annex_instances(ec2) if (i.get("ClientToken") or "").startswith(prefix)]


def end_stock_annex(ec2, s3, events, event, now, bucket=None, dry_run=False):
    """What HTCondor's odi-lease function does with its rule's input, once the lease has passed: delete the config
    tarball, terminate the annex's instances, remove the rule's target and the rule. bucket is the setup's bucket
    (ANNEX_BUCKET); an event that names another is refused. Returns a dict like reap()'s plus ``expired``,
    ``annex_id`` and ``rule`` (removed or not)."""
    # condor_annex -annex-name NAME -duration H (a renewal) puts an empty S3BucketName into the rule: 23.9's PutTargets
    # reads the bucket from the launch's command only. The setup's bucket is the annex's, so it stands in.
    named = event.get("S3BucketName") or None
    missing = [key for key in ("AnnexID", "LeaseExpiration") if event.get(key) in (None, "")]
    if not (named or bucket):
        missing.append("S3BucketName")
    if missing:
        raise LeaseError(f"the stock lease input lacks {', '.join(missing)}")
    annex_id = check_annex_name(event["AnnexID"])
    lease = to_datetime(event["LeaseExpiration"])
    moment = to_datetime(now)
    if bucket and named and named != bucket:
        raise LeaseError(f"the stock lease input names bucket {named!r}, not the setup's {bucket!r}")
    result = {"annex_id": annex_id, "lease_end": format_lease_end(lease), "now": format_lease_end(moment),
              "expired": moment > lease, "terminated": [], "deleted": [], "rule": None, "dry_run": bool(dry_run)}
    if not result["expired"]:
        return result
    key = f"{OBJECT_PREFIX}{annex_id}.tar.gz"
    ids = sorted(i["InstanceId"] for i in stock_annex_instances(ec2, annex_id))
    result.update(terminated=ids, deleted=[key], rule=annex_id)
    if dry_run:
        return result
    s3.delete_object(Bucket=named or bucket, Key=key)
    for batch in _chunks(ids, _TERMINATE_BATCH):
        ec2.terminate_instances(InstanceIds=batch)
    answer = events.remove_targets(Rule=annex_id, Ids=[annex_id])
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"could not remove the target of rule {annex_id}: {answer.get('FailedEntries')}")
    events.delete_rule(Name=annex_id)
    return result


def reap_clusters(ec2, now, cluster=None, dry_run=False):
    """Terminate or stop the instances of every leased EC2 cluster (or of one) whose lease end has passed.

    An instance counts when it carries cloudburst:cluster, managed-by=cloudburst.aws and cloudburst:lease-end, is not
    an annex instance (reap() ends those), and is in a live state; its cloudburst:lease-action says terminate or stop.
    An instance whose lease end or action cannot be read is never touched: it is listed in ``skipped``. A stop
    leaves instances already stopping or stopped alone.

    Returns a dict: ``terminated`` and ``stopped`` (instance ids), ``clusters`` (cluster name -> the ended instance
    ids), ``skipped`` (instance_id, cluster), ``dry_run`` and ``now`` (ISO 8601).
    """
    moment = to_datetime(now)
    _refuse_a_later_moment(moment, dry_run)
    # One tag-key filter only (the lease's); the cluster tag is checked below, as every tag the decision rests on.
    filters = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)},
               {"Name": f"tag:{MANAGED_TAG[0]}", "Values": [MANAGED_TAG[1]]},
               {"Name": "tag-key", "Values": [LEASE_TAG]}]
    if cluster is not None:
        filters.append({"Name": f"tag:{CLUSTER_TAG}", "Values": [check_cluster_name(cluster)]})
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    instances = [i for page in pages for reservation in page["Reservations"] for i in reservation["Instances"]]
    ended = {"terminate": [], "stop": []}
    clusters, skipped = {}, []
    for instance in instances:
        tags = tags_of(instance)
        if (ANNEX_TAG in tags or CLUSTER_TAG not in tags or LEASE_TAG not in tags
                or tags.get(MANAGED_TAG[0]) != MANAGED_TAG[1]):
            continue
        end, action = lease_end(instance), tags.get(LEASE_ACTION_TAG)
        if end is None or action not in LEASE_ACTIONS:
            skipped.append({"instance_id": instance["InstanceId"], "cluster": tags[CLUSTER_TAG]})
            continue
        if end > moment or (action == "stop" and _state(instance) not in ("pending", "running")):
            continue
        ended[action].append(instance["InstanceId"])
        clusters.setdefault(tags[CLUSTER_TAG], []).append(instance["InstanceId"])
    terminated, stopped = sorted(ended["terminate"]), sorted(ended["stop"])
    if not dry_run:
        for batch in _chunks(terminated, _TERMINATE_BATCH):
            ec2.terminate_instances(InstanceIds=batch)
        for batch in _chunks(stopped, _TERMINATE_BATCH):
            ec2.stop_instances(InstanceIds=batch)
    return {
        "terminated": terminated,
        "stopped": stopped,
        "clusters": {name: sorted(ids) for name, ids in sorted(clusters.items())},
        "skipped": skipped,
        "dry_run": bool(dry_run),
        "now": format_lease_end(moment),
    }


def handler(event, context):  # pylint: disable=unused-argument
    """Lambda entry point. The schedule's input: {"bucket": ..., "annex_name": ... (optional, all annexes
    when absent), "dry_run": false}; the bucket may also come from the environment variable ANNEX_BUCKET. The stock
    condor_annex rule's input {"AnnexID", "S3BucketName", "LeaseExpiration"} ends that annex (end_stock_annex). A
    leased EC2 cluster's schedule gives {"cluster": NAME} instead (spark_ec2_lease_function): reap_clusters."""
    import boto3  # only here: the pure logic above needs no AWS library

    event = event or {}
    now = datetime.datetime.now(datetime.timezone.utc)
    logger = logging.getLogger("annex_lease")
    logger.setLevel(logging.INFO)
    if event.get("cluster"):
        result = reap_clusters(boto3.client("ec2"), now, cluster=event["cluster"], dry_run=bool(event.get("dry_run")))
        logger.info("cluster lease: %s", result)  # to CloudWatch Logs, through Lambda's log handler
        return result
    if is_stock_event(event):
        if os.environ.get("ANNEX_LEASE_KIND", "odi") != "odi":
            raise LeaseError("spot fleet annexes of the stock condor_annex (-slots) are not ended by this function")
        result = end_stock_annex(boto3.client("ec2"), boto3.client("s3"), boto3.client("events"), event, now,
                                 bucket=os.environ.get("ANNEX_BUCKET") or None, dry_run=bool(event.get("dry_run")))
        logger.info("stock annex lease: %s", result)
        return result
    bucket = event.get("bucket") or os.environ.get("ANNEX_BUCKET") or None
    annex_name = event.get("annex_name") or None
    dry_run = bool(event.get("dry_run", False))
    result = reap(boto3.client("ec2"), boto3.client("s3"), bucket, now, annex_name=annex_name, dry_run=dry_run)
    logger.info("annex lease: %s", result)  # to CloudWatch Logs, through Lambda's log handler
    return result
