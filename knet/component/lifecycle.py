"""A program's life: settle the collector once started, run the async main, stop in order on
SIGTERM/SIGINT, and say why it could not start in one line (never a traceback)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from knet import gctune

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def fail(program: str, message: str, code: int) -> int:
    """Print ``program: message`` on stderr; returns ``code`` for the caller to exit with."""
    print(f"{program}: {message}", file=sys.stderr)
    return code


def stop_on_signals(stop: asyncio.Event | None = None) -> asyncio.Event:
    """Make SIGTERM and SIGINT set ``stop`` (a new event if None), which is returned. Call from
    inside the running loop; a later call replaces the handlers (the last owner stops)."""
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


async def until_stopped(main: Awaitable[int], stop: asyncio.Event | None = None) -> int:
    """Run ``main`` until it returns (its code) or ``stop`` is set (SIGTERM/SIGINT when None):
    then cancel it and return 0."""
    stop = stop if stop is not None else stop_on_signals()
    task: asyncio.Future[int] = asyncio.ensure_future(main)
    stopper: asyncio.Future[bool] = asyncio.ensure_future(stop.wait())
    waits: set[asyncio.Future[int] | asyncio.Future[bool]] = {task, stopper}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0


async def wait_any(events: list[asyncio.Event], timeout: float) -> bool:
    """Wait until one of ``events`` is set; False when ``timeout`` passed first."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    return bool(done)


def run_main(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Start-up is done: settle the collector (knet.gctune), then run ``main`` to its code."""
    gctune.settle()
    return asyncio.run(main())
