# -*- coding: utf-8 -*-
"""Fixtures shared by every test: the moto server, the checkip answerer and ways to run Ansible."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

# The rig (tests/rig), the gates' helpers (tests/gates) and the collection as Ansible imports it
# (ansible_collections.cloudburst.aws.*, through .build/collections) are on the path by pytest.ini's pythonpath.
import rig

REPO_ROOT = rig.REPO_ROOT
COLLECTIONS_PATH = os.path.join(REPO_ROOT, ".build", "collections")
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))


# `make test` runs the suite on two pytest-xdist workers, one test file at a time each (--dist loadfile); the run
# keeps both cores busy (three workers measured 96% busy and took longer). Files start longest first, so the long
# ones overlap instead of ending the run one after another; the rest keep their order. Names are file basenames.
# Keep the list in step with the slowest files every run prints: a long file left out starts late and ends the run alone.
LONGEST_FIRST = [  # seconds each took in a fresh-clone run on a quiet 2-core machine (2026-12-07)
    "test_demo.py",                # 820: make demo, then the Spark cluster's whole life on the local cloud
    "test_spark_ec2.py",           # 564: the role's cloud side on moto, input checks
    "test_annex_lifecycle.py",     # 490: seed 000 and the annex's life on the local cloud
    "test_molecule_htcondor.py",   # 450
    "test_molecule_spark.py",      # 422
    "test_annex_setup.py",         # 396
    "test_annex_input.py",         # 444 on three busy workers (2026-12-08)
    "test_spark_ec2_lease.py",     # 252
    "test_ec2_ssh.py",             # 228
    "test_iam_user.py",            # 219
    "test_support_matrix.py",      # 196
    "test_ec2_instances.py",       # 187
    "test_sanity.py",
    "test_local_cloud.py",
    "test_iam_access_key_faults.py",
    "test_ec2_lifecycle.py",
    "test_bad_input_matrix.py",
    "test_lint.py",
    "test_molecule_small.py",
    "test_docs_site.py",
]


def pytest_collection_modifyitems(config, items):
    """Under xdist, start the longest files first (see LONGEST_FIRST); a serial run keeps the usual order. The workers
    collect, and the controller schedules files in the order they report; xdist sets a worker's own option dist to
    "no", so a worker is told by its workerinput (checking the option made the ordering a no-op in every run)."""
    if not hasattr(config, "workerinput"):
        return
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.path)), len(rank)))  # stable for the rest


# Seconds each test file took (setup, call and teardown of its tests, on whichever worker ran it), for the slowest
# files printed at the end of every run, so that drift in the suite's budget is seen when it starts.
FILE_SECONDS = collections.Counter()
SLOWEST_SHOWN = 10


def count_file_seconds(report):
    FILE_SECONDS[report.nodeid.split("::")[0]] += report.duration


def print_slowest_files(terminalreporter):
    if not FILE_SECONDS:
        return
    terminalreporter.section(f"slowest {SLOWEST_SHOWN} test files (seconds, all phases)")
    for path, seconds in FILE_SECONDS.most_common(SLOWEST_SHOWN):
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
    terminalreporter.write_line(f"{sum(FILE_SECONDS.values()):8.1f}  all {len(FILE_SECONDS)} files")
    busy = machine_cpu_busy()
    if busy is not None:
        # How much of the machine the run used: far below 100% means the tests mostly waited.
        terminalreporter.write_line(f"machine CPU busy {busy[0]:.0%} of {busy[1]} cores over {busy[2]:.0f} s")


def cpu_times():
    """(busy, total) clock ticks of every core since boot, from /proc/stat (None where there is none)."""
    try:
        with open("/proc/stat") as stream:
            fields = [int(field) for field in stream.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return sum(fields) - idle, sum(fields)


CPU_AT_START = cpu_times()
WALL_AT_START = time.monotonic()


def machine_cpu_busy():
    """(fraction busy, cores, seconds) of the whole machine since this process imported conftest."""
    now = cpu_times()
    if CPU_AT_START is None or now is None or now[1] == CPU_AT_START[1]:
        return None
    return ((now[0] - CPU_AT_START[0]) / (now[1] - CPU_AT_START[1]), os.cpu_count(),
            time.monotonic() - WALL_AT_START)


@dataclass
class Completed:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self):
        return self.stdout + self.stderr


def run(argv, env=None, cwd=REPO_ROOT, timeout=600, check=False):
    """Run a command, returning rc and output; with check, fail the test and show the output's tail."""
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    result = Completed(proc.returncode, proc.stdout, proc.stderr)
    if check and result.rc != 0:
        pytest.fail(f"{' '.join(argv)} exited {result.rc}:\n{result.output[-6000:]}", pytrace=False)
    return result


def ansible_env(extra=None, aws=None):
    """Environment for ansible commands: our ansible.cfg, the venv first on PATH, no stray AWS settings."""
    env = rig.clean_aws_environment(dict(os.environ))
    env.update(
        ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"),
        PATH=os.pathsep.join([VENV_BIN] + [p for p in env.get("PATH", "").split(os.pathsep) if p != VENV_BIN]),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PY_COLORS="0",
    )
    env.update(aws or {})
    env.update(extra or {})
    return env


def run_playbook(tmp_path, plays, env, extra_args=(), name="play.yml"):
    """Write plays (a list of dicts) as a playbook and run it with the JSON callback.

    Returns (Completed, parsed JSON output or None).
    """
    playbook = tmp_path / name
    playbook.write_text(json.dumps(plays, indent=1))
    env = dict(env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    result = run(["ansible-playbook", str(playbook), *extra_args], env=env)
    try:
        parsed = json.loads(result.stdout)
    except ValueError:
        parsed = None
    return result, parsed


def task_results(parsed, host="localhost"):
    """The per-task results of host, in order, from the JSON callback's output."""
    return [task["hosts"][host] for play in parsed["plays"] for task in play["tasks"] if host in task["hosts"]]


def aws_play(tasks, endpoint_url, **play):
    """One play on localhost whose AWS modules all go to endpoint_url through the action group."""
    return [dict({
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/cloudburst.aws.aws": {"endpoint_url": endpoint_url, "region": rig.DEFAULT_REGION}},
        "tasks": tasks,
    }, **play)]


class TaskResults(list):
    """The tasks' results in order; .completed is the ansible-playbook run."""

    completed = None


def run_aws_tasks(tmp_path, moto, tasks, extra_args=(), env=None):
    """Run tasks against moto and return their results (a TaskResults)."""
    result, parsed = run_playbook(tmp_path, aws_play(tasks, moto.url), env or ansible_env(aws=moto.env), extra_args)
    assert parsed is not None, result.output[-4000:]
    results = TaskResults(task_results(parsed))
    results.completed = result
    return results


def run_aws_refusals(tmp_path, moto, tasks):
    """Run tasks that must each be refused in one run against moto (ignore_errors, so each is tried): fails the test
    unless every task failed without a traceback; returns their results (a TaskResults)."""
    results = run_aws_tasks(tmp_path, moto, [dict(task, ignore_errors=True) for task in tasks])
    for task, result in zip(tasks, results):
        assert result.get("failed") is True, (task, result)
        assert "Traceback" not in result.get("module_stderr", "") + result.get("exception", ""), (task, result)
    return results


WRITE_PREFIXES = ("Create", "Put", "Attach", "Detach", "Delete", "Update", "Tag", "Untag", "Add", "Remove",
                  "Deactivate", "Enable", "Upload", "Set")


def write_calls(actions):
    """The calls among actions that change something in AWS."""
    return [a for a in actions if a.split(":", 1)[-1].startswith(WRITE_PREFIXES)]


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A real moto server on 127.0.0.1 for the whole session, with the rig's generated credentials, behind the
    authorizing front (tests/rig/authfront.py): `url` is the front, which every test and module uses as its endpoint,
    `moto_url` moto itself, `front` the AuthFront (source_ip and flow are reset before each test). Requests
    signed with any key but the rig's administrator's are authorized by their IAM policies, as AWS would."""
    from rig import authfront
    from rig.awsfront import AwsFront
    from rig.lambdarun import LambdaRunner

    workdir = tmp_path_factory.mktemp("moto")
    server = rig.MotoServer(log_path=str(workdir / "moto.log"), recording_path=str(workdir / "recording.jsonl")).start()
    server.credentials = rig.bootstrap_credentials(server.url)
    server.moto_url = server.url
    # The front reads policies and tags with a key of its own, which moto's recording leaves out for the tests.
    looker = rig.bootstrap_credentials(server.url, user_name=rig.RIG_FRONT_USER)
    server.unrecorded_keys.add(looker["aws_access_key_id"])
    # Between them the answering front (tests/rig/awsfront.py): what AWS answers where moto does not.
    lambdas = LambdaRunner(server.moto_url, rig.DEFAULT_REGION, server.credentials)
    server.answers = AwsFront(server.moto_url, server.credentials, lambdas=lambdas).start()
    lambdas.endpoint_url = server.answers.url  # the functions' own calls (their role is not evaluated: a gap)
    server.front = authfront.AuthFront(server.answers.url, looker, lookup_url=server.moto_url, administrators=[
        rig.BOOTSTRAP_KEY_ID, server.credentials["aws_access_key_id"]]).start()
    server.url = server.front.url
    server.env = rig.aws_environment(server.url, server.credentials)
    yield server
    server.front.stop()
    server.answers.stop()
    server.stop()


@pytest.fixture(scope="session")
def aws_front(moto_server):
    """The rig's answering front (tests/rig/awsfront.py) between the authorizing front and moto: it answers as AWS does
    where moto does not (StopInstances on a one-time spot instance, Invoke running the function's code).
    aws_front.lambdas runs functions (their boto3 goes to this front). Clients use moto_server.url, through both."""
    return moto_server.answers


@pytest.fixture(scope="module")
def cloud_schedules(request, aws_front):
    """Schedules fire (tests/rig/schedules.py) in the module's LOCAL_CLOUD_REGION (default the rig's): due EventBridge
    rules and Scheduler schedules run their Lambda targets' code, checked every 2 s in a thread."""
    from rig.schedules import ScheduleRunner

    runner = ScheduleRunner(aws_front.lambdas, getattr(request.module, "LOCAL_CLOUD_REGION", rig.DEFAULT_REGION))
    runner.start(interval=2.0)
    yield runner
    runner.stop()
    print(f"schedules: {runner.cost['ticks']} ticks, {runner.cost['seconds']:.1f} s, "
          f"{len(runner.lambdas.invocations)} invocations", file=sys.stderr)


@pytest.fixture(autouse=True)
def authfront_per_test(request):
    """For tests on the session's moto: the front's defaults back (the rig's checkip answer as the source
    address), and afterwards no request of this test (its module fixtures' too, which the front counts for the test
    that first needs them) that the front could not map or decide: tests/rig/authfront_map.py grows with the code."""
    if "moto_server" not in request.fixturenames:
        yield
        return
    front = request.getfixturevalue("moto_server").front
    front.reset()
    yield
    unmapped = [d for d in front.decisions if d["flow"] == request.node.nodeid
                and d["effect"] in ("Unmapped", "Undecided") and not d.get("expected")]
    if unmapped:
        pytest.fail("the authorizing front refused requests it cannot map or decide: "
                    + "; ".join(f"{d['operation']} ({d.get('detail')})" for d in unmapped[:5]), pytrace=False)


def pytest_configure(config):
    """The controller (not an xdist worker) gives the session one directory for the authorizing fronts' records:
    the workers' fronts and tools/local-aws (which test_demo starts) inherit it through the environment."""
    from rig import authfront

    if hasattr(config, "workerinput") or os.environ.get(authfront.RECORD_DIR_VARIABLE):
        return

    directory = os.path.join(REPO_ROOT, ".build", "authfront", f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.makedirs(directory, exist_ok=True)
    os.environ[authfront.RECORD_DIR_VARIABLE] = directory
    config.authfront_records = directory


def pytest_runtest_logreport(report):
    """Seconds by file (the slowest are printed at the end), and outcomes by test for the least-privilege gate at
    the session's end (the controller sees every worker's)."""
    count_file_seconds(report)
    if report.when == "call" or report.outcome != "passed":
        OUTCOMES.setdefault(report.nodeid, set()).add(report.outcome)


OUTCOMES = {}


def pytest_sessionfinish(session, exitstatus):
    """The least-privilege gate, in the controller once every worker has finished and every record is written
    (so no test has to wait for the heavy flows): see tests/gates/least_privilege.py."""
    directory = getattr(session.config, "authfront_records", None)
    if directory is None:
        return
    import least_privilege

    verdict = least_privilege.judge(directory, OUTCOMES)
    if not os.listdir(directory):
        os.rmdir(directory)  # no front recorded anything (unit tests only)
    session.config.least_privilege = verdict
    if verdict is not None and verdict.failed and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    print_slowest_files(terminalreporter)
    verdict = getattr(config, "least_privilege", None)
    if verdict is not None:
        terminalreporter.write_sep("=", "least privilege (tests/gates/least_privilege.py)")
        for line in verdict.lines:
            terminalreporter.write_line(line)


@pytest.fixture
def aws_env(moto_server):
    """ansible_env() pointed at the session's moto server."""
    return ansible_env(aws=moto_server.env)


@pytest.fixture
def boto3_session(moto_server):
    import boto3

    return boto3.session.Session(
        aws_access_key_id=moto_server.credentials["aws_access_key_id"],
        aws_secret_access_key=moto_server.credentials["aws_secret_access_key"],
        region_name=rig.DEFAULT_REGION,
    )


@pytest.fixture
def checkip():
    with rig.CheckipServer() as server:
        yield server


@pytest.fixture(scope="module")
def local_cloud(request, moto_server, tmp_path_factory):
    """The local cloud (tests/rig/localcloud.py) reconciling every second in a thread against the session's moto
    server: managed instances become systemd containers; its inventory file is local_cloud.inventory_path.
    It mirrors only the clusters (cloudburst:cluster tag) the test module lists in LOCAL_CLOUD_CLUSTERS, and
    its region is the module's LOCAL_CLOUD_REGION (default the rig's), so modules sharing the session's moto
    leave each other's instances alone; it also mirrors the stock condor_annex annexes named in
    LOCAL_CLOUD_STOCK_ANNEXES. Security groups filter the containers' traffic. Its describe calls land in moto's
    recording, so tests that count calls should not use it."""
    from rig import localcloud

    clusters = getattr(request.module, "LOCAL_CLOUD_CLUSTERS", None)
    if not clusters:
        pytest.fail(f"{request.module.__name__} uses local_cloud without LOCAL_CLOUD_CLUSTERS (the cloudburst:cluster "
                    "tags of the instances it launches)", pytrace=False)
    cloud = localcloud.LocalCloud(
        moto_server.url, getattr(request.module, "LOCAL_CLOUD_REGION", rig.DEFAULT_REGION),
        moto_server.credentials["aws_access_key_id"], moto_server.credentials["aws_secret_access_key"],
        inventory_path=str(tmp_path_factory.mktemp("local-cloud") / "inventory.json"), group_tags=["cloudburst:role"],
        clusters=clusters, stock_annexes=getattr(request.module, "LOCAL_CLOUD_STOCK_ANNEXES", ()))
    cloud.start(interval=1.0)
    yield cloud
    cloud.stop()
    cloud.clean()
    cost = cloud.filter_cost
    print(f"local cloud filter: {cost['passes']} passes, {cost['seconds']:.1f} s, {cost['loads']} tables loaded",
          file=sys.stderr)
