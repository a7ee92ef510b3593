"""knet.gctune.settle: what a long-running process gets once it has started."""

from __future__ import annotations

import json
import subprocess
import sys

from knet.gctune import YOUNG_THRESHOLD

PROBE = """
import gc, json
before = gc.get_threshold()
from knet import gctune
gctune.settle()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_settle_freezes_the_heap_and_raises_only_the_young_threshold() -> None:
    # In a child process: the collector settings are process-wide.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    got = json.loads(out.stdout)
    assert got["after"][0] == YOUNG_THRESHOLD != got["before"][0]
    assert got["after"][1:] == got["before"][1:]
    assert got["frozen"] > 1000  # everything imported so far


def test_paused_restores_the_collector_as_it_found_it() -> None:
    import gc

    from knet.gctune import paused

    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # was off before: stays off
    finally:
        gc.enable()
