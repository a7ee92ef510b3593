"""``kproxy``: kube-proxy for one node (iptables or userspace mode)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from knet.client import ConfigError
from knet.component import run_main, setup_logging
from kproxy.app import run
from kproxy.backend.base import BackendError
from kproxy.cli import parse_options
from kproxy.modes import run_cleanup

LOG_FORMAT = "%(asctime)s %(levelname).1s %(name)s: %(message)s"  # klog-like one-letter levels


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    setup_logging(opts.verbosity, fmt=LOG_FORMAT)
    try:
        if opts.cleanup:
            report = run_cleanup(opts)
            removed = sum(len(c) for c in report.chains_removed.values())
            print(f"kproxy: removed {report.jump_rules_removed} jump rules, {removed} chains")
            for error in report.errors:
                print(f"kproxy: cleanup error: {error}", file=sys.stderr)
            return 1 if report.errors else 0
        return run_main(lambda: run(opts))
    except (ConfigError, BackendError, ValueError) as e:
        print(f"kproxy: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
