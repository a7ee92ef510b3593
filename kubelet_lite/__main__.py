"""The ``kubelet-lite`` command."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from knet import gctune
from knet.client import ApiError
from knet.client import ConfigError as KubeconfigError
from kubelet_lite.agent import AlreadyRunning, Kubelet
from kubelet_lite.config import ConfigError, parse_args


async def _serve(kubelet: Kubelet) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await kubelet.run(stop)


def main(argv: list[str] | None = None) -> int:
    try:
        config, verbosity = parse_args(argv)
    except ConfigError as exc:
        print(f"kubelet-lite: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if verbosity >= 4 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    gctune.settle()
    try:
        asyncio.run(_serve(Kubelet(config)))
    except (ConfigError, KubeconfigError, AlreadyRunning) as exc:
        print(f"kubelet-lite: {exc}", file=sys.stderr)
        return 1
    except ApiError as exc:  # the API server refused us for good (retryable errors are retried)
        print(f"kubelet-lite: the API server refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
