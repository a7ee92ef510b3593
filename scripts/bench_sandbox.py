#!/usr/bin/env python3
"""Pod sandbox add+del latency: knet's in-process sandbox vs Debian's CNI bridge + host-local.

Both sides do the same work per pod, in one run, interleaved pod by pod:
  add: create the pod netns, bridge ensured in the node netns (gateway address), veth pair with
       hairpin on, eth0 in the pod netns with an address from host-local style IPAM, lo up,
       default route via the gateway;
  del: delete the veth, release the address, remove the pod netns.
The CNI side runs /usr/lib/cni/bridge per the CNI spec (CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/
CNI_IFNAME/CNI_PATH, config JSON on stdin) inside its own scratch node namespace through
nsenter, so its bridge is never created in the root namespace. Pod netns for CNI are created and
removed with the same knet primitive the runtime would use.

Run as root:  .venv/bin/python scripts/bench_sandbox.py [--pods 50]
Needs: apt-get install -y containernetworking-plugins (binaries in /usr/lib/cni).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from knet.netlink import netns
from knet.netlink.exec import netns_argv
from kubelet_lite.network.conf import NetConf, SandboxSpec
from kubelet_lite.network.pod_network import PodNetwork

CNI_DIR = Path("/usr/lib/cni")


@dataclass
class Timings:
    add: list[float] = field(default_factory=list)
    delete: list[float] = field(default_factory=list)

    def per_pod(self) -> list[float]:
        return [a + d for a, d in zip(self.add, self.delete, strict=True)]


def pct(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class CniBridge:
    """Debian's bridge + host-local plugins, invoked per the CNI spec inside a node netns."""

    def __init__(self, node_ns: str, subnet: str, data_dir: Path, pod_prefix: str) -> None:
        self.node_ns = node_ns
        self.pod_prefix = pod_prefix
        self.conf = json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": "kt-bench",
                "type": "bridge",
                "bridge": "kbr0",
                "isGateway": True,
                "isDefaultGateway": True,
                "hairpinMode": True,
                "ipMasq": False,
                "mtu": 1500,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "dataDir": str(data_dir),
                },
            }
        ).encode()

    def _ns(self, i: int) -> str:
        return f"{self.pod_prefix}{i}"

    def _plugin(self, command: str, i: int) -> bytes:
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": f"kt-bench-{i}",
            "CNI_NETNS": netns.path(self._ns(i)),
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(CNI_DIR),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        argv = netns_argv(self.node_ns, [str(CNI_DIR / "bridge")])
        proc = subprocess.run(argv, input=self.conf, env=env, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"CNI {command} pod {i} failed: {proc.stdout!r} {proc.stderr!r}")
        return proc.stdout

    def add(self, i: int) -> str:
        netns.create(self._ns(i))  # the runtime's job in CNI; part of a sandbox add
        result = json.loads(self._plugin("ADD", i))
        return str(result["ips"][0]["address"])

    def delete(self, i: int) -> None:
        self._plugin("DEL", i)
        netns.remove(self._ns(i))


def run(pods: int, subnet: str) -> int:
    if os.geteuid() != 0:
        print("bench_sandbox: needs root (network namespaces)", file=sys.stderr)
        return 2
    if not (CNI_DIR / "bridge").exists() or shutil.which("nsenter") is None:
        print(
            "bench_sandbox: needs /usr/lib/cni/bridge (apt-get install -y "
            "containernetworking-plugins) and nsenter",
            file=sys.stderr,
        )
        return 2
    tag = secrets.token_hex(3)
    knet_node, cni_node = f"kt-bn-knet-{tag}", f"kt-bn-cni-{tag}"
    knet_prefix, cni_prefix = f"kt-bk{tag}-", f"kt-bc{tag}-"
    tmp = Path(tempfile.mkdtemp(prefix="kt-bench-"))
    ours, theirs = Timings(), Timings()
    pn: PodNetwork | None = None
    try:
        netns.create(knet_node)
        netns.create(cni_node)
        pn = PodNetwork(
            NetConf(
                ipam_dir=tmp / "knet",
                subnet=subnet,
                node_netns=knet_node,
                netns_prefix=knet_prefix,
            )
        )
        cni = CniBridge(cni_node, subnet, tmp / "cni", cni_prefix)
        specs = [SandboxSpec(f"kt-bench-uid-{i}", f"pod-{i}") for i in range(pods + 1)]
        # Warm-up (page cache, bridge creation, sysctls), not measured.
        pn.add(specs[pods])
        pn.delete(specs[pods])
        cni.add(pods)
        cni.delete(pods)

        # Bring N pods up, then tear them down, alternating which side goes first.
        for i in range(pods):
            sides: list[tuple[Timings, Callable[[], object]]] = [
                (ours, partial(pn.add, specs[i])),
                (theirs, partial(cni.add, i)),
            ]
            for timings, fn in sides if i % 2 == 0 else reversed(sides):
                timings.add.append(timed(fn))
        for i in range(pods):
            sides = [
                (ours, partial(pn.delete, specs[i])),
                (theirs, partial(cni.delete, i)),
            ]
            for timings, fn in sides if i % 2 == 0 else reversed(sides):
                timings.delete.append(timed(fn))

        leftovers = netns.list_names(knet_prefix) + netns.list_names(cni_prefix)
        if leftovers:
            print(f"warning: namespaces left behind: {leftovers}", file=sys.stderr)
    finally:
        if pn is not None:
            pn.close()
        for name in netns.list_names(knet_prefix) + netns.list_names(cni_prefix):
            netns.remove(name)
        netns.remove(knet_node)
        netns.remove(cni_node)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"sandbox add/del, {pods} pods on one node, bridge in a scratch node netns")
    print(f"{'':14}{'knet p50':>10}{'knet p99':>10}{'CNI p50':>10}{'CNI p99':>10}{'p50 ratio':>11}")
    for label, a, b in (
        ("add", ours.add, theirs.add),
        ("del", ours.delete, theirs.delete),
        ("add+del/pod", ours.per_pod(), theirs.per_pod()),
    ):
        ratio = pct(a, 50) / pct(b, 50)
        print(
            f"{label:14}{pct(a, 50):8.1f}ms{pct(a, 99):8.1f}ms"
            f"{pct(b, 50):8.1f}ms{pct(b, 99):8.1f}ms{ratio:10.2f}x"
        )
    print(
        f"mean add: knet {statistics.mean(ours.add) * 1000:.1f} ms, "
        f"CNI {statistics.mean(theirs.add) * 1000:.1f} ms  (ratio = knet / CNI; < 1 is faster)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--pods", type=int, default=50, help="pods per side (default 50)")
    ap.add_argument("--subnet", default="10.244.1.0/24", help="podCIDR for both sides")
    args = ap.parse_args(argv)
    if args.pods < 1:
        ap.error("--pods must be at least 1")
    return run(args.pods, args.subnet)


if __name__ == "__main__":
    sys.exit(main())
