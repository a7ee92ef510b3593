"""Run a command inside a named network namespace: build the argv, never a shell string.

``netns_argv("kt-pod", ["ping", "-c1", "10.244.1.3"])`` gives
``["nsenter", "--net=/run/netns/kt-pod", "--", "ping", "-c1", "10.244.1.3"]``; pass it to
subprocess.run / asyncio.create_subprocess_exec. nsenter (util-linux) joins only the network
namespace, so the command keeps this process's filesystem, PID namespace and credentials. The
process that runs nsenter never changes namespace itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from knet.netlink import netns as netns_mod

NSENTER = "nsenter"


def netns_argv(netns: str, cmd: Sequence[str]) -> list[str]:
    """argv running ``cmd`` in network namespace ``netns``."""
    if isinstance(cmd, str):
        raise TypeError("cmd must be a sequence of arguments, not a string")
    if not cmd:
        raise ValueError("cmd must not be empty")
    return [NSENTER, f"--net={netns_mod.path(netns)}", "--", *cmd]
