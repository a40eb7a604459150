# -*- coding: utf-8 -*-
# Copyright: cloudburst.aws contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every input rule the roles check before they change anything, in one registry.

The roles' tasks/validate.yml reach these rules through the filter cloudburst.aws.input_problems and the test
cloudburst.aws.valid_input; they hold no copy of a rule, only the order of the checks and their messages' context.
Each rule is taken from the module that enforces it (a pattern or a check of the EC2 layer, IAM, the key writer or
the annex setup), so a fix there reaches the roles too; the rules no module enforces are written here.

validators.py holds the rules for values written into files on the nodes; modules that run on the nodes import
it, so the controller's rules (and the modules they come from) stay out of it, here.
"""

from __future__ import annotations

import datetime
import ipaddress
import re

from ansible_collections.cloudburst.aws.plugins.module_utils.cfn_stack import REGION_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.credential_files import CredentialFileError
from ansible_collections.cloudburst.aws.plugins.module_utils.credential_files import validate_profile_name
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import INSTANCE_ID_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import INSTANCE_TYPE_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import NAME_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.ec2_instance_group import PRICE_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import PATH_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import POLICY_NAME_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import USER_NAME_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import tag_key_problem
from ansible_collections.cloudburst.aws.plugins.module_utils.iam_common import tag_value_problem
from ansible_collections.cloudburst.aws.plugins.module_utils.launch_policy import PREFIX_PATTERN
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import MAPPING_RULES
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import SCALAR_RULES
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import input_problems as _input_problems
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import pattern_rule
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import text_rule
from ansible_collections.cloudburst.aws.plugins.module_utils.validators import value_problems

_WHOLE_NUMBER = re.compile(r"[0-9]+")
# The cloudburst:lease-end tag's form, which the annex node's lease-end template reads.
LEASE_END_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_PORT = 65535
_HOURS = re.compile(r"[0-9]+(\.[0-9]+)?")
MAX_LEASE_HOURS = 8760
# EventBridge's schedule expressions for a rule: rate(N unit) or cron(six fields).
_SCHEDULE = re.compile(r"rate\([1-9][0-9]{0,4} (minute|minutes|hour|hours|day|days)\)|cron\([0-9A-Za-z*?,/#\- ]{1,200}\)")


def _problem_of(check, error):
    """A rule from a check that raises error with its reason."""
    def rule(value):
        try:
            check(value)
        except error as exc:
            return str(exc)
        return None
    return rule


def _port(text):
    """The port number text names (no sign, blank or leading zero), or None."""
    if not _WHOLE_NUMBER.fullmatch(text) or str(int(text)) != text:
        return None
    return int(text) if 1 <= int(text) <= MAX_PORT else None


def _port_range(text):
    """A TCP port (7077) or a range of them, first to last (7100-7115)."""
    ports = [_port(part) for part in text.split("-")]
    return len(ports) in (1, 2) and None not in ports and ports[0] <= ports[-1]


def _network(text, versions=(4, 6)):
    """A network written as ADDRESS/PREFIX (host bits may be set), or None."""
    address, slash, prefix = text.partition("/")
    if not slash or not _WHOLE_NUMBER.fullmatch(prefix) or str(int(prefix)) != prefix:
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    # An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is not a form security groups and IAM conditions take.
    if network.version not in versions or (network.version == 6 and "." in address):
        return None
    return network


def _lease_end(text):
    """Epoch seconds, or a UTC time written as the cloudburst:lease-end tag writes it."""
    if _WHOLE_NUMBER.fullmatch(text):
        return True
    try:
        datetime.datetime.strptime(text, LEASE_END_FORMAT)
    except ValueError:
        return False
    return True


def _lease_hours(text):
    """A number of hours from 0 (no lease) to a year, with an optional fraction."""
    return bool(_HOURS.fullmatch(text)) and float(text) <= MAX_LEASE_HOURS


def is_world_cidr(value):
    """Whether value is a network of prefix length 0 (any address before the /0): the whole internet."""
    _address, slash, prefix = ("" if value is None else str(value)).strip().partition("/")
    return bool(slash and prefix.isascii() and prefix.isdigit() and int(prefix) == 0)


# Rules for one value that the controller checks: rule name -> function(value) -> why not, or None.
CONTROLLER_RULES = {
    # The EC2 layer's (ec2_instance_group.py).
    "cluster": pattern_rule(NAME_PATTERN, "1 to 63 letters, digits, '-' or '_', starting with a letter or digit"),
    "instance_type": pattern_rule(INSTANCE_TYPE_PATTERN, "an instance type (family.size, such as t3.medium)"),
    "spot_price": pattern_rule(PRICE_PATTERN, "a price in USD per hour (such as 0.05)"),
    "instance_id": pattern_rule(INSTANCE_ID_PATTERN, "an instance id such as i-0123456789abcdef0"),
    # The annex setup's (cfn_stack.py).
    "region": pattern_rule(REGION_PATTERN, "an AWS region name such as us-east-1"),
    # IAM's (iam_common.py, launch_policy.py) and the key writer's (credential_files.py).
    "iam_user_name": pattern_rule(USER_NAME_PATTERN, "1 to 64 ASCII letters, digits and the characters +=,.@_-"),
    "iam_policy_name": pattern_rule(POLICY_NAME_PATTERN, "1 to 128 ASCII letters, digits and the characters +=,.@_-"),
    "iam_path": pattern_rule(PATH_PATTERN, "a path that starts and ends with / and holds only printable ASCII"),
    "iam_tag_key": tag_key_problem,
    "iam_tag_value": tag_value_problem,
    "resource_prefix": pattern_rule(PREFIX_PATTERN, "1 to 64 ASCII letters, digits and the characters +=,.@_-"),
    "profile_name": _problem_of(validate_profile_name, CredentialFileError),
    # Written here: no module takes these values; the roles pass them to AWS, condor_annex or the Spark download.
    "whole_number": pattern_rule(_WHOLE_NUMBER, "a whole number, 0 or more"),
    "positive_number": text_rule(lambda text: bool(_WHOLE_NUMBER.fullmatch(text)) and int(text) > 0,
                                 "a whole number of at least 1"),
    "port_range": text_rule(_port_range, "a TCP port from 1 to 65535 or a range FROM-TO of them, FROM <= TO"),
    "ipv4_cidr": text_rule(lambda text: _network(text, (4,)) is not None, "an IPv4 CIDR such as 10.42.0.0/16"),
    "cidr": text_rule(lambda text: _network(text) is not None,
                      "an IPv4 or IPv6 CIDR such as 203.0.113.7/32 or 2001:db8::/64"),
    "lease_end": text_rule(_lease_end, "a UTC time such as 2026-11-25T14:05:00Z, or epoch seconds"),
    # S3's rule for bucket names (condor_annex -setup creates the bucket).
    "s3_bucket_name": pattern_rule(re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
                                   "3 to 63 lower-case letters, digits, '.' and '-'"),
    "key_pair_name": pattern_rule(re.compile(r"[A-Za-z0-9_.:/=+-]{1,255}"),
                                  "1 to 255 letters, digits and the characters _.:/=+-"),
    # EventBridge rule names are at most 64 characters; the annex setup appends its own suffix to the prefix.
    "rule_name_prefix": pattern_rule(re.compile(r"[A-Za-z0-9._-]{1,40}"), "1 to 40 letters, digits, '.', '-' or '_'"),
    "spark_checksum": pattern_rule(re.compile(r"sha512:[0-9a-f]{128}"), "sha512: and 128 lower-case hex digits"),
    "spark_package": pattern_rule(re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"), "a Spark package name such as hadoop3"),
    # EC2 takes any key pair name of printable ASCII (one you bring); key_pair_name is the stricter one the annex
    # setup makes.
    "ec2_key_pair_name": pattern_rule(re.compile(r"[ -~]{1,255}"), "1 to 255 printable ASCII characters"),
    "ami_id": pattern_rule(re.compile(r"ami-[0-9a-f]{8,17}"), "an image id such as ami-0123456789abcdef0"),
    "lease_hours": text_rule(_lease_hours, f"a number of hours from 0 to {MAX_LEASE_HOURS} (such as 8 or 1.5)"),
    "schedule_expression": pattern_rule(_SCHEDULE, "an EventBridge rate(...) or cron(...) expression"),
    "lambda_function_arn": pattern_rule(
        re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}"),
        "a Lambda function's ARN such as arn:aws:lambda:us-east-1:123456789012:function:name"),
}
RULES = sorted(set(SCALAR_RULES) | set(MAPPING_RULES) | set(CONTROLLER_RULES))


def input_problems(values, rule, secret=False, allow_empty=False):
    """The problems of every variable in values (a dict of variable name to value) under rule, in order."""
    return _input_problems(values, rule, secret, allow_empty, CONTROLLER_RULES)


def valid_input(value, rule, allow_empty=False):
    """Whether value passes rule (a dictionary rule: whether the whole dictionary passes)."""
    return not value_problems(rule, "value", value, allow_empty=allow_empty, more_rules=CONTROLLER_RULES)
