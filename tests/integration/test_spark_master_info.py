# -*- coding: utf-8 -*-
"""cloudburst.aws.spark_master_info by ansible-playbook against /json/ answers served on 127.0.0.1."""

from __future__ import annotations

import json

from conftest import ansible_env, run_playbook, task_results

import rig


def status(alive, state="ALIVE"):
    workers = [{"id": f"w{i}", "host": f"h{i}", "port": 1, "cores": 2, "coresused": 0, "memory": 1024,
                "memoryused": 0, "state": "ALIVE", "lastheartbeat": 1} for i in range(alive)]
    return json.dumps({"url": "spark://m:7077", "status": state, "workers": workers, "aliveworkers": alive,
                       "cores": 2 * alive, "coresused": 0, "memory": 1024 * alive, "memoryused": 0,
                       "activeapps": [], "completedapps": [{}]})


def ask(tmp_path, **options):
    plays = [{"hosts": "localhost", "gather_facts": False,
              "tasks": [{"cloudburst.aws.spark_master_info": dict(poll_interval=0.2, **options)}]}]
    result, parsed = run_playbook(tmp_path, plays, ansible_env())
    assert parsed is not None, result.output
    return task_results(parsed)[0]


def test_reads_and_waits_for_workers(tmp_path, checkip):
    checkip.set_answers([(200, status(0, "STANDBY"), 0), (200, status(1), 0), (200, status(2), 0)])
    answer = ask(tmp_path, url=checkip.url, wait_for_workers=2, timeout=20)
    assert answer["status"] == "ALIVE" and answer["alive_workers"] == 2 and answer["cores"] == 4
    assert answer["completed_apps"] == 1 and answer["workers"][0]["cores_used"] == 0
    assert checkip.requests == 3


def test_times_out_with_what_it_saw(tmp_path, checkip):
    checkip.set_answers([(200, status(1), 0)])
    answer = ask(tmp_path, url=checkip.url, wait_for_workers=3, timeout=1)
    assert answer["failed"] is True
    assert "is ALIVE with 1 alive workers; waited 1 s for ALIVE with 3" in answer["msg"]


def test_waits_for_alive_without_workers(tmp_path, checkip):
    checkip.set_answers([(200, status(0, "RECOVERING"), 0), (200, status(0, "STANDBY"), 0), (200, status(0), 0)])
    answer = ask(tmp_path, url=checkip.url, wait_for_alive=True, timeout=20)
    assert answer["status"] == "ALIVE" and answer["alive_workers"] == 0
    assert checkip.requests == 3


def test_standby_without_waiting_is_returned_as_is(tmp_path, checkip):
    checkip.set_answers([(200, status(0, "STANDBY"), 0)])
    answer = ask(tmp_path, url=checkip.url, timeout=20)
    assert answer["status"] == "STANDBY" and checkip.requests == 1


def test_gives_up_waiting_for_alive(tmp_path, checkip):
    checkip.set_answers([(200, status(0, "STANDBY"), 0)])
    answer = ask(tmp_path, url=checkip.url, wait_for_alive=True, timeout=1)
    assert answer["failed"] is True
    assert "is STANDBY with 0 alive workers; waited 1 s for ALIVE with 0" in answer["msg"]


def test_garbage_fails_at_once(tmp_path, checkip):
    checkip.set_answers([(200, "<html>not spark</html>", 0)])
    answer = ask(tmp_path, url=checkip.url, wait_for_workers=1, timeout=30)
    assert answer["failed"] is True and "did not answer with JSON" in answer["msg"]
    assert checkip.requests == 1


def test_unreachable_master_fails_clearly(tmp_path):
    url = f"http://127.0.0.1:{rig.free_port()}/json/"
    answer = ask(tmp_path, url=url, timeout=1)
    assert answer["failed"] is True
    assert f"could not reach {url}" in answer["msg"] and "gave up after 1 s" in answer["msg"]
