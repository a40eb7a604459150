# -*- coding: utf-8 -*-
"""The audit's key-shape scanner and policy checks. Key-shaped strings are made up at test time."""
from __future__ import annotations

import random
import string

from ansible_collections.cloudburst.aws.plugins.module_utils.iam_audit import grants_everything
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_audit import restriction_cidrs
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_audit import scan_paths
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_audit import scan_text
from ansible_collections.cloudburst.aws.plugins.module_utils.source_ip_policy import build_source_ip_policy


def fake_key_id():
    return "AKIA" + "".join(random.choices(string.ascii_uppercase + "234567", k=16))


def fake_secret():
    alphabet = string.ascii_letters + string.digits + "/+"
    return "aB3/" + "".join(random.choices(alphabet, k=36))


def test_key_ids_are_reported_by_their_last_four_characters_and_secrets_never():
    key_id, secret = fake_key_id(), fake_secret()
    text = f"# config\n[annex]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    found = scan_text(text)
    assert found == [(3, "access_key_id", key_id[-4:]), (4, "secret_access_key", "")]
    assert all(secret not in str(item) and key_id[:-4] not in str(item) for item in found)


def test_a_secret_alone_on_its_line_is_found_as_condor_annex_keeps_it():
    assert scan_text(fake_secret() + "\n") == [(1, "secret_access_key", "")]


def test_what_is_not_a_key():
    commit = "".join(random.choices("0123456789abcdef", k=40))
    text = "\n".join([
        f"commit {commit}",                       # a git hash: no capitals
        f"secret = {commit}",
        "AKIA" + fake_key_id()[4:13] + "EXAMPLE",  # shaped like AWS's documentation key, made here
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "XAKIA" + fake_key_id()[4:] + "9",        # inside a longer word
        "data = " + fake_secret(),                # 40 characters without a secret's name, not alone
    ])
    assert scan_text(text) == []


def test_scan_paths_walks_directories_and_skips_binary_and_excluded(tmp_path):
    key_id = fake_key_id()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "vars.yml").write_text(f"one: 1\nkey: {key_id}\n")
    (tmp_path / "blob.bin").write_bytes(b"\0" + key_id.encode())
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(key_id)
    found = list(scan_paths([str(tmp_path)], exclude=["*.git"]))
    assert found == [(str(tmp_path / "sub" / "vars.yml"), 2, "access_key_id", key_id[-4:])]


def test_admin_equivalence_and_restriction():
    def admin(statement, partition="aws"):
        return grants_everything({"Statement": statement}, partition, "123456789012")

    assert admin([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
    assert admin({"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]})
    assert not admin([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    assert not admin([{"Effect": "Deny", "Action": "*", "Resource": "*"}])
    # Every resource, spelt as an ARN of wildcards (with or without a partition), or as the account's own.
    for resource in ("arn:*", "arn:aws:*", "arn:*:*", "arn:aws:*:*:*:*", ["arn:aws:s3:::x", "arn:aws:*"],
                     ["arn:aws:*:*:123456789012:*", "arn:aws:s3:::*"]):
        assert admin([{"Effect": "Allow", "Action": "*", "Resource": resource}]), resource
    assert admin([{"Effect": "Allow", "Action": "*", "Resource": "arn:aws-cn:*"}], partition="aws-cn")
    for resource in ("arn:aws:s3:::*", "arn:aws:iam::*:user/*", "arn:aws", "arn:aws:ec2:*:*:instance/*", "arn:aws-cn:*"):
        assert not admin([{"Effect": "Allow", "Action": "*", "Resource": resource}]), resource
    # All but some: an Allow of NotAction on every resource may do nearly anything, so it counts (fails closed).
    assert admin([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}])
    restriction, _warnings = build_source_ip_policy(["203.0.113.0/24"])
    assert restriction_cidrs([{"Statement": []}, restriction]) == ["203.0.113.0/24"]
    assert restriction_cidrs([{"Statement": []}]) is None


def test_the_audit_reads_every_form_of_policy_document_and_one_without_statement_grants_nothing():
    """One reader of policy JSON (policy_evaluation.policy_document): a dict, its JSON text and IAM's URL-encoded
    text read alike; a document without a Statement (an account may hold one) grants nothing and restricts
    nothing, as the audit's own reader had it, instead of failing the audit."""
    import json
    import urllib.parse

    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for form in (everything, json.dumps(everything), urllib.parse.quote(json.dumps(everything))):
        assert grants_everything(form, "aws", "123456789012")
    assert not grants_everything({"Version": "2012-10-17"}, "aws", "123456789012")
    assert restriction_cidrs([{"Version": "2012-10-17"}]) is None
