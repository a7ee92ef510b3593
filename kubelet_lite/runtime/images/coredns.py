"""The coredns image (``registry.k8s.io/coredns/coredns:*``, ``coredns/coredns``): ``knet dns``.

It answers as the default Corefile of the kube-dns add-on asks (``kubernetes cluster.local``,
``forward . /etc/resolv.conf``, ``cache 30``, health on 8080, ready on 8181, prometheus on
9153), reaching the API through the in-cluster config (KUBERNETES_SERVICE_HOST/PORT). The image's
usual arguments (``-conf /etc/coredns/Corefile``) are accepted; any other arguments are
``knet dns`` flags. knet.dns is imported here, in the container's own process, so the zygote
that forks containers does not carry it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def dns_args(argv: Sequence[str]) -> list[str]:
    """``knet dns`` flags from the image's arguments (``-conf FILE`` dropped, with a note)."""
    out: list[str] = []
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg in ("-conf", "--conf"):
            conf = rest.pop(0) if rest else ""
            print(
                f"coredns: -conf {conf}: knet dns serves the default Corefile's setup", flush=True
            )
            continue
        out.append(arg)
    return out


def main(argv: Sequence[str]) -> int:
    import argparse

    from knet.dns import cli

    parser = argparse.ArgumentParser(prog="coredns")
    cli.add_arguments(parser)
    try:
        args = parser.parse_args(dns_args(argv))
    except SystemExit as exc:  # a bad flag: argparse printed its one line
        return int(exc.code or 2)
    print("coredns: knet dns (built-in coredns image)", file=sys.stderr, flush=True)
    return cli.run(args)
