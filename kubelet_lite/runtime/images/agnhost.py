"""The agnhost image: Kubernetes' e2e test binary, with the subcommands knet provides."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from kubelet_lite.runtime.images import netexec

SUBCOMMANDS = ("netexec", "pause")


def pause(argv: Sequence[str]) -> int:
    """Sleep until SIGTERM or SIGINT, then exit 0 (agnhost pause)."""
    del argv
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    print("Paused", flush=True)
    while True:
        signal.pause()


def main(argv: Sequence[str]) -> int:
    if not argv:
        print("agnhost: give a subcommand: " + ", ".join(SUBCOMMANDS), file=sys.stderr)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "netexec":
        return netexec.main(rest)
    if cmd == "pause":
        return pause(rest)
    print(
        f'Error: unknown command "{cmd}" for "agnhost" (knet provides: '
        + ", ".join(SUBCOMMANDS)
        + ")",
        file=sys.stderr,
    )
    return 1
