# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one contract of every AWS module of this collection: AnsibleAWSModule with validate_certs=false only with
allow_insecure_url (documented by the doc fragment cloudburst.aws.insecure_tls), a manager that does the work,
and run_manager, the one runner that turns every failure into fail_json, never a traceback."""

from __future__ import annotations

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import unverified_tls_problem

ALLOW_INSECURE_URL_SPEC = {"allow_insecure_url": {"type": "bool", "default": False}}


class CloudburstAWSModule(AnsibleAWSModule):
    """AnsibleAWSModule that fails before any AWS call when validate_certs is false (given to the task, or
    through module_defaults for group/cloudburst.aws.aws) without allow_insecure_url."""

    def __init__(self, **kwargs):
        kwargs["argument_spec"] = dict(kwargs.get("argument_spec") or {}, **ALLOW_INSECURE_URL_SPEC)
        super().__init__(**kwargs)
        problem = unverified_tls_problem(
            self.params.get("validate_certs"), self.params.get("allow_insecure_url"), "the AWS endpoint",
            "read every answer (a new access key's secret among them) and forge it",
            "Give the endpoint's CA in aws_ca_bundle instead. ")
        if problem:
            self.fail_json(msg=problem)


class AwsManager:
    """The one contract of this collection's managers.

    A manager checks all input in validate() (raising a CloudburstError, before any call that writes); run()
    then does what the task asks and returns what the module reports: by default ensure_present() or
    ensure_absent() by the task's state, each returning one (before, after) pair for the result and diff.
    Every write goes through change(): the change is recorded, and AWS is called only outside check mode, so
    check mode is honoured in this one place.
    """

    # fail_json_aws's message when an AWS call fails; {what} is what run_manager was told the task is about. A
    # manager whose steps fail differently sets it before each step.
    failure = "AWS call failed for {what}"
    # Whether the module reports changes (a failure then says what was done before it).
    reports_changes = True
    # Error codes that mean a removal's object is already gone (for change(gone_ok=True)).
    gone_codes = ()

    def __init__(self, module, client=None, sts_client=None):
        self.module = module
        self.client = client
        self.sts = sts_client
        self.params = module.params
        self.check_mode = module.check_mode
        self.changes = []  # human-readable list of what was (or would be) done
        self.warnings = []
        self.failure_extra = {}  # more a failure reports (a refusal's context), set before raising

    def change(self, description, call=None, gone_ok=False, **kwargs):
        """Record one change and, outside check mode, make the AWS call that does it (with retries).

        With gone_ok, a removal that finds its object gone (gone_codes) is done: the retry of a call whose
        first answer was lost after AWS acted must not fail the task.
        Returns the call's response, or None in check mode or without a call.
        """
        self.changes.append(description)
        if self.check_mode or call is None:
            return None
        try:
            return call(aws_retry=True, **kwargs)
        except ClientError as exc:
            if not gone_ok or exc.response.get("Error", {}).get("Code") not in self.gone_codes:
                raise
            return None

    def validate(self):
        """Check every input; raise a CloudburstError. No AWS call that writes may happen here."""

    def run(self):
        """Validate, then do what the task asks."""
        self.validate()
        if self.params.get("state", "present") == "present":
            return self.ensure_present()
        return self.ensure_absent()

    def ensure_present(self):
        raise NotImplementedError

    def ensure_absent(self):
        raise NotImplementedError

    def failure_result(self):
        """What a failed task reports beside its message: what was done before the failure (a manager that
        changes nothing, reports_changes false, reports nothing more)."""
        result = {"changes": self.changes} if self.reports_changes else {}
        result.update(self.failure_extra)
        return result

    def local_error_message(self, exc, what):
        """The message for an OSError: a file on the controller changed under the task (or a permission it
        lacked); say which."""
        return f"{what}: {exc.strerror or exc} ({exc.filename or 'a local file'})"

    def result(self, before, after):
        """The module result: changed, changes and, in diff mode, the diff."""
        result = dict(changed=bool(self.changes), changes=self.changes)
        if self.module._diff:
            result["diff"] = dict(before=before or {}, after=after or {})
        return result


def run_manager(module, manager, what, call=None):
    """call() (manager.run unless another of its methods is given) for the module; the manager's warnings go to
    Ansible on success and failure alike, and every failure is fail_json with what was done so far (the
    manager's failure_result()), never a traceback.

    Returns what call() returns (for run(): the (before, after) pair of ensure_present() or ensure_absent()).
    """
    failure = None
    try:
        result = (call or manager.run)()
    except CloudburstError as exc:
        failure = {"msg": str(exc)}
    except (BotoCoreError, ClientError) as exc:
        failure = {"exception": exc, "msg": manager.failure.replace("{what}", what)}
    except OSError as exc:
        failure = {"msg": manager.local_error_message(exc, what)}
    for warning in manager.warnings:
        module.warn(warning)
    if failure is None:
        return result
    failure.update(manager.failure_result())
    exception = failure.pop("exception", None)
    if exception is not None:
        module.fail_json_aws(exception, **failure)
    module.fail_json(**failure)
    return None  # not reached: fail_json exits
