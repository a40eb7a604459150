# -*- coding: utf-8 -*-
"""Unit tests of the annex setup's pure parts: condor config, regions, the code package, the checker's config
reading and the stack comparison (with a botocore Stubber only for the template read moto cannot vary)."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from ansible_collections.cloudburst.aws.plugins.module_utils import cfn_stack
from ansible_collections.cloudburst.aws.plugins.module_utils import condor_config
from ansible_collections.cloudburst.aws.plugins.module_utils import lambda_package
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_check import SetupChecker
from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import StackError
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import statements


def test_region_prefix_uses_underscores():
    assert condor_config.region_prefix("us-east-1") == "us_east_1"
    assert condor_config.region_prefix("ap-southeast-2") == "ap_southeast_2"


@pytest.mark.parametrize("region", ["us-moon-1", "us_east_1", "", None, "US-EAST-1", "us-east-1\n"])
def test_unknown_regions_are_refused(region):
    with pytest.raises(StackError):
        cfn_stack.check_region(region)


def test_known_regions_pass():
    for region in ("us-east-1", "eu-north-1", "us-gov-west-1"):
        assert cfn_stack.check_region(region) == region


def test_condor_config_parsing():
    text = (
        "# comment\n"
        "us_east_1.ANNEX_DEFAULT_S3_BUCKET = first\n"
        "US_EAST_1.annex_default_s3_bucket = second\n"
        "COLLECTOR_HOST=cm.example.org:9618\n"
        "LONG = a \\\n  b\n"
        "EMPTY =\n"
    )
    settings = condor_config.parse_condor_config(text)
    assert condor_config.lookup_setting(settings, "ANNEX_DEFAULT_S3_BUCKET", "us_east_1")[1] == "second"
    assert condor_config.lookup_setting(settings, "COLLECTOR_HOST")[1] == "cm.example.org:9618"
    assert condor_config.lookup_setting(settings, "LONG")[1] == "a   b"
    assert condor_config.lookup_setting(settings, "EMPTY") == (None, None)
    # condor_annex falls back to the name without the region prefix
    settings = condor_config.parse_condor_config("ANNEX_DEFAULT_S3_BUCKET = plain\n")
    assert condor_config.lookup_setting(settings, "ANNEX_DEFAULT_S3_BUCKET", "us_east_1")[1] == "plain"


def test_hyphenated_prefixes_are_found():
    text = "us-east-1.ANNEX_DEFAULT_S3_BUCKET = x\nus_east_1.ANNEX_DEFAULT_S3_BUCKET = y\nA-B = c\n"
    assert condor_config.hyphenated_prefixes(text) == ["us-east-1.ANNEX_DEFAULT_S3_BUCKET = x"]


def test_code_package_is_deterministic_and_named_by_content():
    first = lambda_package.deterministic_zip("def handler(e, c):\n    return 1\n", "annex_lease.py")
    again = lambda_package.deterministic_zip("def handler(e, c):\n    return 1\n", "annex_lease.py")
    other = lambda_package.deterministic_zip("def handler(e, c):\n    return 2\n", "annex_lease.py")
    assert first == again and first != other
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["annex_lease.py"]
        assert archive.getinfo("annex_lease.py").date_time == (1980, 1, 1, 0, 0, 0)
    key = lambda_package.package_key("", "annex_lease.py", first)
    assert key.startswith("annex-lease-") and key.endswith(".zip") and "/" not in key
    assert key != lambda_package.package_key("", "annex_lease.py", other)


def test_templates_compare_by_meaning_for_json_and_by_text_for_yaml():
    norm = cfn_stack._normalise_template  # pylint: disable=protected-access
    assert norm('{"a": 1, "b": [2]}') == norm({"b": [2], "a": 1})
    assert norm("a: 1  \nb: 2\n\n") == norm("a: 1\nb: 2")
    assert norm("a: 1\n") != norm("a: 2\n")


def write_config(tmp_path, text, secret_mode=0o600):
    secret = tmp_path / "privateKeyFile"
    secret.write_text("s\n")
    secret.chmod(secret_mode)
    (tmp_path / "publicKeyFile").write_text("p\n")
    (tmp_path / "pw").write_text("")
    config = tmp_path / "user_config"
    config.write_text(text.format(dir=tmp_path))
    return config


FULL = """ANNEX_DEFAULT_AWS_REGION = us-east-1
us_east_1.ANNEX_DEFAULT_ACCESS_KEY_FILE = {dir}/publicKeyFile
us_east_1.ANNEX_DEFAULT_SECRET_KEY_FILE = {dir}/privateKeyFile
us_east_1.ANNEX_DEFAULT_S3_BUCKET = b
us_east_1.ANNEX_DEFAULT_ODI_SECURITY_GROUP_IDS = sg-1
us_east_1.ANNEX_DEFAULT_ODI_LEASE_FUNCTION_ARN = arn:odi
us_east_1.ANNEX_DEFAULT_SFR_LEASE_FUNCTION_ARN = arn:sfr
us_east_1.ANNEX_DEFAULT_ODI_INSTANCE_PROFILE_ARN = arn:profile
us_east_1.ANNEX_DEFAULT_ODI_KEY_NAME = k
COLLECTOR_HOST = cm
SEC_PASSWORD_FILE = {dir}/pw
"""


def statuses(checker):
    return {item["name"]: item["status"] for item in checker.items}


def test_checker_reads_a_complete_config_as_condor_annex_would(tmp_path):
    checker = SetupChecker(None, os.getuid(), str(write_config(tmp_path, FULL)))
    checker.check_config()
    assert set(statuses(checker).values()) == {"ok"}, checker.items
    assert checker.region == "us-east-1" and checker.prefix == "us_east_1"


def test_checker_names_what_is_missing_private_or_contradicting(tmp_path):
    text = FULL.replace("us_east_1.ANNEX_DEFAULT_S3_BUCKET = b\n", "") + "us-east-1.ANNEX_DEFAULT_S3_BUCKET = b\n"
    checker = SetupChecker(None, os.getuid(), str(write_config(tmp_path, text, secret_mode=0o640)), region="eu-west-1")
    checker.check_config()
    found = statuses(checker)
    assert found["ANNEX_DEFAULT_AWS_REGION"] == "mismatch"
    # the check runs in eu-west-1, so every region-prefixed setting is looked up there
    assert found["eu_west_1.ANNEX_DEFAULT_S3_BUCKET"] == "missing"
    assert found["config syntax"] == "problem"
    assert not checker.ok and "config syntax (problem)" in checker.summary()
    checker = SetupChecker(None, os.getuid(), str(tmp_path / "user_config"))
    checker.check_config()
    assert statuses(checker)["secret key file"] == "problem"
    assert statuses(checker)["us_east_1.ANNEX_DEFAULT_S3_BUCKET"] == "missing"


def test_checker_reports_a_missing_config_file(tmp_path):
    checker = SetupChecker(None, os.getuid(), str(tmp_path / "nowhere"))
    checker.check_config()
    found = statuses(checker)
    assert found["config file"] == "missing" and found["ANNEX_DEFAULT_AWS_REGION"] == "missing"
    assert found["COLLECTOR_HOST"] == "missing"


def test_moto_role_policy_repr_is_read():
    document = "{'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 's3:GetObject'}]}"
    assert statements(document)[0]["Action"] == "s3:GetObject"


# ------------------------------------------------------------------------------------- foreign stacks

class _Module:
    check_mode = False
    params = {"wait": True, "wait_timeout": 2, "wait_delay": 1}


class _RetryingClient:
    """A boto3 client as AnsibleAWSModule's retry decorator hands it over: calls take aws_retry."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name == "get_waiter" or not callable(attribute):
            return attribute
        return lambda aws_retry=False, **kwargs: attribute(**kwargs)


def _stubbed_cloudformation():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="stub",
                          aws_secret_access_key="stub")  # never sent: the Stubber answers every call
    return client, Stubber(client)


STOCK = {"StackName": "HTCondorAnnex-ConfigurationBucket", "StackStatus": "CREATE_COMPLETE", "Tags": [],
         "CreationTime": "2019-01-01T00:00:00Z"}
OWNER = {"cloudburst:made-by": "cloudburst.aws.htcondor_annex_setup"}


def test_a_foreign_stack_is_refused_without_a_call():
    client, stubber = _stubbed_cloudformation()
    with stubber:  # no response queued: any call would fail the test
        deployer = cfn_stack.StackDeployer(_Module(), _RetryingClient(client), OWNER)
        with pytest.raises(StackError, match=r"stack HTCondorAnnex-ConfigurationBucket was not made here: it has "
                                             r"no tags .*Nothing was changed"):
            deployer.refuse_or_replace(STOCK)
    assert deployer.changes == [] and not deployer.replaced
    ours = dict(STOCK, Tags=[{"Key": "cloudburst:made-by", "Value": "cloudburst.aws.htcondor_annex_setup"}])
    assert deployer.refuse_or_replace(ours) is ours


def test_a_replaced_stack_keeps_what_cloudformation_cannot_delete():
    client, stubber = _stubbed_cloudformation()
    name = STOCK["StackName"]
    failed = dict(STOCK, StackStatus="DELETE_FAILED")
    stubber.add_response("delete_stack", {}, {"StackName": name})
    stubber.add_response("describe_stacks", {"Stacks": [failed]}, {"StackName": name})  # the waiter gives up
    stubber.add_response("describe_stacks", {"Stacks": [failed]}, {"StackName": name})
    stubber.add_response("describe_stack_resources", {"StackResources": [
        {"LogicalResourceId": "S3Bucket", "PhysicalResourceId": "htcondorannex-configurationbucket-s3bucket-1x2y",
         "ResourceType": "AWS::S3::Bucket", "ResourceStatus": "DELETE_FAILED", "Timestamp": "2026-01-01T00:00:00Z",
         "ResourceStatusReason": "The bucket you tried to delete is not empty"},
        {"LogicalResourceId": "Policy", "ResourceType": "AWS::S3::BucketPolicy", "ResourceStatus": "DELETE_COMPLETE",
         "Timestamp": "2026-01-01T00:00:00Z"}]}, {"StackName": name})
    stubber.add_response("delete_stack", {}, {"StackName": name, "RetainResources": ["S3Bucket"]})
    stubber.add_client_error("describe_stacks", service_error_code="ValidationError",
                             service_message=f"Stack with id {name} does not exist")  # deleted: the waiter's success
    with stubber:
        deployer = cfn_stack.StackDeployer(_Module(), _RetryingClient(client), OWNER, replace_foreign=True)
        assert deployer.refuse_or_replace(STOCK) is None
    stubber.assert_no_pending_responses()
    assert deployer.replaced
    assert deployer.retained == ["AWS::S3::Bucket htcondorannex-configurationbucket-s3bucket-1x2y"]
    assert deployer.changes[0].startswith("replace stack HTCondorAnnex-ConfigurationBucket: stack "
                                          "HTCondorAnnex-ConfigurationBucket was not made here")
    assert deployer.changes[1] == ("kept AWS::S3::Bucket htcondorannex-configurationbucket-s3bucket-1x2y of stack "
                                   "HTCondorAnnex-ConfigurationBucket: CloudFormation could not delete it (The bucket "
                                   "you tried to delete is not empty)")


def test_checker_names_stacks_the_setup_did_not_make():
    tagged = [{"Key": "cloudburst:made-by", "Value": "cloudburst.aws.htcondor_annex_setup"}]
    stacks = {"HTCondorAnnex-ConfigurationBucket": tagged, "HTCondorAnnex-LambdaFunctions": tagged,
              "HTCondorAnnex-InstanceProfile": [{"Key": "owner", "Value": "alice"}], "HTCondorAnnex-SecurityGroup": []}

    class Cloudformation:
        @staticmethod
        def describe_stacks(aws_retry=False, StackName=None):  # noqa: N803 (boto3's name)
            return {"Stacks": [{"StackName": StackName, "StackStatus": "CREATE_COMPLETE", "Tags": stacks[StackName]}]}

    checker = SetupChecker(lambda service, region: Cloudformation(), os.getuid(), "unused", region="us-east-1",
                           owner_tags=OWNER)
    checker.check_stacks()
    found = {item["name"]: item for item in checker.items}
    assert found["stack HTCondorAnnex-ConfigurationBucket"]["status"] == "ok"
    assert found["stack HTCondorAnnex-SecurityGroup"] == {
        "name": "stack HTCondorAnnex-SecurityGroup", "status": "problem",
        "detail": "CREATE_COMPLETE, but not made by the setup: it has no tags (stock condor_annex -setup tags none), "
                  "not cloudburst:made-by=cloudburst.aws.htcondor_annex_setup"}
    assert "it has tags owner=alice" in found["stack HTCondorAnnex-InstanceProfile"]["detail"]
    assert checker.foreign == [
        {"name": "HTCondorAnnex-InstanceProfile", "status": "CREATE_COMPLETE", "tags": {"owner": "alice"}},
        {"name": "HTCondorAnnex-SecurityGroup", "status": "CREATE_COMPLETE", "tags": {}}]
    # Without owner tags, any stack of those names is the setup's.
    checker = SetupChecker(lambda service, region: Cloudformation(), os.getuid(), "unused", region="us-east-1")
    checker.check_stacks()
    assert {item["status"] for item in checker.items} == {"ok"} and checker.foreign == []
