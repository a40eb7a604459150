# -*- coding: utf-8 -*-
"""The ec2_cluster_key role against moto: a 0600 ed25519 key, only its public half in EC2, never printed."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from ec2_plays import REGION, ec2_writes, recap_changed, run_roles, run_roles_verbose, tagged


@pytest.fixture
def ec2(boto3_session, moto_server):
    return boto3_session.client("ec2", endpoint_url=moto_server.url, region_name=REGION)


def key(cluster, path, **options):
    return ("ec2_cluster_key", dict({"ec2_cluster_key_cluster": cluster, "ec2_cluster_key_path": str(path)}, **options))


def test_key_is_private_on_the_controller_and_public_in_ec2(tmp_path, moto_server, ec2):
    path = tmp_path / "keys" / "cluster_ed25519"

    moto_server.reset_recording()
    checked = run_roles(tmp_path, moto_server, [key("key-a", path)], ["--check", "--diff"])
    assert checked.rc == 0 and checked.changed >= 1, checked.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == [] and not path.exists()

    moto_server.reset_recording()
    first = run_roles_verbose(tmp_path, moto_server, [key("key-a", path)])
    assert first.rc == 0, first.output[-3000:]
    actions = moto_server.recorded_actions()
    assert "ec2:ImportKeyPair" in actions and "ec2:CreateKeyPair" not in actions
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    private = path.read_text()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    body = "".join(private.strip().splitlines()[1:-1])
    assert body[:40] not in first.output and body[-40:] not in first.output

    public = (tmp_path / "keys" / "cluster_ed25519.pub").read_text().split()
    pair = ec2.describe_key_pairs(KeyNames=["cloudburst-key-a"], IncludePublicKey=True)["KeyPairs"][0]
    assert pair["PublicKey"].split()[:2] == public[:2] and public[0] == "ssh-ed25519"
    assert {t["Key"]: t["Value"] for t in pair["Tags"]} == {"cloudburst:cluster": "key-a", "managed-by": "cloudburst.aws"}

    moto_server.reset_recording()
    second = run_roles_verbose(tmp_path, moto_server, [key("key-a", path)])
    assert second.rc == 0 and recap_changed(second.stdout) == 0, second.output[-3000:]
    assert ec2_writes(moto_server.recorded_actions()) == []
    assert body[:40] not in second.output

    gone = run_roles(tmp_path, moto_server, [key("key-a", path, ec2_cluster_key_state="absent")])
    assert gone.rc == 0, gone.failure_messages()
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["cloudburst-key-a"]}])["KeyPairs"] == []
    assert not path.exists() and tagged(ec2, "cloudburst:cluster", "key-a") == []


def test_absent_leaves_a_key_pair_it_did_not_import(tmp_path, moto_server, ec2):
    ec2.create_key_pair(KeyName="cloudburst-key-b")
    result = run_roles(tmp_path, moto_server, [key("key-b", tmp_path / "k", ec2_cluster_key_state="absent")])
    assert result.rc == 0 and result.changed == 0, result.changed_tasks()
    assert ec2.describe_key_pairs(KeyNames=["cloudburst-key-b"])["KeyPairs"]


def test_a_missing_key_file_fails_clearly_with_nothing_created(tmp_path, moto_server, ec2):
    moto_server.reset_recording()
    missing = tmp_path / "nowhere" / "id_ed25519"
    result = run_roles(tmp_path, moto_server, [key("key-c", missing, ec2_cluster_key_generate=False)])
    assert result.rc != 0
    assert any(f"Key file {missing} does not exist" in m for m in result.failure_messages()), result.failure_messages()
    assert moto_server.recorded_actions() == [] and not missing.parent.exists()


def test_a_same_named_key_pair_of_someone_else_is_never_replaced(tmp_path, moto_server, ec2):
    theirs = ec2.create_key_pair(KeyName="cloudburst-key-d")["KeyFingerprint"]
    moto_server.reset_recording()
    result = run_roles(tmp_path, moto_server, [key("key-d", tmp_path / "keys" / "d_ed25519")])
    assert result.rc != 0
    assert any("Key pair cloudburst-key-d already exists in EC2 without the tags cloudburst:cluster=key-d" in m
               for m in result.failure_messages()), result.failure_messages()
    assert ec2_writes(moto_server.recorded_actions()) == []
    assert ec2.describe_key_pairs(KeyNames=["cloudburst-key-d"])["KeyPairs"][0]["KeyFingerprint"] == theirs


def test_a_key_file_the_caller_brought_is_used_and_never_deleted(tmp_path, moto_server, ec2):
    path = tmp_path / "mine_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(path)], check=True)
    before = (path.read_bytes(), (tmp_path / "mine_ed25519.pub").read_bytes())
    made = run_roles(tmp_path, moto_server, [key("key-e", path)])  # ec2_cluster_key_generate stays true
    assert made.rc == 0, made.failure_messages()
    pair = ec2.describe_key_pairs(KeyNames=["cloudburst-key-e"], IncludePublicKey=True)["KeyPairs"][0]
    assert pair["PublicKey"].split()[1] == before[1].split()[1].decode()
    assert (path.read_bytes(), (tmp_path / "mine_ed25519.pub").read_bytes()) == before  # comment untouched

    gone = run_roles(tmp_path, moto_server, [key("key-e", path, ec2_cluster_key_state="absent")])
    assert gone.rc == 0, gone.failure_messages()
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["cloudburst-key-e"]}])["KeyPairs"] == []
    assert (path.read_bytes(), (tmp_path / "mine_ed25519.pub").read_bytes()) == before
