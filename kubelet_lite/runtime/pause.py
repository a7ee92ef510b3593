"""The pod's pause process (the sandbox's "infrastructure container").

It holds the pod's network, IPC and UTS namespaces for the containers to join. When the pod
shares one PID namespace it is that namespace's init, so it reaps every orphan that ends up
with it. SIGTERM or SIGINT end it (exit 0), as the real pause does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

BUILTIN_NAME = "knet-pause"


def _reap(*_: object) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def main(argv: Sequence[str]) -> int:
    del argv
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))
    signal.signal(signal.SIGCHLD, _reap)
    _reap()
    print("pause: holding the pod's namespaces", file=sys.stderr, flush=True)
    while True:
        signal.pause()
