# -*- coding: utf-8 -*-
"""The local cloud: every EC2 instance on a local (moto) endpoint becomes a real systemd host.

One reconcile pass makes the podman containers on this machine mirror the endpoint's instances:

- every pending or running instance with the managed tag gets a container of the trixie image, named after
  the instance id, on a podman network with its subnet's CIDR and at its private IP; its key pair lets the
  user admin in (as on Debian's AMIs) and its user data runs once after the first boot, as cloud-init would;
- a container whose instance is stopped is stopped and kept (EC2 keeps a stopped instance's disk); when the
  instance runs again the same container starts again, with its address and files;
- a container whose instance is terminated or gone is removed;
- a container that powered itself off while its instance runs gets the instance's
  InstanceInitiatedShutdownBehavior applied on the endpoint (terminate or stop), as EC2 would.

A LocalCloud given `clusters` mirrors only instances whose cloudburst:cluster tag is one of them, and sees
only its own containers (label cloudburst_cluster), so test modules sharing one moto leave each other alone;
without it (tools/local-cloud's default) every managed instance of the endpoint is mirrored. `stock_annexes` adds
the instances of annexes that the stock condor_annex launched (tagged htcondor:AnnexName only, without the
collection's tags), under the cluster label htcondor-annex:NAME.

Security groups filter the containers' traffic (tests/rig/sgfilter.py): a second thread loads each running container's
groups, as moto holds them now, into its network namespace as nftables rules.

Containers are created and removed only through the collection's one container creator, the
rig's local_hosts role (tests/roles/local_hosts, run by tests/local_hosts.yml). The inventory written after each pass names
hosts by instance id and reaches them with the podman connection; against real EC2 only those connection
variables differ. Used by `tools/local-cloud` and by the `local_cloud` pytest fixture (tests/conftest.py).
It refuses any endpoint but 127.0.0.1: its power-off rule terminates instances.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from rig import REPO_ROOT, sgfilter

LOCAL_HOSTS_PLAYBOOK = os.path.join(REPO_ROOT, "tests", "local_hosts.yml")
# ansible-playbook of the project's venv, whichever Python runs this file.
VENV_BINS = [os.path.join(REPO_ROOT, ".venv", "bin"), os.path.dirname(os.path.abspath(sys.executable))]

# The tag that marks instances the local cloud mirrors: what roles/ec2_instances/vars/main.yml tags them with.
DEFAULT_TAG_KEY = "managed-by"
DEFAULT_TAG_VALUE = "cloudburst.aws"
# The tag that names an instance's cluster (as the ec2_instances role tags it), and the container label that
# carries it, so a LocalCloud scoped to some clusters sees only their containers.
CLUSTER_TAG = "cloudburst:cluster"
CLUSTER_LABEL = "cloudburst_cluster"
# The tag the stock condor_annex puts on its instances, and the cluster label their containers carry.
ANNEX_TAG = "htcondor:AnnexName"
STOCK_ANNEX_PREFIX = "htcondor-annex:"
# Label of every container the local cloud owns; a second label names the endpoint it mirrors.
OWNER_LABEL = "cloudburst-local-cloud"
LIVE_STATES = ("pending", "running")
# An instance in these states keeps its container, stopped.
STOPPED_STATES = ("stopping", "stopped")
# Written into a container that the local cloud stopped because its instance stopped; a container with it
# that is found powered off while its instance runs was started again by EC2, not powered off by itself.
STOPPED_MARKER = "/var/lib/cloudburst-stopped-by-ec2"
# Seconds podman gives systemd to shut a container down cleanly.
STOP_TIMEOUT = 30
# Podman states of a container whose init has ended (podman says stopped for a moment, then exited), and
# of one that never started; others (running, stopping, paused) are left alone.
POWERED_OFF_STATES = ("stopped", "exited")
NEVER_STARTED_STATES = ("created", "configured", "initialized")
LOCAL_ENDPOINT_HOSTS = ("127.0.0.1", "localhost", "::1")
# Host variables of every mirrored instance; with real EC2 these become ssh, ansible_host and the key.
CONNECTION_VARS = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}


class LocalCloudError(Exception):
    pass


# --- The one container creator -------------------------------------------------------------------------

def local_hosts(hosts, state="present", labels=None, timeout=900):
    """Create (state present) or remove (absent) containers with the rig's local_hosts role (tests/roles/local_hosts).

    hosts are the role's local_hosts_list entries (name plus per-host options). Raises LocalCloudError
    with the play's output when the role fails.
    """
    if not hosts:
        return None
    extra = {"local_hosts_list": hosts, "local_hosts_state": state, "local_hosts_add_to_inventory": False}
    if labels:
        extra["local_hosts_labels"] = labels
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=os.pathsep.join(VENV_BINS + [os.environ.get("PATH", "")]))
    with tempfile.NamedTemporaryFile("w", prefix="local-hosts-", suffix=".json") as stream:
        json.dump(extra, stream)  # user data and keys stay off the command line
        stream.flush()
        proc = subprocess.run(["ansible-playbook", LOCAL_HOSTS_PLAYBOOK, "-e", f"@{stream.name}"], env=env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise LocalCloudError(f"local_hosts ({state}) failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc


# --- Reading both sides ------------------------------------------------------------------------------------

def check_local_endpoint(endpoint_url):
    host = urllib.parse.urlsplit(endpoint_url or "").hostname
    if host not in LOCAL_ENDPOINT_HOSTS:
        raise LocalCloudError(f"the local cloud mirrors only a local endpoint (127.0.0.1), not {endpoint_url!r}")


def ec2_client(endpoint_url, region, access_key, secret_key):
    import boto3

    check_local_endpoint(endpoint_url)
    return boto3.client("ec2", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key)


def _describe(ec2, filters):
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return {instance["InstanceId"]: instance
            for page in pages for reservation in page["Reservations"] for instance in reservation["Instances"]}


def managed_instances(ec2, tag_key, tag_value, clusters=None, stock_annexes=()):
    """Every instance with the managed tag (and, given clusters, one of their cluster tags), and every instance of
    the stock condor_annex annexes named in stock_annexes, in any state, by instance id."""
    filters = [{"Name": f"tag:{tag_key}", "Values": [tag_value]}]
    if clusters is not None:
        filters.append({"Name": f"tag:{CLUSTER_TAG}", "Values": sorted(clusters)})
    found = _describe(ec2, filters)
    if stock_annexes:
        found.update(_describe(ec2, [{"Name": f"tag:{ANNEX_TAG}", "Values": sorted(stock_annexes)}]))
    return found


def cluster_label(instance):
    """The cluster label of an instance's container: its cloudburst:cluster tag, or for an instance that the stock
    condor_annex launched (no collection tags), htcondor-annex:NAME."""
    tags = instance_tags(instance)
    if CLUSTER_TAG in tags:
        return tags[CLUSTER_TAG]
    return STOCK_ANNEX_PREFIX + tags[ANNEX_TAG] if ANNEX_TAG in tags else ""


def containers(endpoint_url, clusters=None):
    """The local cloud's containers for this endpoint (given cluster labels, only theirs): name -> podman state
    (running, exited, ...)."""
    return {name: state for name, (state, _pid, label) in container_details(endpoint_url).items()
            if clusters is None or label in clusters}


def container_details(endpoint_url):
    """The local cloud's containers for this endpoint: name -> (podman state, pid, cluster label)."""
    proc = subprocess.run(["podman", "ps", "-a", "--format", "json", "--filter", f"label=owner={OWNER_LABEL}",
                           "--filter", f"label=cloudburst_endpoint={endpoint_url}"],
                          capture_output=True, text=True, check=True)
    return {entry["Names"][0]: (entry["State"], entry.get("Pid"), (entry.get("Labels") or {}).get(CLUSTER_LABEL))
            for entry in json.loads(proc.stdout or "[]")}


def stopped_by_ec2(name):
    """Whether the local cloud stopped this container because its instance stopped (the marker is in it)."""
    proc = subprocess.run(["podman", "cp", f"{name}:{STOPPED_MARKER}", "-"], capture_output=True, check=False)
    return proc.returncode == 0


def mark_stopped(name):
    """Leave the marker in a container (running or not) whose instance stops."""
    with tempfile.NamedTemporaryFile("w", prefix="stopped-by-ec2-") as stream:
        stream.write("stopped by its EC2 instance; the local cloud starts it again when the instance runs\n")
        stream.flush()
        subprocess.run(["podman", "cp", stream.name, f"{name}:{STOPPED_MARKER}"], capture_output=True, text=True,
                       check=True)


def stop_container(name):
    """Stop (not remove) a container whose instance stopped: its disk stays, as a stopped instance's does."""
    mark_stopped(name)
    subprocess.run(["podman", "stop", "-t", str(STOP_TIMEOUT), name], capture_output=True, text=True, check=True)


def unmark_stopped(name):
    subprocess.run(["podman", "exec", name, "rm", "-f", STOPPED_MARKER], capture_output=True, text=True, check=True)


def instance_attribute(ec2, instance_id, attribute, key):
    answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=attribute)
    return (answer.get(key) or {}).get("Value")


def user_data(ec2, instance_id):
    """The instance's user data as text, or None."""
    encoded = instance_attribute(ec2, instance_id, "userData", "UserData")
    return base64.b64decode(encoded).decode("utf-8", "replace") if encoded else None


def public_key(ec2, key_name):
    if not key_name:
        return None
    pairs = ec2.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True)["KeyPairs"]
    return pairs[0].get("PublicKey") if pairs else None


def instance_tags(instance):
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def network_name(cidr):
    """One podman network per subnet CIDR, named after it (cloudburst-10.42.1.0-24)."""
    return "cloudburst-" + cidr.replace("/", "-").replace(":", "_")


def host_spec(ec2, instance, subnet_cidr, endpoint_url):
    """The local_hosts entry that mirrors one instance."""
    short_dns = (instance.get("PrivateDnsName") or "").split(".")[0]
    spec = {
        "name": instance["InstanceId"],
        "hostname": short_dns or instance["InstanceId"],
        "network": network_name(subnet_cidr),
        "subnet": subnet_cidr,
        "ip": instance["PrivateIpAddress"],
        "labels": {"owner": OWNER_LABEL, "cloudburst_endpoint": endpoint_url, CLUSTER_LABEL: cluster_label(instance)},
    }
    if short_dns:
        spec["aliases"] = [short_dns]
    data = user_data(ec2, instance["InstanceId"])
    if data:
        spec["user_data"] = data
    key = public_key(ec2, instance.get("KeyName"))
    if key:
        spec["authorized_keys"] = key.strip() + "\n"
    return spec


def subnet_cidrs(ec2, instances):
    ids = sorted({i["SubnetId"] for i in instances if i.get("SubnetId")})
    if not ids:
        return {}
    return {s["SubnetId"]: s["CidrBlock"] for s in ec2.describe_subnets(SubnetIds=ids)["Subnets"]}


# --- Deciding --------------------------------------------------------------------------------------------

@dataclass
class Plan:
    create: list = field(default_factory=list)      # instance ids that need a container
    remove: list = field(default_factory=list)      # container names to remove
    powered_off: list = field(default_factory=list)  # instance ids whose container stopped by itself
    stop: list = field(default_factory=list)        # containers to stop (and keep): their instance stopped
    start: list = field(default_factory=list)       # stopped containers to start again: their instance runs


def plan(instances, present, marked=()):
    """Compare instances (id -> description) with containers (name -> podman state); marked names the
    powered-off containers that the local cloud stopped because their instance stopped."""
    result = Plan()
    states = {i: inst["State"]["Name"] for i, inst in instances.items()}
    live = {i for i, state in states.items() if state in LIVE_STATES}
    stopped = {i for i, state in states.items() if state in STOPPED_STATES}
    for instance_id in sorted(live):
        state = present.get(instance_id)
        if state is None:
            result.create.append(instance_id)
        elif state in POWERED_OFF_STATES:
            (result.start if instance_id in marked else result.powered_off).append(instance_id)
        elif state in NEVER_STARTED_STATES:
            result.remove.append(instance_id)  # make it anew next pass
    result.stop.extend(sorted(i for i in stopped if present.get(i) not in (None, *POWERED_OFF_STATES)))
    result.remove.extend(sorted(name for name in present if name not in live | stopped))
    return result


def apply_shutdown_behaviour(ec2, instance_id):
    """What EC2 does when an instance powers itself off: its InstanceInitiatedShutdownBehavior."""
    behaviour = instance_attribute(ec2, instance_id, "instanceInitiatedShutdownBehavior",
                                   "InstanceInitiatedShutdownBehavior") or "stop"
    if behaviour == "terminate":
        ec2.terminate_instances(InstanceIds=[instance_id])
    else:
        ec2.stop_instances(InstanceIds=[instance_id])
    return behaviour


# --- The inventory ---------------------------------------------------------------------------------------

def group_name(value):
    return re.sub(r"[^A-Za-z0-9_]", "_", value)


def inventory(instances, running, group_tags=()):
    """An Ansible inventory of the mirrored instances: hosts named by instance id, podman connection,
    groups named after the values of group_tags (like keyed_groups of amazon.aws.aws_ec2)."""
    hosts, children = {}, {}
    for instance_id in sorted(running):
        instance = instances[instance_id]
        tags = instance_tags(instance)
        hosts[instance_id] = dict(CONNECTION_VARS, private_ip_address=instance.get("PrivateIpAddress"),
                                  instance_tags=tags)
        for key in group_tags:
            if key in tags:
                children.setdefault(group_name(tags[key]), {"hosts": {}})["hosts"][instance_id] = {}
    return {"all": {"hosts": hosts, "children": children}}


def write_json_atomically(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w") as stream:
        json.dump(data, stream, indent=1)
    os.replace(temporary, path)


# --- The reconciler --------------------------------------------------------------------------------------

class LocalCloud:
    """Mirrors the managed instances of one local EC2 endpoint as podman containers."""

    def __init__(self, endpoint_url, region, access_key, secret_key, tag_key=DEFAULT_TAG_KEY,
                 tag_value=DEFAULT_TAG_VALUE, inventory_path=None, group_tags=(), log=None, clusters=None,
                 stock_annexes=(), filtering=True):
        """clusters: mirror only instances tagged cloudburst:cluster with one of these (None: every one);
        stock_annexes: also the instances of these stock condor_annex annexes; filtering: security groups filter
        the containers' traffic (the filter thread of start())."""
        check_local_endpoint(endpoint_url)
        self.endpoint_url = endpoint_url
        self.clusters = None if clusters is None else frozenset(clusters)
        self.stock_annexes = frozenset(stock_annexes)
        # The container labels this local cloud sees (None: every container of the endpoint).
        self.cluster_labels = None if clusters is None else (
            self.clusters | {STOCK_ANNEX_PREFIX + name for name in self.stock_annexes})
        self.ec2 = ec2_client(endpoint_url, region, access_key, secret_key)
        self.tag_key, self.tag_value = tag_key, tag_value
        self.inventory_path = inventory_path
        self.group_tags = tuple(group_tags)
        self.log = log or (lambda message: print(f"local-cloud: {message}", file=sys.stderr, flush=True))
        self.errors = []
        self.filter = sgfilter.Filter(self.ec2, self.log) if filtering else None
        self.filter_cost = {"passes": 0, "seconds": 0.0, "loads": 0}  # what filtering costs this machine
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    @classmethod
    def from_environment(cls, env=None, **kwargs):
        """Settings as tools/local-aws exports them (CLOUDBURST_AWS_ENDPOINT_URL, AWS_*)."""
        env = os.environ if env is None else env
        endpoint = env.get("CLOUDBURST_AWS_ENDPOINT_URL")
        if not endpoint:
            raise LocalCloudError("CLOUDBURST_AWS_ENDPOINT_URL is not set: run under tools/local-aws")
        return cls(endpoint, env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                   env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY"), **kwargs)

    @property
    def labels(self):
        return {"owner": OWNER_LABEL, "cloudburst_endpoint": self.endpoint_url}

    def reconcile(self):
        """One pass; returns the Plan it carried out."""
        with self._lock:
            instances = self.instances()
            present = containers(self.endpoint_url, self.cluster_labels)
            marked = {name for name, state in present.items() if state in POWERED_OFF_STATES
                      and instances.get(name, {}).get("State", {}).get("Name") in LIVE_STATES and stopped_by_ec2(name)}
            todo = plan(instances, present, marked)
            for instance_id in todo.powered_off:
                behaviour = apply_shutdown_behaviour(self.ec2, instance_id)
                self.log(f"{instance_id} powered off: applied its shutdown behaviour {behaviour}")
                if behaviour == "terminate":
                    todo.remove.append(instance_id)
                else:
                    mark_stopped(instance_id)  # stopped as EC2 stops it: the container and its disk stay
            for name in todo.stop:
                stop_container(name)
                self.log(f"stopped {name} (its instance stopped; the container is kept)")
            if todo.remove:
                local_hosts([{"name": name} for name in todo.remove], state="absent")
                self.log(f"removed {' '.join(todo.remove)}")
            if todo.create or todo.start:
                wanted = todo.create + todo.start
                cidrs = subnet_cidrs(self.ec2, [instances[i] for i in wanted])
                specs = [host_spec(self.ec2, instances[i], cidrs[instances[i]["SubnetId"]], self.endpoint_url)
                         for i in wanted if instances[i].get("SubnetId") in cidrs]
                local_hosts(specs, state="present", labels=self.labels)  # a stopped one starts as it was
                for name in todo.start:
                    unmark_stopped(name)
                self.log("started " + " ".join(f"{s['name']} ({s['ip']})" for s in specs))
            if self.inventory_path:
                running = {name for name, state in containers(self.endpoint_url, self.cluster_labels).items()
                           if state == "running"}
                write_json_atomically(self.inventory_path,
                                      inventory(instances, running & set(instances), self.group_tags))
            return todo

    def clean(self):
        """Remove every container this local cloud made (of its clusters; its instances stay as they are)."""
        with self._lock:
            names = sorted(containers(self.endpoint_url, self.cluster_labels))
            local_hosts([{"name": name} for name in names], state="absent")
            return names

    def instances(self):
        return managed_instances(self.ec2, self.tag_key, self.tag_value, self.clusters, self.stock_annexes)

    def filter_pass(self):
        """Load every running container's security groups as moto holds them now; returns the names loaded."""
        started = time.monotonic()
        try:
            running = {name: pid for name, (state, pid, label) in container_details(self.endpoint_url).items()
                       if state == "running" and (self.cluster_labels is None or label in self.cluster_labels)}
            if not running:
                return []
            instances = {i: inst for i, inst in self.instances().items() if inst["State"]["Name"] in LIVE_STATES}
            done = self.filter.sync(instances, subnet_cidrs(self.ec2, list(instances.values())), running)
            if done:
                self.log("security groups loaded into " + " ".join(done))
            self.filter_cost["loads"] += len(done)
            return done
        finally:
            self.filter_cost["passes"] += 1
            self.filter_cost["seconds"] += time.monotonic() - started

    def _loop(self, work, interval):
        """Run work until stop(); a failed pass is logged and kept in errors, and the loop goes on."""
        while not self._stop.is_set():
            try:
                work()
            except Exception as error:  # noqa: BLE001 (the loop must outlive one bad pass)
                if not self.errors or str(self.errors[-1]) != str(error):
                    self.log(f"{work.__name__} failed: {error}")  # once per distinct error, not every pass
                self.errors.append(error)
            self._stop.wait(interval)

    def run_forever(self, interval=2.0):
        """Reconcile until stop() (and, with filtering, keep the filter in step in a thread)."""
        self.start_filter(interval)
        self._loop(self.reconcile, interval)

    def start_filter(self, interval=2.0):
        """The filter's own thread: a reconcile pass may wait minutes for containers to boot, and a container's
        rules are wanted within seconds of its start and of every change in moto."""
        if self.filter is not None:
            self._start_thread(self.filter_pass, interval, "local-cloud-filter")
        return self

    def _start_thread(self, work, interval, name):
        thread = threading.Thread(target=self._loop, args=(work, interval), daemon=True, name=name)
        thread.start()
        self._threads.append(thread)

    def start(self, interval=2.0):
        self._stop.clear()
        self._start_thread(self.reconcile, interval, "local-cloud")
        return self.start_filter(interval)

    def stop(self, timeout=900):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []


# --- Proving exposure by connecting ----------------------------------------------------------------------

STRANGER_OWNER = "cloudburst-local-hosts"
# Connects to every (address, port) at once and prints, for each, open (connected), refused (a reset: the packet
# reached the host, where nothing listens) or filtered (no answer within the timeout: dropped on the way).
PROBE_SCRIPT = r"""
import concurrent.futures, errno, json, socket, sys
targets, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
def probe(target):
    try:
        socket.create_connection((target[0], target[1]), timeout=timeout).close()
        return "open"
    except socket.timeout:
        return "filtered"
    except OSError as error:
        return "refused" if error.errno == errno.ECONNREFUSED else "error: %s" % error
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    print(json.dumps(list(pool.map(probe, targets))))
"""


def probe(targets, container=None, timeout=2.0):
    """TCP-connect to every (address, port) from this machine (the podman networks' gateway: the controller) or
    from inside a container; returns {(address, port): "open" | "refused" | "filtered" | "error: ..."}."""
    targets = [(str(address), int(port)) for address, port in targets]
    argv = [sys.executable, "-c", PROBE_SCRIPT] if container is None else [
        "podman", "exec", container, "python3", "-c", PROBE_SCRIPT]
    proc = subprocess.run(argv + [json.dumps(targets), str(timeout)], capture_output=True, text=True, check=True,
                          timeout=timeout * len(targets) + 60)
    return dict(zip(targets, json.loads(proc.stdout)))


def stranger_spec(cidr):
    """A container on the local cloud's network for cidr at an address outside every allow-list (the subnet's last
    usable address: moto hands out a subnet's addresses from the bottom), made with the rig's container creator but
    not by the local cloud, which therefore never sees or removes it."""
    net = ipaddress.ip_network(cidr)
    return {"name": "cloudburst-stranger-" + network_name(cidr)[len("cloudburst-"):], "hostname": "stranger",
            "network": network_name(cidr), "subnet": cidr, "ip": str(net[-2]),
            "labels": {"owner": STRANGER_OWNER, "cloudburst_stranger": cidr}}


def stranger(cidr, state="present"):
    """Start (or, state absent, remove) the stranger of cidr's network; returns its spec (name, ip)."""
    spec = stranger_spec(cidr)
    local_hosts([spec], state=state)
    return spec


def wait_until(predicate, timeout, interval=0.5, message="condition"):
    """Poll predicate until it returns something true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout} s")
        time.sleep(interval)
