#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: spark_master_info
short_description: Read a Spark standalone master's status, optionally waiting for its workers
version_added: 1.0.0
description:
  - Reads the master's C(/json/) page (on its web UI port) and returns its status, workers, cores, memory
    and applications.
  - With O(wait_for_alive) or O(wait_for_workers), polls until the master is C(ALIVE) (with at least that
    many alive workers), or fails after O(timeout) seconds with what it saw last.
  - An unreachable master is retried until O(timeout); an answer that is not a master's JSON fails at once.
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  url:
    description: The master's status URL.
    type: str
    default: http://localhost:8080/json/
  wait_for_workers:
    description: Wait until the master is ALIVE and sees at least this many alive workers. 0 does not wait.
    type: int
    default: 0
  wait_for_alive:
    description:
      - Wait until the master is ALIVE, even when O(wait_for_workers) is 0 (for example right after it
        started, or while it is still RECOVERING or STANDBY).
    type: bool
    default: false
  timeout:
    description: Seconds to keep trying before failing.
    type: int
    default: 120
  poll_interval:
    description: Seconds between attempts.
    type: float
    default: 2
  validate_certs:
    description:
      - Whether to check the TLS certificate of an C(https) URL.
      - V(false) fails unless O(allow_insecure_url=true) too.
    type: bool
    default: true
  allow_insecure_url:
    description:
      - Accept O(validate_certs=false), which reads an C(https) O(url) without checking its certificate.
      - Anyone on the network path could then forge the master's status, which the Spark roles and playbooks wait
        on and report. For a master behind a private CA, put that CA into the controller's trust store instead.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module changes nothing.
"""

EXAMPLES = r"""
- name: Wait until the master sees all workers
  cloudburst.aws.spark_master_info:
    url: "http://{{ spark_master_host }}:8080/json/"
    wait_for_workers: "{{ groups['spark_workers'] | length }}"
    timeout: 180
  register: spark

- name: Show the cluster
  ansible.builtin.debug:
    msg: "{{ spark.alive_workers }} workers, {{ spark.cores }} cores"
"""

RETURN = r"""
url:
  description: The URL that was read.
  returned: always
  type: str
spark_url:
  description: The master's own C(spark://) URL.
  returned: success
  type: str
  sample: spark://spark-master:7077
status:
  description: The master's status, C(ALIVE) for a working master.
  returned: success
  type: str
alive_workers:
  description: How many workers are alive.
  returned: success
  type: int
workers:
  description: Every worker the master knows, alive or not.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The worker's id.
      type: str
    host:
      description: The worker's host.
      type: str
    port:
      description: The worker's port.
      type: int
    cores:
      description: The worker's cores.
      type: int
    cores_used:
      description: Cores in use.
      type: int
    memory:
      description: The worker's memory in MiB.
      type: int
    memory_used:
      description: Memory in use in MiB.
      type: int
    state:
      description: C(ALIVE), C(DEAD), C(DECOMMISSIONED) or C(UNKNOWN).
      type: str
    last_heartbeat:
      description: Milliseconds since the epoch of the last heartbeat.
      type: int
cores:
  description: Cores of the alive workers.
  returned: success
  type: int
cores_used:
  description: Cores in use.
  returned: success
  type: int
memory:
  description: Memory of the alive workers, MiB.
  returned: success
  type: int
memory_used:
  description: Memory in use, MiB.
  returned: success
  type: int
active_apps:
  description: How many applications are running.
  returned: success
  type: int
completed_apps:
  description: How many applications have finished.
  returned: success
  type: int
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url

from ansible_collections.cloudburst.aws.plugins.module_utils.spark_status import SparkStatusError
from ansible_collections.cloudburst.aws.plugins.module_utils.spark_status import parse_master_status
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import unverified_tls_problem


def read_status(module, url):
    response, info = fetch_url(module, url, timeout=10, force=True)
    if response is None or info.get("status", -1) == -1:
        raise SparkStatusError(f"could not reach {url}: {info.get('msg', 'no answer')}", retryable=True)
    if info["status"] >= 400:
        raise SparkStatusError(f"{url} answered HTTP {info['status']}", retryable=info["status"] >= 500)
    return parse_master_status(response.read(), url)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://localhost:8080/json/"),
            wait_for_workers=dict(type="int", default=0),
            wait_for_alive=dict(type="bool", default=False),
            timeout=dict(type="int", default=120),
            poll_interval=dict(type="float", default=2),
            validate_certs=dict(type="bool", default=True),
            allow_insecure_url=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    url, wanted = module.params["url"], module.params["wait_for_workers"]
    problem = unverified_tls_problem(module.params["validate_certs"], module.params["allow_insecure_url"], url,
                                     "forge the master's status, which the Spark roles wait on and report")
    if problem:
        module.fail_json(msg=problem, url=url)
    if wanted < 0 or module.params["timeout"] < 0 or module.params["poll_interval"] <= 0:
        module.fail_json(msg="wait_for_workers and timeout must not be negative; poll_interval must be positive",
                         url=url)
    deadline = time.monotonic() + module.params["timeout"]
    status, last_error = None, None
    while True:
        try:
            status = read_status(module, url)
            last_error = None
            waiting = wanted or module.params["wait_for_alive"]
            if not waiting or (status["status"] == "ALIVE" and status["alive_workers"] >= wanted):
                module.exit_json(changed=False, url=url, **status)
        except SparkStatusError as exc:
            if not exc.retryable:
                module.fail_json(msg=str(exc), url=url)
            last_error = str(exc)
        if time.monotonic() >= deadline:
            break
        time.sleep(module.params["poll_interval"])
    if last_error:
        module.fail_json(msg=f"{last_error} (gave up after {module.params['timeout']} s)", url=url)
    module.fail_json(
        msg=f"the master at {url} is {status['status']} with {status['alive_workers']} alive workers; waited "
            f"{module.params['timeout']} s for ALIVE with {wanted}",
        url=url, **status)


if __name__ == "__main__":
    main()
