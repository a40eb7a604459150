# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""CloudFormation stacks deployed only when their template, parameters or tags differ (on moto the amazon.aws
cloudformation module always updates, and real CloudFormation answers an unchanged update with an error), so a
re-run makes no write call; and the regions CloudFormation is offered in."""

from __future__ import annotations

import json
import re

try:
    import botocore.session
    from botocore.exceptions import WaiterError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import AwsManager
from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError

GOOD_STACK_STATES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+\Z")


class StackError(CloudburstError):
    """Bad input (an unknown region) or a refused stack, found before any call that writes."""


def known_regions():
    """Every region botocore knows CloudFormation in (all partitions)."""
    session = botocore.session.get_session()
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("cloudformation", partition_name=partition))
    return regions


def check_region(region):
    """The region, or StackError naming the problem."""
    if not region:
        raise StackError("No AWS region given: set region (or AWS_REGION); condor_annex needs one too.")
    if not REGION_PATTERN.match(region) or region not in known_regions():
        raise StackError(
            f"Unknown AWS region {region!r}: CloudFormation is not offered there (known regions look like "
            "us-east-1 or eu-west-1). Nothing was changed."
        )
    return region


def cfn_retry():
    return AWSRetry.jittered_backoff(catch_extra_error_codes=["Throttling"])


def _normalise_template(body):
    """A template body for comparison: JSON by meaning, anything else (YAML) by text without trailing blanks."""
    if isinstance(body, dict):
        return json.dumps(body, sort_keys=True)
    try:
        return json.dumps(json.loads(body), sort_keys=True)
    except (TypeError, ValueError):
        return "\n".join(line.rstrip() for line in str(body).strip().splitlines())


def describe_stack(client, name):
    """The stack's description, or None when there is none (deleted stacks do not count)."""
    try:
        stacks = client.describe_stacks(aws_retry=True, StackName=name)["Stacks"]
    except is_boto3_error_code("ValidationError"):
        return None
    stacks = [s for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
    return stacks[0] if stacks else None


def stack_outputs(stack):
    return {o["OutputKey"]: o.get("OutputValue", "") for o in (stack or {}).get("Outputs") or []}


def stack_parameters(stack):
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters") or []}


def stack_tags(stack):
    return {t["Key"]: t["Value"] for t in (stack or {}).get("Tags") or []}


def stack_view(stack, template=None):
    """What the module reports and diffs for one stack."""
    if not stack:
        return {}
    view = {
        "stack_name": stack["StackName"],
        "stack_id": stack.get("StackId"),
        "status": stack.get("StackStatus"),
        "parameters": stack_parameters(stack),
        "outputs": stack_outputs(stack),
        "tags": stack_tags(stack),
    }
    if template is not None:
        view["template_body"] = template
    return view


def not_owned(stack, owner_tags):
    """None when the stack carries owner_tags (or none are asked for); else what it has instead, in words."""
    tags = stack_tags(stack)
    missing = {k: v for k, v in (owner_tags or {}).items() if tags.get(k) != v}
    if not missing:
        return None
    found = "tags " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) if tags else \
        "no tags (stock condor_annex -setup tags none)"
    return f"it has {found}, not {', '.join(f'{k}={v}' for k, v in sorted(missing.items()))}"


class StackDeployer:
    """Create, update or delete one stack, but only when what is deployed differs from what is asked.

    With owner_tags, a stack that exists without them was made by someone else (stock condor_annex -setup, for
    example): it is refused before any write, or, with replace_foreign, deleted and created from the template.
    """

    def __init__(self, module, client, owner_tags=None, replace_foreign=False):
        self.module = module
        self.client = client
        self.owner_tags = owner_tags or {}
        self.replace_foreign = replace_foreign
        self.changes = []
        self.replaced = False
        self.retained = []

    def foreign(self, stack):
        """None when the stack is this caller's; else why not, in words."""
        why = not_owned(stack, self.owner_tags) if stack else None
        return f"stack {stack['StackName']} was not made here: {why}" if why else None

    def refuse_or_replace(self, stack):
        """A foreign stack: StackError without replace_foreign; else delete it (in check mode only say so)."""
        why = self.foreign(stack)
        if why is None:
            return stack
        name = stack["StackName"]
        if not self.replace_foreign:
            raise StackError(
                f"Refusing to change {why}. Set replace_foreign to delete it and create it from this template, or "
                "delete it yourself. Nothing was changed.")
        self.changes.append(f"replace stack {name}: {why}")
        if not self.module.check_mode:
            self.delete_keeping_what_cannot_go(name)
        self.replaced = True
        return None

    def delete_keeping_what_cannot_go(self, name):
        """Delete a stack; when CloudFormation cannot delete some of its resources (a bucket that still holds
        objects, for example), delete it again keeping them, and say so."""
        self.client.delete_stack(aws_retry=True, StackName=name)
        try:
            self._wait(name, "stack_delete_complete")
            return
        except WaiterError:
            stack = describe_stack(self.client, name)
            if not stack or stack["StackStatus"] != "DELETE_FAILED":
                raise
        resources = self.client.describe_stack_resources(aws_retry=True, StackName=name)["StackResources"]
        failed = [r for r in resources if r.get("ResourceStatus") == "DELETE_FAILED"]
        self.client.delete_stack(aws_retry=True, StackName=name, RetainResources=[r["LogicalResourceId"] for r in failed])
        self._wait(name, "stack_delete_complete")
        for resource in failed:
            kept = f"{resource['ResourceType']} {resource.get('PhysicalResourceId') or resource['LogicalResourceId']}"
            self.retained.append(kept)
            self.changes.append(f"kept {kept} of stack {name}: CloudFormation could not delete it "
                                f"({resource.get('ResourceStatusReason') or 'no reason given'})")

    def deployed_template(self, name):
        body = self.client.get_template(aws_retry=True, StackName=name, TemplateStage="Original")["TemplateBody"]
        return body if isinstance(body, str) else json.dumps(body, indent=1)

    def differences(self, stack, template, parameters, tags):
        """What differs between the deployed stack and the wanted one (empty: nothing to do)."""
        found = []
        if _normalise_template(self.deployed_template(stack["StackName"])) != _normalise_template(template):
            found.append("template")
        deployed = stack_parameters(stack)
        for key, value in parameters.items():
            if deployed.get(key) != value:
                found.append(f"parameter {key}")
        if stack_tags(stack) != tags:
            found.append("tags")
        if stack["StackStatus"] not in GOOD_STACK_STATES:
            found.append(f"status {stack['StackStatus']}")
        return found

    def _wait(self, name, waiter_name):
        params = self.module.params
        waiter = self.client.get_waiter(waiter_name)
        delay = max(1, params["wait_delay"])
        waiter.wait(StackName=name, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, params["wait_timeout"] // delay)})

    def failure_reasons(self, name):
        """Why a stack failed: the reasons of its failed events, newest first (at most five)."""
        events = self.client.describe_stack_events(aws_retry=True, StackName=name).get("StackEvents") or []
        reasons = [f"{e.get('LogicalResourceId')}: {e.get('ResourceStatusReason')}" for e in events
                   if str(e.get("ResourceStatus", "")).endswith("FAILED") and e.get("ResourceStatusReason")]
        return reasons[:5]

    def ensure_present(self, name, template, parameters, tags, capabilities):
        stack = describe_stack(self.client, name)
        before = stack_view(stack, self.deployed_template(name) if stack else None)
        tags = dict(tags, **self.owner_tags)
        stack = self.refuse_or_replace(stack)
        api_parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())]
        api_tags = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        if stack and stack["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
            # A stack whose creation failed cannot be updated; CloudFormation wants it deleted first.
            self.changes.append(f"delete stack {name} left in {stack['StackStatus']}")
            if not self.module.check_mode:
                self.client.delete_stack(aws_retry=True, StackName=name)
                self._wait(name, "stack_delete_complete")
            stack = None
        if stack is None:
            self.changes.append(f"create stack {name}")
            if self.module.check_mode:
                return before, {"stack_name": name, "parameters": parameters, "tags": tags, "template_body": template}
            self.client.create_stack(aws_retry=True, StackName=name, TemplateBody=template, Parameters=api_parameters,
                                     Tags=api_tags, Capabilities=capabilities, OnFailure="ROLLBACK")
            waiter = "stack_create_complete"
        else:
            differences = self.differences(stack, template, parameters, tags)
            if not differences:
                return before, before
            self.changes.append(f"update stack {name}: {', '.join(differences)}")
            if self.module.check_mode:
                return before, dict(before, parameters=dict(before["parameters"], **parameters), tags=tags,
                                    template_body=template)
            try:
                self.client.update_stack(aws_retry=True, StackName=name, TemplateBody=template,
                                         Parameters=api_parameters, Tags=api_tags, Capabilities=capabilities)
            except is_boto3_error_code("ValidationError") as exc:
                if "No updates are to be performed" not in str(exc):
                    raise
                self.changes.pop()
                return before, before
            waiter = "stack_update_complete"
        if self.module.params["wait"]:
            self._wait(name, waiter)
        stack = describe_stack(self.client, name)
        return before, stack_view(stack, template)

    def ensure_absent(self, name):
        stack = describe_stack(self.client, name)
        if stack is None:
            return {}, {}
        before = stack_view(stack)
        if self.foreign(stack) is not None:
            self.refuse_or_replace(stack)  # refuses, or deletes it
            return before, {}
        self.changes.append(f"delete stack {name}")
        if not self.module.check_mode:
            self.client.delete_stack(aws_retry=True, StackName=name)
            if self.module.params["wait"]:
                self._wait(name, "stack_delete_complete")
        return before, {}


class StackManager(AwsManager):
    """cloudformation_stack: one stack present or absent through StackDeployer, in a region CloudFormation is
    offered in (checked before the client is made)."""

    def run(self):
        p = self.params
        name = p["name"]
        self.failure = f"CloudFormation call failed for stack {name}"
        check_region(self.module.region)
        parameters = {str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v)
                      for k, v in p["parameters"].items()}
        tags = {str(k): str(v) for k, v in p["tags"].items()}
        owner_tags = {str(k): str(v) for k, v in p["owner_tags"].items()}
        self.client = self.module.client("cloudformation", retry_decorator=cfn_retry())
        deployer = StackDeployer(self.module, self.client, owner_tags, p["replace_foreign"])
        self.changes = deployer.changes
        try:
            if p["state"] == "present":
                before, after = deployer.ensure_present(name, p["template_body"], parameters, tags, p["capabilities"])
            else:
                before, after = deployer.ensure_absent(name)
        except WaiterError as exc:
            reasons = deployer.failure_reasons(name)
            raise StackError(f"Stack {name} did not complete: {exc}. Reasons: {'; '.join(reasons) or 'none given'}")
        self.warnings += [change for change in self.changes if change.startswith(("replace stack", "kept "))]
        result = dict(changed=bool(self.changes), changes=self.changes, replaced=deployer.replaced,
                      retained_resources=deployer.retained,
                      stack={k: v for k, v in after.items() if k != "template_body"})
        if self.module._diff:
            result["diff"] = dict(before=before, after=after)
        return result
