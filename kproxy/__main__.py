"""``kproxy``: kube-proxy for one node (iptables or userspace mode)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from knet import gctune
from knet.client import ConfigError
from kproxy.app import run
from kproxy.backend.base import BackendError
from kproxy.cli import parse_options
from kproxy.modes import run_cleanup


def _setup_logging(verbosity: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbosity >= 4 else logging.INFO,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    _setup_logging(opts.verbosity)
    try:
        if opts.cleanup:
            report = run_cleanup(opts)
            removed = sum(len(c) for c in report.chains_removed.values())
            print(f"kproxy: removed {report.jump_rules_removed} jump rules, {removed} chains")
            for error in report.errors:
                print(f"kproxy: cleanup error: {error}", file=sys.stderr)
            return 1 if report.errors else 0
        gctune.settle()
        return asyncio.run(run(opts))
    except (ConfigError, BackendError, ValueError) as e:
        print(f"kproxy: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
