"""Garbage-collector settings for our long-running processes.

CPython's cyclic collector makes a young-generation pass every 700 net allocations of container
objects. A server that decodes and builds JSON for every request crosses that all the time, and
its full passes walk everything imported at start-up as well. So, once a process has started:
freeze what exists (it lives as long as the process does) and collect young objects less often.
Reference counting still frees everything without cycles at once; only cycles wait longer.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # CPython's default is 700


def settle() -> None:
    """Call once start-up is done, before serving."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
