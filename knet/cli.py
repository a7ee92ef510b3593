"""The `knet` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="knet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from knet.apiserver import server

    p = sub.add_parser("apiserver", help="run the API server")
    server.add_arguments(p)
    p.set_defaults(func=server.run)

    from knet import demo

    p = sub.add_parser(
        "demo", help="bring up a local 3-node cluster and show pods and a Service moving packets"
    )
    demo.add_arguments(p)
    p.set_defaults(func=demo.run)

    from knet.controllers import manager

    p = sub.add_parser("controller-manager", help="run the control loops")
    manager.add_arguments(p)
    p.set_defaults(func=manager.run)

    from knet.scheduler import scheduler

    p = sub.add_parser("scheduler", help="run the scheduler")
    scheduler.add_arguments(p)
    p.set_defaults(func=scheduler.run)

    from knet import server as allinone

    p = sub.add_parser(
        "server", help="run the API server, the controller-manager and the scheduler together"
    )
    allinone.add_arguments(p)
    p.set_defaults(func=allinone.run)

    from knet.dns import cli as dns_cli

    p = sub.add_parser("dns", help="run the cluster DNS server (as CoreDNS's kubernetes plugin)")
    dns_cli.add_arguments(p)
    p.set_defaults(func=dns_cli.run)

    from knet.cluster import cli as cluster_cli

    cluster_cli.add_cluster_parser(sub)
    cluster_cli.add_exec_parser(sub)
    cluster_cli.add_hostgw_parser(sub)
    cluster_cli.add_node_parser(sub)

    from knet.machines import cli as machines_cli

    machines_cli.add_parser(sub)

    from knet import bench

    bench.add_bench_parser(sub)

    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
