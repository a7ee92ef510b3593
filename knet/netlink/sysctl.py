"""Per-namespace sysctls (net.*), read and written from a throwaway thread inside the namespace.

/proc/sys/net resolves against the network namespace of the thread that opens the file, so a
helper thread joins the namespace (setns, see nsthread) and does the I/O; no other thread of
this process ever switches. Since
Linux 5.3 br_netfilter's net.bridge.bridge-nf-call-* are per-namespace too (and only exist
while the br_netfilter module is loaded).

Only ``net.*`` keys are accepted (other sysctls are global to the machine), and never for the
root namespace: ``netns`` must be a named namespace.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Mapping

from knet.netlink import netns as netns_mod
from knet.netlink.errors import NetlinkError, describe
from knet.netlink.names import validate_netns_name
from knet.netlink.nsthread import call_in_netns

IP_FORWARD = "net.ipv4.ip_forward"
BRIDGE_NF_CALL_IPTABLES = "net.bridge.bridge-nf-call-iptables"

_KEY_RE = re.compile(r"^net(\.[A-Za-z0-9_-]+)+$")


def key_path(key: str) -> str:
    """/proc/sys path of a ``net.*`` sysctl key; ValueError for anything else."""
    if not _KEY_RE.fullmatch(key):
        raise ValueError(f"sysctl key {key!r} is not a per-namespace net.* key (e.g. {IP_FORWARD})")
    return "/proc/sys/" + key.replace(".", "/")


def _io(writes: list[tuple[str, str]], reads: list[str]) -> dict[str, str]:
    # Runs in the helper thread, inside the namespace.
    for path, value in writes:
        with open(path, "w") as f:
            f.write(value)
    out = {}
    for path in reads:
        with open(path) as f:
            out[path] = f.read().strip()
    return out


def _run(
    netns: str | None, op: str, writes: list[tuple[str, str]], reads: list[str]
) -> dict[str, str]:
    if netns is None:
        raise ValueError(f"{op}: refusing to touch sysctls of the root network namespace")
    validate_netns_name(netns)
    path = netns_mod.path(netns)
    if not os.path.exists(path):
        raise NetlinkError(op, f"netns {netns}", "namespace does not exist", errno.ENOENT)
    try:
        return call_in_netns(path, lambda: _io(writes, reads))
    except Exception as exc:
        reason, code = describe(exc)
        raise NetlinkError(op, f"netns {netns}", reason, code) from exc


def write(netns: str | None, values: Mapping[str, str | int]) -> None:
    """Write several net.* sysctls in ``netns`` (one helper thread for all of them)."""
    pairs = [(key_path(k), str(v)) for k, v in values.items()]
    _run(netns, "write sysctl " + ", ".join(f"{k}={v}" for k, v in values.items()), pairs, [])


def read(netns: str | None, keys: Iterable[str]) -> dict[str, str]:
    """Read net.* sysctls in ``netns``: {key: value}."""
    keys = list(keys)
    paths = {key_path(k): k for k in keys}
    raw = _run(netns, "read sysctl " + ", ".join(keys), [], list(paths))
    return {paths[p]: v for p, v in raw.items()}


def ensure_ip_forward(netns: str | None) -> None:
    write(netns, {IP_FORWARD: 1})


def ensure_bridge_nf_call_iptables(netns: str | None) -> None:
    """Bridged IPv4 traffic traverses iptables (kube-proxy's rules need it for same-bridge pods)."""
    try:
        write(netns, {BRIDGE_NF_CALL_IPTABLES: 1})
    except NetlinkError as exc:
        if exc.errno == errno.ENOENT:
            raise NetlinkError(
                exc.op, exc.where, "br_netfilter is not loaded (modprobe br_netfilter)", exc.errno
            ) from exc
        raise
