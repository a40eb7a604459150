# -*- coding: utf-8 -*-
"""cloudburst.aws.public_ip_info run by ansible-playbook against answers served on 127.0.0.1."""

from __future__ import annotations

import pytest
from conftest import ansible_env, run_playbook, task_results

import rig


def ask(tmp_path, url, check_mode=False, **options):
    task = {"cloudburst.aws.public_ip_info": dict(url=url, retry_delay=0.1, **options), "register": "answer"}
    if check_mode:
        task["check_mode"] = True
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]
    result, parsed = run_playbook(tmp_path, plays, ansible_env())
    assert parsed is not None, result.output
    return task_results(parsed)[0]


@pytest.mark.parametrize(
    "body, ip, version, cidr",
    [
        ("93.184.215.14\n", "93.184.215.14", 4, "93.184.215.14/32"),
        (" 2a00:1450:4001:0829:0000:0000:0000:200e \n", "2a00:1450:4001:829::200e", 6, "2a00:1450:4001:829::200e/128"),
    ],
)
def test_returns_ip_version_and_cidr(tmp_path, checkip, body, ip, version, cidr):
    checkip.set_answers([(200, body, 0)])
    answer = ask(tmp_path, checkip.url)
    assert not answer.get("failed"), answer
    assert (answer["ip"], answer["version"], answer["cidr"]) == (ip, version, cidr)
    assert answer["is_global"] is True
    assert answer["changed"] is False
    assert answer["attempts"] == 1


def test_check_mode_gives_the_same_answer(tmp_path, checkip):
    checkip.set_answers([(200, "93.184.215.14\n", 0)])
    answer = ask(tmp_path, checkip.url, check_mode=True)
    assert answer["cidr"] == "93.184.215.14/32"


def test_the_rigs_default_answer_is_a_usable_public_address(tmp_path, checkip):
    answer = ask(tmp_path, checkip.url)
    assert not answer.get("failed"), answer
    assert answer["ip"] == rig.DEFAULT_CHECKIP_ANSWER and answer["is_global"] is True


def ask_in_turn(tmp_path, url, options):
    """One playbook, one public_ip_info task per options dict, each taking the checkip server's next answer."""
    tasks = [{"cloudburst.aws.public_ip_info": dict(url=url, retries=0, **o), "ignore_errors": True} for o in options]
    result, parsed = run_playbook(tmp_path, [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                                  ansible_env())
    assert parsed is not None, result.output
    return task_results(parsed)


PRIVATE = ["10.0.0.8", "198.51.100.7", "fd00::8", "100.64.0.1"]


def test_a_private_answer_is_refused_unless_the_endpoint_is_private(tmp_path, checkip):
    checkip.set_answers([(200, body + "\n", 0) for body in PRIVATE for _twice in (1, 2)])
    answers = ask_in_turn(tmp_path, checkip.url, [{"allow_private": allow} for _body in PRIVATE for allow in (False, True)])
    for body, refused, allowed in zip(PRIVATE, answers[0::2], answers[1::2]):
        assert refused["failed"] is True, (body, refused)
        assert f"answered {body}, which is not a globally routable address" in refused["msg"]
        assert "allow_private: true" in refused["msg"]
        assert not allowed.get("failed"), allowed
        assert allowed["is_global"] is False and allowed["ip"] == body
    assert checkip.requests == 2 * len(PRIVATE)  # a refused answer is not asked again


NOBODYS = [
    ("0.0.0.0", "the unspecified address"),
    ("127.0.0.1", "a loopback address"),
    ("169.254.169.254", "a link-local address"),
    ("239.1.2.3", "a multicast address"),
    ("::", "the unspecified address"),
    ("::1", "a loopback address"),
    ("240.0.0.9", "a reserved address"),
]


def test_an_answer_that_is_nobodys_public_address_is_refused_outright(tmp_path, checkip):
    checkip.set_answers([(200, body + "\n", 0) for body, _kind in NOBODYS])
    answers = ask_in_turn(tmp_path, checkip.url, [{"allow_private": True} for _case in NOBODYS])
    for (body, kind), answer in zip(NOBODYS, answers):
        assert answer["failed"] is True
        assert answer["msg"] == (f"Could not learn the public IP address: {checkip.url} answered {body}, {kind}, "
                                 "which cannot be the controller's public address")
    assert checkip.requests == len(NOBODYS)


@pytest.mark.parametrize(
    "body, message",
    [
        ("", "answered with an empty body"),
        ("<html>blocked</html>", "which is not an IPv4 or IPv6 address"),
        ("1.2.3.4 5.6.7.8", "more than one word"),
        ("9" * 2000, "more than 1024 bytes"),
    ],
)
def test_unusable_answers_fail_clearly_without_retrying(tmp_path, checkip, body, message):
    checkip.set_answers([(200, body, 0)])
    answer = ask(tmp_path, checkip.url, retries=3)
    assert answer["failed"] is True
    assert answer["msg"].startswith("Could not learn the public IP address:")
    assert message in answer["msg"]
    assert checkip.requests == 1


def test_server_errors_are_retried_until_an_answer_comes(tmp_path, checkip):
    checkip.set_answers([(503, "busy", 0), (500, "oops", 0), (200, "93.184.215.14", 0)])
    answer = ask(tmp_path, checkip.url, retries=3)
    assert not answer.get("failed"), answer
    assert answer["attempts"] == 3 and checkip.requests == 3


def test_server_errors_fail_after_the_last_retry(tmp_path, checkip):
    checkip.set_answers([(500, "oops", 0)])
    answer = ask(tmp_path, checkip.url, retries=1)
    assert answer["failed"] is True
    assert "HTTP 500" in answer["msg"] and "after 2 attempts" in answer["msg"]
    assert checkip.requests == 2


def test_client_errors_are_not_retried(tmp_path, checkip):
    checkip.set_answers([(404, "no such page", 0)])
    answer = ask(tmp_path, checkip.url, retries=3)
    assert answer["failed"] is True and "HTTP 404" in answer["msg"]
    assert checkip.requests == 1


def test_a_timeout_fails_clearly(tmp_path, checkip):
    checkip.set_answers([(200, "93.184.215.14", 3)])
    answer = ask(tmp_path, checkip.url, timeout=0.5, retries=0)
    assert answer["failed"] is True
    assert "timed out" in answer["msg"].lower()


def test_nothing_listening_fails_clearly(tmp_path):
    url = f"http://127.0.0.1:{rig.free_port()}/"
    answer = ask(tmp_path, url, retries=1)
    assert answer["failed"] is True
    assert f"could not reach {url}" in answer["msg"] and "after 2 attempts" in answer["msg"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"url": "ftp://127.0.0.1/"}, "url must be an http:// or https:// URL"),
        ({"url": "http://127.0.0.1:1/", "timeout": 0}, "timeout must be a positive number"),
        ({"url": "http://127.0.0.1:1/", "retries": -1}, "must not be negative"),
    ],
)
def test_bad_options_fail_clearly(tmp_path, options, message):
    answer = ask(tmp_path, **options)
    assert answer["failed"] is True and message in answer["msg"]


def test_plain_http_is_refused_before_any_request_unless_allowed(tmp_path, checkip):
    """A checkip answer over plain http can be forged on the path, and it decides the IAM allow-list. The rig's
    http://127.0.0.1 is a loopback address and is asked as it is; a name (even localhost) or another host
    over http needs allow_insecure_url."""
    by_name = checkip.url.replace("127.0.0.1", "localhost")
    answers = ask_in_turn(tmp_path, by_name, [{}, {"allow_insecure_url": True}])
    refused, allowed = answers
    assert refused["failed"] is True
    assert refused["msg"].startswith(f"url '{by_name}' is plain http://: anyone on the network path can forge")
    assert "Use an https:// URL, or set allow_insecure_url: true" in refused["msg"]
    assert not allowed.get("failed"), allowed
    assert allowed["ip"] == rig.DEFAULT_CHECKIP_ANSWER
    assert checkip.requests == 1  # the refused task asked nothing
    # Never contacted: the task fails before any request (and the test reaches nothing but 127.0.0.1).
    (elsewhere,) = ask_in_turn(tmp_path, "http://checkip.example.org/", [{}])
    assert elsewhere["failed"] is True and "is plain http://" in elsewhere["msg"]
