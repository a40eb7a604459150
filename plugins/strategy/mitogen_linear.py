# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: Ansible's linear strategy, run through Mitogen when Mitogen is installed
version_added: 0.1.2
description:
  - The linear strategy (every host finishes a task before any host starts the next) with Mitogen for Ansible's
    connection layer, when the Python package C(mitogen) is installed on the controller. Mitogen keeps one
    Python interpreter per host for the whole run and sends each module and module_utils file to a host once,
    instead of one self-contained AnsiballZ payload per task.
  - For cloudburst.aws this is what keeps configuring a node cheap for the controller. Spark on EC2
    (C(playbooks/spark_ec2.yml)) sends about 0.7 MB per added worker through it, against about 3.7 MB with
    the stock linear strategy, and a no-change re-run takes about a quarter of the launch's time.
  - Without Mitogen, or with a Mitogen that refuses this ansible-core, it is the stock
    C(ansible.builtin.linear) strategy and warns once, naming the reason; the play runs the same tasks
    with the same results either way.
  - "Choose it per play with C(strategy: cloudburst.aws.mitogen_linear). The collection's Spark on EC2 playbooks
    use it unless C(cloudburst_strategy) names another strategy (for example C(ansible.builtin.linear))."
notes:
  - Mitogen replaces how tasks reach hosts, not what they do. Become, check mode, diff mode, C(no_log) and the
    SSH options of the inventory (C(ansible_ssh_common_args), known_hosts, C(IdentitiesOnly)) keep their
    meaning. Connections other than C(ssh), C(local) and the few others Mitogen knows run through Ansible's
    own plugins.
  - The controller pins C(mitogen) in the collection's C(requirements.txt) with the other Python tooling.
seealso:
  - name: Mitogen for Ansible
    description: The project's documentation of its Ansible extension.
    link: https://mitogen.networkgenomics.com/ansible_detailed.html
author:
  - cloudburst.aws maintainers (@cloudburst)
"""

from ansible.plugins.loader import strategy_loader
from ansible.utils.display import Display

display = Display()

MITOGEN_ERROR = None
try:
    # ansible_mitogen.loaders checks the running ansible-core and raises AnsibleError for one it does not support.
    import ansible_mitogen.loaders  # noqa: F401  pylint: disable=unused-import
    import ansible_mitogen.strategy
# ImportError without the package; AnsibleError from Mitogen's check of the ansible-core version.
except Exception as exc:  # pylint: disable=broad-except
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
                "payload; install the mitogen version pinned in the collection's requirements.txt, or set "
                "cloudburst_strategy=ansible.builtin.linear to choose this and silence the warning."
            )
            return super().run(iterator, play_context)
