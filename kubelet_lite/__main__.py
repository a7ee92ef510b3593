"""The ``kubelet-lite`` command."""

from __future__ import annotations

import sys

from knet.client import ApiError
from knet.client import ConfigError as KubeconfigError
from knet.component import fail, run_main, setup_logging, stop_on_signals
from kubelet_lite.agent import AlreadyRunning, Kubelet
from kubelet_lite.config import ConfigError, parse_args

PROGRAM = "kubelet-lite"


async def _serve(kubelet: Kubelet) -> int:
    await kubelet.run(stop_on_signals())
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        config, verbosity = parse_args(argv)
    except ConfigError as exc:
        return fail(PROGRAM, str(exc), 2)
    setup_logging(verbosity)
    try:
        return run_main(lambda: _serve(Kubelet(config)))
    except (ConfigError, KubeconfigError, AlreadyRunning) as exc:
        return fail(PROGRAM, str(exc), 1)
    except ApiError as exc:  # the API server refused us for good (retryable errors are retried)
        return fail(PROGRAM, f"the API server refused: {exc}", 1)


if __name__ == "__main__":
    sys.exit(main())
