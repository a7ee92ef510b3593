"""``knet bench ...``: the project's benchmarks, each run as its own process.

``knet bench rules`` is the rule-scaling lab. It lives in kproxy (kproxy.lab) and knet does
not import kproxy, so it is started as ``python -m kproxy.lab`` with the arguments passed
through unchanged; ``knet bench rules --help`` shows the lab's own flags.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

FORWARDED = (signal.SIGINT, signal.SIGTERM)


def rules_argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "kproxy.lab", *args]


@contextmanager
def forwarding_signals(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """While the lab runs, Ctrl-C and SIGTERM are passed on to it (by the pid we started),
    not acted on here: the lab stops, removes its namespaces, writes what it has, and exits;
    we wait for that instead of leaving it half-way."""

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_rules(ns: argparse.Namespace) -> int:
    # The lab gets its own process group, so a Ctrl-C at the terminal reaches it once (from
    # us) rather than twice. No timeout here: the lab bounds itself (--budget) and kills what
    # it starts.
    proc = subprocess.Popen(rules_argv(list(ns.args)), process_group=0)
    with forwarding_signals(proc):
        code = proc.wait()
    return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N


def add_bench_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmarks that print figures and draw plots")
    bench = p.add_subparsers(dest="bench", required=True)
    rules = bench.add_parser(
        "rules",
        help="rule-scaling lab: kproxy's iptables rules vs Services and endpoints (root)",
        # Every flag belongs to the lab: '+' as the only prefix stops argparse from taking
        # '--services', '-h', ... for itself.
        prefix_chars="+",
        add_help=False,
    )
    rules.add_argument("args", nargs=argparse.REMAINDER)
    rules.set_defaults(func=run_rules)
