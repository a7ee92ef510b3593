"""Garbage-collector settings for our long-running processes.

CPython's cyclic collector makes a young-generation pass every 700 net allocations of container
objects. A server that decodes and builds JSON for every request crosses that all the time, and
its full passes walk everything imported at start-up as well. So, once a process has started:
freeze what exists (it lives as long as the process does) and collect young objects less often.
Reference counting still frees everything without cycles at once; only cycles wait longer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000  # CPython's default is 700


def settle() -> None:
    """Call once start-up is done, before serving."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


@contextmanager
def paused() -> Iterator[None]:
    """Hold off the cyclic collector for a burst of allocation that makes no cyclic garbage
    (e.g. rendering ~100k rule lists), where its full passes would walk every live object."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
