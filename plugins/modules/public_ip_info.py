#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: public_ip_info
short_description: Find the public IP address the internet sees for the host that runs this module
version_added: 1.0.0
description:
  - Asks a checkip-style URL (an HTTP GET that answers with the caller's address as plain text) for the
    address that the internet, and so AWS, sees for the host running the module.
  - "Run it on the controller (C(delegate_to: localhost) with C(run_once: true), or in a play on C(localhost))
    to learn the address to put into security-group rules and IAM source-IP allow-lists."
  - Connection errors, timeouts, HTTP 429 and HTTP 5xx answers are retried. An empty body, a body that is
    not exactly one IP address, or another HTTP error fails at once with a message that says what came back.
  - An answer that cannot be anyone's public address fails at once, since an allow-list built from it would
    lock the controller out. The unspecified address (C(0.0.0.0), C(::)), loopback, link-local, multicast
    and reserved addresses are always refused. Any other address that is not globally routable (private
    ranges, shared address space, documentation ranges) is refused unless O(allow_private=true).
author:
  - cloudburst.aws maintainers (@cloudburst)
options:
  url:
    description:
      - The checkip-style URL to ask.
      - It must be an C(https) URL, unless O(allow_insecure_url=true) or its host is a loopback address
        written as an address (C(127.0.0.0/8), C(::1); the name C(localhost) does not count). The answer
        decides the controller's IAM allow-list, and one over plain HTTP can be forged by anyone on the
        network path. A redirect to a plain C(http) URL is refused by the same rule.
    type: str
    default: https://checkip.amazonaws.com/
  allow_insecure_url:
    description:
      - Ask a plain C(http) O(url) that is not on a loopback address, or an C(https) one without checking its
        certificate (O(validate_certs=false), which fails without this option).
      - Anyone on the network path between the controller and that URL can then choose the address the
        module returns, and so the networks an IAM allow-list or a security group lets in. Set it only for a
        service on a network you trust.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each attempt's answer.
    type: float
    default: 10
  retries:
    description:
      - How many more attempts to make after a first one fails with a connection error, a timeout,
        HTTP 429 or HTTP 5xx.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds to wait between attempts.
    type: float
    default: 1
  validate_certs:
    description:
      - Whether to check the TLS certificate of an C(https) URL.
      - V(false) fails unless O(allow_insecure_url=true) too.
    type: bool
    default: true
  allow_private:
    description:
      - Accept an answer that is not globally routable, such as C(10.1.2.3) or C(fd00::5), as the controller's
        address.
      - Set it only when the controller reaches its AWS endpoint over a private network (a VPN, Direct Connect
        or a private endpoint) and O(url) is a service on that network that reports the address the endpoint
        sees. Loopback, link-local, multicast, reserved and unspecified answers stay refused.
    type: bool
    default: false
notes:
  - The address is the one of the network path the request took. Behind a proxy or a NAT gateway, that
    is the proxy's or gateway's address, which is also what AWS sees for API calls made the same way.
seealso:
  - name: checkip.amazonaws.com
    description: The service asked by default.
    link: https://checkip.amazonaws.com/
attributes:
  check_mode:
    support: full
    description: The module only reads and does the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no diff.
"""

EXAMPLES = r"""
- name: Learn the controller's public address
  cloudburst.aws.public_ip_info:
  delegate_to: localhost
  run_once: true
  register: controller_ip

- name: Allow SSH from that address only
  amazon.aws.ec2_security_group:
    name: annex-ssh
    description: SSH from the team's controller
    rules:
      - proto: tcp
        ports: [22]
        cidr_ip: "{{ controller_ip.cidr }}"

- name: Ask a service of your own, with a short timeout and more retries
  cloudburst.aws.public_ip_info:
    url: https://ip.example.org/
    timeout: 3
    retries: 5

- name: A plain-http service on a network you trust (its answer could be forged on the path)
  cloudburst.aws.public_ip_info:
    url: http://whoami.lab.example.org/
    allow_insecure_url: true

- name: The controller reaches AWS over a VPN; a service on that network tells the address AWS sees
  cloudburst.aws.public_ip_info:
    url: https://whoami.vpn.example.org/
    allow_private: true
"""

RETURN = r"""
ip:
  description: The address the URL saw, in its compressed textual form.
  returned: success
  type: str
  sample: 11.22.33.44
version:
  description: The IP version of O(url)'s answer, 4 or 6.
  returned: success
  type: int
  sample: 4
cidr:
  description: The address as a single-host network (/32 for IPv4, /128 for IPv6).
  returned: success
  type: str
  sample: 11.22.33.44/32
is_global:
  description:
    - Whether the address is globally routable. It is false only with O(allow_private=true), for a private
      address.
  returned: success
  type: bool
  sample: true
url:
  description: The URL that was asked.
  returned: always
  type: str
  sample: https://checkip.amazonaws.com/
attempts:
  description: How many requests it took.
  returned: success
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import DEFAULT_CHECKIP_URL
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import PublicIpError
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import find_public_ip
from ansible_collections.cloudburst.aws.plugins.module_utils.public_ip import insecure_url_problem
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import unverified_tls_problem


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default=DEFAULT_CHECKIP_URL),
            timeout=dict(type="float", default=10),
            retries=dict(type="int", default=3),
            retry_delay=dict(type="float", default=1),
            validate_certs=dict(type="bool", default=True),
            allow_private=dict(type="bool", default=False),
            allow_insecure_url=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    url = module.params["url"]
    problem = insecure_url_problem(url, module.params["allow_insecure_url"]) or unverified_tls_problem(
        module.params["validate_certs"], module.params["allow_insecure_url"], url,
        "forge its answer, which decides the controller's IAM allow-list and security groups")
    if problem:
        module.fail_json(msg=problem, url=url)
    if module.params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds", url=url)
    if module.params["retries"] < 0 or module.params["retry_delay"] < 0:
        module.fail_json(msg="retries and retry_delay must not be negative", url=url)

    try:
        result, attempts = find_public_ip(
            module, url, module.params["timeout"], module.params["retries"], module.params["retry_delay"],
            module.params["allow_private"], module.params["allow_insecure_url"],
        )
    except PublicIpError as exc:
        module.fail_json(msg=f"Could not learn the public IP address: {exc}", url=url)
    module.exit_json(changed=False, url=url, attempts=attempts, **result)


if __name__ == "__main__":
    main()
