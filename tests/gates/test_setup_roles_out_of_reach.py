# -*- coding: utf-8 -*-
"""Gate: the launch policy gives its user no way to act as a role the annex setup makes.

For every IAM role in the setup's CloudFormation templates (roles/htcondor_annex_setup/files/), read from the
templates themselves, and for every launch policy the collection builds (tests/gates/test_parliament.py's list),
the collection's evaluator (policy_evaluation) is asked whether a request could be allowed, every condition key
it does not know counted for the request (the attacker's best case):

- iam:PassRole of the role to any service: allowed only for a role that EC2 alone may assume (an instance role),
  and only to ec2.amazonaws.com;
- a change to the role itself (its policies, trust, boundary, deletion), to any managed policy it could hold,
  or assuming it;
- a change to code or configuration that runs as the role: every Lambda write action on a function the
  template runs as the role, putting its code package (the S3 object the template deploys), and any write to
  the setup's four stacks (a stack update runs with the caller's rights or a passed role and rewrites the
  functions and roles);
- a schedule (EventBridge Scheduler) at all, and an EventBridge rule target other than the setup's lease
  functions. A rule may target a lease function: EventBridge then runs the setup's code, which the checks above
  keep unchanged, with input it only narrows (bucket, annex name, dry run) and with the lease role, whose rights
  (terminate htcondor:AnnexName instances, delete config-* objects) the user holds itself.

A role the templates make without a fixed RoleName fails the gate: CloudFormation would name it after its stack
(HTCondorAnnex-...), inside the launch policy's default resource prefix.
"""

from __future__ import annotations

import os

import pytest
import yaml
from test_parliament import POLICY_DOCUMENTS

from ansible_collections.cloudburst.aws.plugins.module_utils.policy_conditions import RequestContext
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import Request
from ansible_collections.cloudburst.aws.plugins.module_utils.policy_evaluation import evaluate

ROLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles", "htcondor_annex_setup")
ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
# Services a role can be handed to: compute, functions, schedules, stacks, workflows, containers, builds.
SERVICES = ("ec2.amazonaws.com", "lambda.amazonaws.com", "events.amazonaws.com", "scheduler.amazonaws.com",
            "cloudformation.amazonaws.com", "states.amazonaws.com", "ecs-tasks.amazonaws.com",
            "spotfleet.amazonaws.com", "ssm.amazonaws.com", "codebuild.amazonaws.com", "batch.amazonaws.com",
            "glue.amazonaws.com", "sagemaker.amazonaws.com", "apigateway.amazonaws.com")
ROLE_WRITES = ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
               "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
               "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:TagRole", "iam:UntagRole", "iam:DeleteRole",
               "iam:CreateRole", "sts:AssumeRole", "sts:TagSession")
LAMBDA_WRITES = ("lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                 "lambda:DeleteFunction", "lambda:PublishVersion", "lambda:CreateAlias", "lambda:UpdateAlias",
                 "lambda:DeleteAlias", "lambda:AddPermission", "lambda:RemovePermission",
                 "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
                 "lambda:PutFunctionEventInvokeConfig", "lambda:UpdateFunctionEventInvokeConfig",
                 "lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping",
                 "lambda:CreateFunctionUrlConfig", "lambda:UpdateFunctionUrlConfig",
                 "lambda:PutFunctionCodeSigningConfig", "lambda:PutRuntimeManagementConfig",
                 "lambda:PutProvisionedConcurrencyConfig", "lambda:TagResource", "lambda:UntagResource")
STACK_WRITES = ("cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
                "cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:SetStackPolicy",
                "cloudformation:ContinueUpdateRollback", "cloudformation:CancelUpdateStack",
                "cloudformation:RollbackStack", "cloudformation:UpdateTerminationProtection",
                "cloudformation:TagResource", "cloudformation:UntagResource", "cloudformation:ImportStacksToStackSet")
SCHEDULE_WRITES = ("scheduler:CreateSchedule", "scheduler:UpdateSchedule")


def _stack_names():
    with open(os.path.join(ROLE_DIR, "vars", "main.yml")) as stream:
        return yaml.safe_load(stream)["htcondor_annex_setup_stack_names"]


STACK_FILES = {"lambda": "lambda-functions.yaml", "profile": "instance-profile.yaml",
               "bucket": "configuration-bucket.yaml"}


def _resolve(value, region, stack, parameters):
    """A template value with Fn::Sub, Ref and the pseudo parameters filled for one region."""
    names = dict(parameters, **{"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                                "AWS::StackName": stack})
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for key, replacement in names.items():
            text = text.replace("${" + key + "}", replacement)
        assert "${" not in text, f"cannot resolve {value}"
        return text
    if isinstance(value, dict) and "Ref" in value:
        return names[value["Ref"]]
    raise AssertionError(f"cannot resolve {value}")


def setup_roles():
    """[(role name, role ARN, trusted services, function ARNs that run as it, code objects, region)] for each
    role of each template, in each region."""
    found = []
    stacks = _stack_names()
    for kind, filename in STACK_FILES.items():
        with open(os.path.join(ROLE_DIR, "files", filename)) as stream:
            template = yaml.safe_load(stream)
        resources = template["Resources"]
        for region in REGIONS:
            parameters = {"BucketName": f"cloudburst-annex-{ACCOUNT}-{region}",
                          "CodeKey": "annex-lease-0123456789abcdef.zip",
                          "ConnectivityCodeKey": "annex-connectivity-0123456789abcdef.zip"}
            for logical, resource in resources.items():
                if resource["Type"] != "AWS::IAM::Role":
                    continue
                properties = resource["Properties"]
                assert "RoleName" in properties, (
                    f"{filename}: role {logical} has no RoleName; CloudFormation would name it after the stack "
                    f"({stacks[kind]}-...), inside the launch policy's default resource prefix")
                name = _resolve(properties["RoleName"], region, stacks[kind], parameters)
                trusted = {service for statement in properties["AssumeRolePolicyDocument"]["Statement"]
                           for service in _as_list(statement.get("Principal", {}).get("Service"))}
                functions, code = [], []
                for other in resources.values():
                    if other["Type"] == "AWS::Lambda::Function" and other["Properties"]["Role"] == {
                            "Fn::GetAtt": [logical, "Arn"]}:
                        function = _resolve(other["Properties"]["FunctionName"], region, stacks[kind], parameters)
                        functions.append(f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function}")
                        source = other["Properties"]["Code"]
                        code.append(f"arn:aws:s3:::{_resolve(source['S3Bucket'], region, '', parameters)}/"
                                    f"{_resolve(source['S3Key'], region, '', parameters)}")
                found.append((name, f"arn:aws:iam::{ACCOUNT}:role/{name}", trusted, functions, code, region))
    return found


def _as_list(value):
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _could(document, action, resource, **keys):
    """Whether the launch policy could allow the request, every unknown key going for the caller."""
    request = Request(action, resource, RequestContext(keys, absent_prefixes=()))
    return evaluate(request, [("launch policy", document)]).possible


POLICIES = [(name, build) for name, build in POLICY_DOCUMENTS if name.startswith("launch-")]
ROLES = setup_roles()


def test_the_templates_make_the_roles_this_gate_knows():
    names = sorted({name.rsplit("-", 3)[0] + "-" for name, *_rest in ROLES})
    assert names == ["AnnexSetup-connectivity-", "AnnexSetup-instance-", "AnnexSetup-lease-"], names
    lease = [r for r in ROLES if r[0].startswith("AnnexSetup-lease-")]
    assert all(len(functions) == 2 and code for _n, _a, _t, functions, code, _r in lease)
    connectivity = [r for r in ROLES if r[0].startswith("AnnexSetup-connectivity-")]
    assert all(len(functions) == 1 and code for _n, _a, _t, functions, code, _r in connectivity)


@pytest.mark.parametrize("policy_name, build", POLICIES, ids=[name for name, _build in POLICIES])
def test_no_launch_policy_reaches_a_setup_role(policy_name, build):
    document = build()
    reached = []
    for name, arn, trusted, functions, code, region in ROLES:
        for service in SERVICES:
            instance_role = trusted == {"ec2.amazonaws.com"}
            if _could(document, "iam:PassRole", arn, **{"iam:PassedToService": service}) and not (
                    instance_role and service == "ec2.amazonaws.com"):
                reached.append(f"iam:PassRole of {name} to {service}")
        reached += [f"{action} on {name}" for action in ROLE_WRITES if _could(document, action, arn)]
        for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"):
            if _could(document, action, f"arn:aws:iam::{ACCOUNT}:policy/any"):
                reached.append(f"{action}, which changes what an attached policy grants")
        for function in functions:
            for resource in (function, f"{function}:$LATEST", f"{function}:1", f"{function}:live"):
                reached += [f"{action} on {resource}" for action in LAMBDA_WRITES if _could(document, action, resource)]
        reached += [f"s3:PutObject on the code package {obj}" for obj in code if _could(document, "s3:PutObject", obj)]
        for stack in _stack_names().values():
            stack_arn = f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{stack}/00000000-0000-0000-0000-000000000000"
            reached += [f"{action} on {stack}" for action in STACK_WRITES if _could(document, action, stack_arn)]
        schedule = f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule/default/any"
        reached += [f"{action}" for action in SCHEDULE_WRITES if _could(document, action, schedule)]
        rule = f"arn:aws:events:{region}:{ACCOUNT}:rule/HTCondorAnnex-any-lease"
        other = f"arn:aws:lambda:{region}:{ACCOUNT}:function:cloudburst-any"
        if _could(document, "events:PutTargets", rule, **{"events:TargetArn": [other]}):
            reached.append("events:PutTargets onto a function other than the setup's lease functions")
    assert not reached, f"{policy_name} lets its user act as a setup role:\n" + "\n".join(sorted(set(reached)))


def test_the_gate_catches_the_old_launch_policy():
    """Not vacuous: the launch policy before this gate granted Lambda writes on function:HTCondorAnnex-* and
    PassRole on role/HTCondorAnnex-* to Lambda; with the setup's old names (inside that prefix) it was reached."""
    old = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:UpdateFunctionCode", "lambda:CreateFunction"],
         "Resource": "arn:aws:lambda:*:*:function:HTCondorAnnex-*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/HTCondorAnnex-*",
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}}},
        {"Effect": "Allow", "Action": "cloudformation:UpdateStack",
         "Resource": "arn:aws:cloudformation:*:*:stack/HTCondorAnnex-*/*"}]}
    old_function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:HTCondorAnnex-LambdaFunctions-odi-lease"
    old_role = f"arn:aws:iam::{ACCOUNT}:role/HTCondorAnnex-LambdaFunctions-LeaseRole-ABC"
    assert _could(old, "lambda:UpdateFunctionCode", old_function)
    assert _could(old, "iam:PassRole", old_role, **{"iam:PassedToService": "lambda.amazonaws.com"})
    stack = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/HTCondorAnnex-LambdaFunctions/x"
    assert _could(old, "cloudformation:UpdateStack", stack)
