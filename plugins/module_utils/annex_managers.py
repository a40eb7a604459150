# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The managers of the annex modules (htcondor_annex_check, htcondor_annex_status, htcondor_annex_reaper), for the
one runner (aws_module.run_manager). annex_lease.py stays self-contained (it is the lease function's code too), so
its LeaseError becomes an AnnexError here."""

from __future__ import annotations

import datetime
import os

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudburst.aws.plugins.module_utils.annex_check import SetupChecker
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import LeaseError
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import check_annex_name
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import check_cluster_name
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import judging_time
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import reap
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_lease import reap_clusters
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_status import LIVE_STATES
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_status import annexes
from ansible_collections.cloudburst.aws.plugins.module_utils.annex_status import describe
from ansible_collections.cloudburst.aws.plugins.module_utils.aws_module import AwsManager
from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import check_region
from ansible_collections.cloudburst.aws.plugins.module_utils.errors import CloudburstError


class AnnexError(CloudburstError):
    """Bad input to an annex module (an annex or cluster name, a time), or a lease that could not be enforced."""


class AnnexCheckManager(AwsManager):
    """htcondor_annex_check: condor_annex -check-setup done safely (SetupChecker); read calls only."""

    failure = "Could not read the annex setup"
    reports_changes = False

    def run(self):
        p = self.params

        def connect(service, region):
            check_region(region)
            return self.module.client(service, region=region, retry_decorator=AWSRetry.jittered_backoff())

        self.checker = SetupChecker(connect, os.getuid(), p["config_file"], region=self.module.region,
                                    central_manager_cidrs=p["central_manager_cidrs"], ssh_allowlist=p["ssh_allowlist"],
                                    supported_runtimes=p["supported_runtimes"],
                                    owner_tags={str(k): str(v) for k, v in p["owner_tags"].items()})
        self.failure_extra = dict(items=self.checker.items, ok=False, foreign_stacks=self.checker.foreign)
        checker = self.checker
        checker.run()
        result = dict(changed=False, ok=checker.ok, summary=checker.summary(), items=checker.items,
                      region=checker.region or "", foreign_stacks=checker.foreign,
                      stock_annex_nodes=checker.stock_nodes())
        if p["fail_on_problem"] and not checker.ok:
            self.failure_extra = result
            raise AnnexError(checker.summary())
        return result


class AnnexStatusManager(AwsManager):
    """htcondor_annex_status: the annexes' instances, slots and leases; read calls only."""

    failure = "Could not describe the annex instances"
    reports_changes = False

    def run(self):
        p = self.params
        if p["annex_name"] is not None:
            try:
                check_annex_name(p["annex_name"])
            except LeaseError as exc:
                raise AnnexError(str(exc))
        instances = describe(self.module.client("ec2", retry_decorator=AWSRetry.jittered_backoff()), p["annex_name"])
        if not p["include_terminated"]:
            instances = [i for i in instances if i["State"]["Name"] in LIVE_STATES]
        now = datetime.datetime.now(datetime.timezone.utc)
        return dict(changed=False, annexes=annexes(instances, p["slots"], now=now))


class AnnexReaperManager(AwsManager):
    """htcondor_annex_reaper: end what is past its lease (an annex's instances and objects, or a leased
    cluster's instances); in check mode only say what would end."""

    reports_changes = False

    def run(self):
        p = self.params
        try:
            if p["annex_name"] is not None:
                check_annex_name(p["annex_name"])
            if p["cluster"] is not None:
                check_cluster_name(p["cluster"])
            now = judging_time(p["now"], dry_run=self.check_mode)
            return self.reap(now)
        except (LeaseError, RuntimeError) as exc:
            raise AnnexError(str(exc))

    def reap(self, now):
        p = self.params
        retry = AWSRetry.jittered_backoff()
        ec2 = self.module.client("ec2", retry_decorator=retry)
        if p["cluster"] is not None:
            self.failure = f"Could not enforce the lease of cluster {p['cluster']}"
            result = reap_clusters(ec2, now, cluster=p["cluster"], dry_run=self.check_mode)
            result.pop("dry_run")
            ended = result["terminated"] + result["stopped"]
            diff = {"before": {"instances": ended}, "after": {"instances": []}}
            return dict(changed=bool(ended), diff=diff, **result)
        self.failure = "Could not enforce the annex leases"
        s3 = self.module.client("s3", retry_decorator=retry)
        result = reap(ec2, s3, p["bucket"], now, annex_name=p["annex_name"], dry_run=self.check_mode)
        result.pop("dry_run")
        changed = bool(result["terminated"] or result["deleted"])
        diff = {"before": {"instances": result["terminated"], "objects": result["deleted"]},
                "after": {"instances": [], "objects": []}}
        return dict(changed=changed, diff=diff, **result)
