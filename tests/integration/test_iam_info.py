# -*- coding: utf-8 -*-
"""cloudburst.aws.iam_user_info and iam_access_key_info against the moto server."""

from __future__ import annotations

from conftest import run_aws_tasks


def test_info_modules_describe_restriction_policies_groups_and_keys(tmp_path, moto_server, boto3_session):
    iam = boto3_session.client("iam", endpoint_url=moto_server.url)
    iam.create_group(GroupName="info-group")
    results = run_aws_tasks(tmp_path, moto_server, [
        {"cloudburst.aws.iam_user": {"name": "info-restricted", "path": "/info/", "groups": ["info-group"],
                                     "managed_policies": ["ReadOnlyAccess"], "tags": {"k": "v"},
                                     "source_ip_allowlist": ["192.0.2.0/24", "2001:db8::/32"]}},
        {"cloudburst.aws.iam_user": {"name": "info-open", "path": "/info/"}},
        {"cloudburst.aws.iam_access_key": {"user_name": "info-restricted", "dest": str(tmp_path / "c")}},
        {"cloudburst.aws.iam_user_info": {"path_prefix": "/info/"}, "register": "users"},
        {"cloudburst.aws.iam_user_info": {"name": "info-nobody"}, "register": "nobody"},
        {"cloudburst.aws.iam_access_key_info": {"user_name": "info-restricted"}, "register": "keys"},
        {"cloudburst.aws.iam_access_key_info": {"user_name": "info-nobody"}, "ignore_errors": True},
    ])
    users = {u["user_name"]: u for u in results[3]["users"]}
    assert sorted(users) == ["info-open", "info-restricted"]
    restricted = users["info-restricted"]
    assert restricted["source_ip_restricted"] is True
    assert restricted["source_ip_allowlist"] == ["192.0.2.0/24", "2001:db8::/32"]
    assert restricted["groups"] == ["info-group"] and restricted["tags"] == {"k": "v"}
    assert restricted["managed_policies"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert users["info-open"]["source_ip_restricted"] is False and users["info-open"]["source_ip_allowlist"] is None
    assert results[4]["users"] == []
    (key,) = results[5]["access_keys"]
    assert key["status"] == "Active" and key["age_days"] == 0 and set(key) >= {"create_date", "last_used_date"}
    assert "secret_access_key" not in key
    assert results[6]["failed"] is True and "does not exist" in results[6]["msg"]


def test_iam_user_and_iam_user_info_read_a_user_the_same_way(tmp_path, moto_server):
    import datetime

    created, rerun, info = run_aws_tasks(tmp_path, moto_server, [
        {"cloudburst.aws.iam_user": {"name": "info-same", "path": "/same/", "tags": {"k": "v"},
                                     "source_ip_allowlist": ["192.0.2.0/24"]}, "register": "created"},
        {"cloudburst.aws.iam_user": {"name": "info-same"}, "register": "rerun"},
        {"cloudburst.aws.iam_user_info": {"name": "info-same"}, "register": "info"},
    ])
    (described,) = info["users"]
    assert created["user"] == rerun["user"] == described
    assert datetime.datetime.fromisoformat(described["create_date"]).tzinfo is not None
    assert described["source_ip_policy_names"] == ["cloudburst-source-ip-allow-list"]


def test_access_key_info_in_check_mode_for_a_user_the_play_would_create(tmp_path, moto_server):
    results = run_aws_tasks(tmp_path, moto_server, [
        {"cloudburst.aws.iam_user": {"name": "info-not-yet"}},
        {"cloudburst.aws.iam_access_key": {"user_name": "info-not-yet", "dest": str(tmp_path / "c")}},
        {"cloudburst.aws.iam_access_key_info": {"user_name": "info-not-yet"}, "register": "keys"},
    ], extra_args=["--check"])
    assert [r.get("failed", False) for r in results] == [False, False, False], results
    assert results[2]["access_keys"] == [] and results[2]["changed"] is False
    assert any("does not exist (yet)" in w for w in results[2]["warnings"])
