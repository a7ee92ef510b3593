"""Named points where a test can make kubelet-lite crash (SIGKILL itself), to check that a
restart recovers from a crash at exactly that step.

    KUBELET_LITE_FAILPOINTS=after-sandbox-add,spawn-sent kubelet-lite ...

Unset (always, outside tests) the checks cost a set lookup.
"""

from __future__ import annotations

import logging
import os
import signal

ENV = "KUBELET_LITE_FAILPOINTS"
KNOWN = frozenset(
    {
        "before-sandbox-add",
        "after-sandbox-add",
        "after-sandbox-ready",
        "spawn-sent",
        "after-spawn",
        "before-delete-pod",
    }
)

log = logging.getLogger(__name__)


def _configured() -> frozenset[str]:
    names = frozenset(n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip())
    unknown = names - KNOWN
    if unknown:
        raise ValueError(f"{ENV}: unknown failpoints {sorted(unknown)}; known: {sorted(KNOWN)}")
    return names


ACTIVE = _configured()
# Whom a failpoint kills: kubelet-lite itself, also when hit in one of its worker processes.
crash_target = os.getpid()


def hit(name: str) -> None:
    """Crash here, as kill -9 would, if the failpoint ``name`` is set."""
    if name in ACTIVE:
        log.warning("failpoint %s: killing kubelet-lite with SIGKILL", name)
        os.kill(crash_target, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
