"""A sandbox worker: ``python -m kubelet_lite.network.worker --control-fd N --kubelet-pid P
--conf JSON``, started by kubelet-lite (see worker_pool.py), never by hand.

It builds and removes pod sandboxes. After its first line, ``{"ready": true, "pid": P}``, it
reads one request and writes one reply, then the next, one JSON object per line::

    -> {"op": "create", "podsDir": "...", "checkpoint": {...}, "spec": {...}}
    <- {"checkpoint": {...}}                     done: the checkpoint as recorded
    <- {"error": "..."}                          failed: the record says how far it got

Each operation records its intent in the pod's checkpoint before it acts and its outcome after,
so a crash at any point leaves a record that the next request (or a restart) acts on.

It exits when the socket closes, and dies with kubelet-lite (PR_SET_PDEATHSIG); a failpoint hit
here kills kubelet-lite, as a crash of the kubelet at that step would.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only the standard library up here: main() arms the death signal before importing the rest
# (pyroute2 and the kubelet's modules take ~0.3 s), so a kubelet killed while its worker is
# still starting does not leave the worker behind. The functions below import what they use.
if TYPE_CHECKING:
    from kubelet_lite.network.conf import SandboxSpec
    from kubelet_lite.network.pod_network import PodNetwork
    from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir

PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)


def create(net: PodNetwork, pd: PodDir, cp: PodCheckpoint, spec: SandboxSpec) -> PodCheckpoint:
    """Record the intent, build the sandbox, record the result. Raises SandboxError; add() has
    then undone what it made (its rollback is the only one), and the record says whether all
    of it is gone ("none") or some may be left ("creating": the next create or delete removes
    it)."""
    from kubelet_lite import failpoints
    from kubelet_lite.network.pod_network import SandboxError

    if cp.sandbox_state in ("creating", "deleting"):
        net.delete(spec)  # a crash left it half made or half gone (delete is idempotent)
    cp.sandbox_state = "creating"
    pd.save(cp)
    failpoints.hit("before-sandbox-add")
    try:
        result = net.add(spec)
    except SandboxError as exc:
        if exc.rolled_back:
            cp.sandbox_state = "none"
            pd.save(cp)
        raise
    failpoints.hit("after-sandbox-add")
    cp.sandbox, cp.sandbox_state = result, "ready"
    pd.save(cp)
    failpoints.hit("after-sandbox-ready")
    return cp


def delete(net: PodNetwork, pd: PodDir, cp: PodCheckpoint, spec: SandboxSpec) -> PodCheckpoint:
    """Idempotent. The pod keeps its last sandbox result (its IP stays in status)."""
    cp.sandbox_state = "deleting"
    pd.save(cp)
    net.delete(spec)
    cp.sandbox_state = "none"
    pd.save(cp)
    return cp


Operation = Callable[["PodNetwork", "PodDir", "PodCheckpoint", "SandboxSpec"], "PodCheckpoint"]
OPERATIONS: dict[str, Operation] = {"create": create, "delete": delete}


class BadRequest(Exception):
    """A request line that is not a request this worker knows."""


def parse(line: bytes) -> tuple[Operation, PodDir, PodCheckpoint, SandboxSpec]:
    """One request line: the operation and its arguments. Raises BadRequest."""
    from kubelet_lite.network.conf import SandboxSpec
    from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir

    try:
        req = json.loads(line)
        if not isinstance(req, dict):
            raise ValueError("not a JSON object")
        op = OPERATIONS.get(str(req.get("op")))
        if op is None:
            raise ValueError(f"unknown op {req.get('op')!r}")
        cp = PodCheckpoint.from_dict(req["checkpoint"])
        spec = SandboxSpec.from_dict(req["spec"])
        return op, PodDir(Path(req["podsDir"]), cp.uid), cp, spec
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"bad request: {exc}") from exc


def serve(control: socket.socket, net: PodNetwork) -> None:
    """Answer requests until the socket closes: one request in, one reply out."""
    control.sendall(json.dumps({"ready": True, "pid": os.getpid()}).encode() + b"\n")
    with control.makefile("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            reply: dict[str, Any]
            try:
                op, pd, cp, spec = parse(line)
                reply = {"checkpoint": op(net, pd, cp, spec).to_dict()}
            except Exception as exc:  # SandboxError, or anything unforeseen: the kubelet retries
                reply = {"error": str(exc) or type(exc).__name__}
            control.sendall(json.dumps(reply).encode() + b"\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubelet-lite-sandbox-worker")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--kubelet-pid", type=int, required=True)
    parser.add_argument("--conf", required=True, help="the NetConf, as JSON")
    args = parser.parse_args(argv)
    libc = ctypes.CDLL(None, use_errno=True)  # libc is mapped already: no ldconfig run
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != args.kubelet_pid:  # the kubelet died before the prctl took effect
        return 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is for the kubelet, which closes us
    from knet import gctune
    from kubelet_lite import failpoints
    from kubelet_lite.network.conf import NetConf
    from kubelet_lite.network.pod_network import PodNetwork

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    failpoints.crash_target = args.kubelet_pid
    control = socket.socket(fileno=args.control_fd)
    control.set_inheritable(False)
    gctune.settle()
    with (
        PodNetwork(NetConf.from_dict(json.loads(args.conf))) as net,
        contextlib.suppress(BrokenPipeError, ConnectionResetError),  # the kubelet went away
    ):
        serve(control, net)
    return 0


if __name__ == "__main__":
    sys.exit(main())
