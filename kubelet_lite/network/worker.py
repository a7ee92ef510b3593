"""A sandbox worker: ``python -m kubelet_lite.network.worker --control-fd N --kubelet-pid P
--conf JSON``, started by kubelet-lite (see worker_pool.py), never by hand.

It builds and removes pod sandboxes, one request at a time, read from the control socket as one
JSON object per line (the same framing as the zygote's)::

    -> {"id": 7, "op": "create", "podsDir": "...", "checkpoint": {...}, "spec": {...}}
    <- {"id": 7, "checkpoint": {...}}                     done: the checkpoint as recorded
    <- {"id": 7, "error": "..."}                          failed: the record says how far it got

Its first line is ``{"ready": true, "pid": P}``. It exits when the socket closes, and dies with
kubelet-lite (PR_SET_PDEATHSIG); a failpoint hit here kills kubelet-lite, as a crash of the
kubelet at that step would.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only the standard library up here: main() arms the death signal before importing the rest
# (pyroute2 and the kubelet's modules take ~0.3 s), so a kubelet killed while its worker is
# still starting does not leave the worker behind.
if TYPE_CHECKING:
    from kubelet_lite.network.pod_network import PodNetwork

PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)


def handle(net: PodNetwork, req: dict[str, Any]) -> dict[str, Any]:
    """Carry out one request; the reply (without its id)."""
    from kubelet_lite.network.conf import SandboxSpec
    from kubelet_lite.network.worker_pool import create_sandbox, delete_sandbox
    from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir

    op = req.get("op")
    try:
        cp = PodCheckpoint.from_dict(req["checkpoint"])
        spec = SandboxSpec.from_dict(req["spec"])
        pd = PodDir(Path(req["podsDir"]), cp.uid)
        if op == "create":
            cp = create_sandbox(net, pd, cp, spec)
        elif op == "delete":
            cp = delete_sandbox(net, pd, cp, spec)
        else:
            return {"error": f"unknown op {op!r}"}
    except Exception as exc:  # SandboxError, or anything unforeseen: the kubelet retries
        return {"error": str(exc) or type(exc).__name__}
    return {"checkpoint": cp.to_dict()}


def serve(control: socket.socket, net: PodNetwork) -> None:
    control.sendall(json.dumps({"ready": True, "pid": os.getpid()}).encode() + b"\n")
    with control.makefile("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            rid: Any = None
            try:
                req = json.loads(line)
                rid = req.get("id")
                reply = handle(net, req)
            except ValueError as exc:
                reply = {"error": f"bad request: {exc}"}
            control.sendall(json.dumps({"id": rid, **reply}).encode() + b"\n")


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
