# -*- coding: utf-8 -*-
"""Mirror the EC2 instances of the local AWS endpoint (moto) as systemd podman containers.

    tools/local-aws -- tools/local-cloud --loop -- ansible-playbook -i .build/local-cloud/inventory.json play.yml
    tools/local-cloud            # one reconcile pass (endpoint and keys from `source .build/local-aws.env`)
    tools/local-cloud --loop     # reconcile every --interval seconds until Ctrl-C
    tools/local-cloud --clean    # remove this endpoint's containers

Every pending or running instance tagged --tag-key=--tag-value becomes a container named after its
instance id, on a podman network with its subnet's CIDR, at its private IP; its user data runs once after
the first boot and its key pair lets admin (with sudo) in over SSH, as on Debian's AMIs. Its security groups,
as moto holds them, filter its traffic (nftables rules in its network namespace; --no-filter leaves it open).
A container whose
instance stops is stopped and kept, and starts again (same address, same files) when the instance runs
again; one whose instance is terminated or gone is removed; a container that powers itself off gets its
instance's InstanceInitiatedShutdownBehavior applied (terminate or stop). --cluster NAME (repeatable) mirrors
only instances tagged cloudburst:cluster=NAME and touches only their containers; by default every managed
instance of the endpoint is mirrored. After each pass the inventory file lists the
running hosts by instance id with the podman connection, grouped by the values of the --group-tag tags.

With a command, the loop runs while the command runs; the command gets CLOUDBURST_LOCAL_CLOUD_INVENTORY,
and the containers are removed when it ends (the endpoint's instances end with tools/local-aws) unless
--keep is given. Only a 127.0.0.1 endpoint is accepted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from rig import localcloud


def main():
    parser = argparse.ArgumentParser(prog="tools/local-cloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loop", action="store_true", help="reconcile until Ctrl-C or until COMMAND ends")
    parser.add_argument("--clean", action="store_true", help="remove this endpoint's containers and exit")
    parser.add_argument("--keep", action="store_true", help="keep the containers when COMMAND ends")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between passes (default %(default)s)")
    parser.add_argument("--no-filter", action="store_true",
                        help="do not filter the containers' traffic by their security groups")
    parser.add_argument("--tag-key", default=localcloud.DEFAULT_TAG_KEY, help="managed tag (default %(default)s)")
    parser.add_argument("--tag-value", default=localcloud.DEFAULT_TAG_VALUE, help="its value (default %(default)s)")
    parser.add_argument("--cluster", action="append", default=None,
                        help="mirror only this cluster's instances (cloudburst:cluster tag; repeatable; default all)")
    parser.add_argument("--group-tag", action="append", default=None,
                        help="tag whose value names an inventory group (repeatable; default cloudburst:role)")
    parser.add_argument("--inventory", default=os.path.join(localcloud.REPO_ROOT, ".build", "local-cloud",
                                                            "inventory.json"),
                        help="inventory file written after each pass (default %(default)s)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        cloud = localcloud.LocalCloud.from_environment(
            tag_key=args.tag_key, tag_value=args.tag_value, inventory_path=args.inventory, clusters=args.cluster,
            filtering=not args.no_filter,
            group_tags=args.group_tag if args.group_tag is not None else ["cloudburst:role"])
        if args.clean:
            removed = cloud.clean()
            print(f"local-cloud: removed {len(removed)} container(s)", file=sys.stderr)
            return 0
        if not (args.loop or command):
            done = cloud.reconcile()
            if cloud.filter is not None:
                cloud.filter_pass()
            print(f"local-cloud: started {len(done.create)}, removed {len(done.remove)}, "
                  f"powered off {len(done.powered_off)}; inventory {args.inventory}", file=sys.stderr)
            return 0
        if not command:
            try:
                cloud.run_forever(args.interval)
            except KeyboardInterrupt:
                return 0
        cloud.start(args.interval)
        try:
            env = dict(os.environ, CLOUDBURST_LOCAL_CLOUD_INVENTORY=args.inventory)
            return subprocess.call(command, env=env)
        finally:
            cloud.stop()
            if not args.keep:
                cloud.clean()
    except localcloud.LocalCloudError as error:
        print(f"local-cloud: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
