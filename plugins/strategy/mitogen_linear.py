# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: Ansible's linear strategy, run through Mitogen when Mitogen is installed
version_added: 1.0.0
description:
  - The linear strategy (every host finishes a task before any host starts the next) with Mitogen for Ansible's
    connection layer, when the Python package C(mitogen) is installed on the controller. Mitogen keeps one
    Python interpreter per host for the whole run and sends each module and module_utils file to a host once,
    instead of one self-contained AnsiballZ payload per task.
  - For cloudburst.aws this is what keeps configuring a node cheap for the controller. Spark on EC2
    (C(playbooks/spark_ec2.yml)) sends about 0.7 MB per added worker through it, against about 3.7 MB with
    the stock linear strategy, and a no-change re-run takes about a quarter of the launch's time.
  - When Mitogen cannot be imported (not installed, or refusing this ansible-core at import), it is the stock
    C(ansible.builtin.linear) strategy and warns once per run, naming the reason; the play runs the same tasks
    either way. A Mitogen that imports but fails on a newer ansible-core fails the play instead; choose
    C(ansible.builtin.linear) then.
  - "Choose it per play with C(strategy: cloudburst.aws.mitogen_linear). The plays of C(playbooks/spark_ec2.yml)
    use it unless C(cloudburst_strategy) names another strategy (for example C(ansible.builtin.linear)). A play's
    strategy is settled before any host is looked at, so only extra vars (C(-e)) and play-level vars set
    C(cloudburst_strategy); inventory and group vars do not, and C(ANSIBLE_STRATEGY) does not override it."
notes:
  - Mitogen replaces how tasks reach hosts, not what they do. Check mode, diff mode and the censoring of
    C(no_log) results are Ansible's own and unchanged.
  - SSH. With C(host_key_checking) on (the collection's C(ansible.cfg) sets it) Mitogen runs ssh with
    C(StrictHostKeyChecking yes) followed by C(ssh_args) and the inventory's C(ansible_ssh_common_args), so the
    cluster's known_hosts file, C(HostKeyAlias) and C(IdentitiesOnly) apply as with the stock ssh plugin (tested
    against launched hosts, a wrong key included). With it off, Mitogen also points ssh at C(/dev/null) for
    known hosts, so no known_hosts file is read at all; the hosts the collection's EC2 roles add carry
    C(ansible_host_key_checking=true), which a global setting does not override. Mitogen always asks ssh for
    compression; the host
    variable C(mitogen_ssh_compression=false) turns it off.
  - Become. Only C(sudo), C(su) and C(doas) work through Mitogen, with a subset of sudo's flags; one root
    interpreter per host lives for the run, so sudo logs one start per host, not one per task.
  - Connections. Mitogen takes over only unqualified C(ssh), C(local), C(podman), C(docker), C(buildah),
    C(lxc), C(lxd), C(jail), C(kubectl), C(machinectl) and C(setns); fully qualified names such as
    C(ansible.builtin.ssh) and other plugins run as Ansible ships them.
  - Files on the host. There is no AnsiballZ file; a task that needs a temporary directory gets an
    C(ansible_mitogen_runner_*) directory under the remote temporary directory, removed after the task, and
    copies go through C(.ansible_mitogen_transfer-*) files.
  - Secrets. Do not set C(MITOGEN_LOG_LEVEL=debug) with C(-vvv) for a play that handles secrets; Mitogen's debug
    log then records every call's arguments, those of C(no_log) tasks and a become password included.
  - ansible-core 2.19 prints a deprecation warning for every strategy plugin outside C(ansible.builtin) and sets no
    removal version. If a later ansible-core drops them, choose C(ansible.builtin.linear).
  - The collection lists C(mitogen) with its other Python requirements in C(meta/ee-requirements.txt), which
    C(meta/execution-environment.yml) names for ansible-builder; C(pip install -r) that file on a controller.
seealso:
  - name: Mitogen for Ansible
    description: The project's documentation of its Ansible extension.
    link: https://mitogen.networkgenomics.com/ansible_detailed.html
author:
  - cloudburst.aws maintainers (@cloudburst)
"""

from ansible.errors import AnsibleError
from ansible.plugins.loader import strategy_loader
from ansible.utils.display import Display

display = Display()

MITOGEN_ERROR = None
try:
    # ansible_mitogen.loaders checks the running ansible-core and raises AnsibleError for one it does not support.
    import ansible_mitogen.loaders  # noqa: F401  pylint: disable=unused-import
    import ansible_mitogen.strategy
except (ImportError, AnsibleError) as exc:  # no package; or Mitogen's own check of the ansible-core version
    MITOGEN_ERROR = exc

Linear = strategy_loader.get("ansible.builtin.linear", class_only=True)

if MITOGEN_ERROR is None:
    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Linear):
        """Linear, with Mitogen's connection layer."""

else:
    class StrategyModule(Linear):
        """Linear as Ansible ships it; Mitogen could not be loaded."""

        def run(self, iterator, play_context):
            display.warning(
                "cloudburst.aws.mitogen_linear runs as ansible.builtin.linear: Mitogen could not be loaded "
                f"({MITOGEN_ERROR.__class__.__name__}: {MITOGEN_ERROR}). Each task now sends its own module "
                "payload; install mitogen as the collection's meta/ee-requirements.txt names it (pip install -r "
                "<collection>/meta/ee-requirements.txt), or choose "
                "ansible.builtin.linear (for the collection's playbooks -e cloudburst_strategy=ansible.builtin.linear) "
                "to silence this warning."
            )
            return super().run(iterator, play_context)
