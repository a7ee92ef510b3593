#!/usr/bin/env python3
"""What ConfigMap/Secret/downward API consumption costs a pod's sync, step by step (no API
server: the objects are given, so the figures are the kubelet's own work).

  no-volumes   referenced() + PodVolumes.setup for a pod with neither volumes nor env refs
               (what every pod pays now)
  env          container_env with envFrom of a 20-key ConfigMap and two valueFrom refs
  first-write  setup of a configMap (20 keys), a secret and a downwardAPI volume, each on a
               tmpfs of its own: the first sync's mounts and writes
  disk-write   the same configMap volume written on the disk instead (for comparison)
  refresh      setup again with nothing changed (every later sync: compare, no write)
  update       setup after one ConfigMap key changed (a new ..data version)

Run as root (the tmpfs):  .venv/bin/python scripts/bench_volumes.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from knet.api.base import from_wire
from knet.api.core import Container
from kubelet_lite.pods.container_spec import PodFields, container_env
from kubelet_lite.volumes import atomic_writer, tmpfs
from kubelet_lite.volumes.pod_volumes import PodVolumes
from kubelet_lite.volumes.sources import NodeCapacity, Sources, referenced

FIELDS = PodFields("p", "default", "u", "n", "10.0.0.1", "10.244.0.2", "default", {"a": "b"}, {})
NODE = NodeCapacity(Decimal(2), 2**31)
KEYS = 20


def sources(version: int) -> Sources:
    data = {f"key{i}": f"value {i} v{version}" for i in range(KEYS)}
    secret = {f"s{i}": base64.b64encode(b"x" * 64).decode() for i in range(4)}
    return Sources(
        "default",
        {("ConfigMap", "app"): {"data": data}, ("Secret", "creds"): {"data": secret}},
    )


SPEC: dict[str, Any] = {
    "containers": [{"name": "c", "image": "busybox"}],
    "volumes": [
        {"name": "cfg", "configMap": {"name": "app"}},
        {"name": "sec", "secret": {"secretName": "creds"}},
        {
            "name": "down",
            "downwardAPI": {
                "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
            },
        },
    ],
}


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def report(name: str, us: list[float]) -> None:
    us = sorted(us)
    p99 = us[min(len(us) - 1, int(len(us) * 0.99))]
    print(f"{name:12s} median {statistics.median(us):8.1f} us   p99 {p99:8.1f} us   n={len(us)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    rounds = args.rounds
    empty = Sources("default")
    plain: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    with tempfile.TemporaryDirectory(prefix="knet-bench-vol-") as tmp:
        root = Path(tmp)
        try:
            bare = PodVolumes(root / "bare")
            report(
                "no-volumes",
                timed(lambda: (referenced(plain), bare.setup(plain, empty, FIELDS, NODE)), rounds),
            )
            c = from_wire(
                Container,
                {
                    "name": "c",
                    "envFrom": [{"configMapRef": {"name": "app"}}],
                    "env": [
                        {
                            "name": "A",
                            "valueFrom": {"configMapKeyRef": {"name": "app", "key": "key1"}},
                        },
                        {
                            "name": "B",
                            "valueFrom": {"secretKeyRef": {"name": "creds", "key": "s1"}},
                        },
                    ],
                },
            )
            src = sources(0)
            report("env", timed(lambda: container_env(c, FIELDS, "h", src, NODE), rounds))
            pods = [PodVolumes(root / f"pod{i}") for i in range(rounds)]
            it = iter(pods)
            report("first-write", timed(lambda: next(it).setup(SPEC, src, FIELDS, NODE), rounds))
            cm = sources(0).data("ConfigMap", "app")
            payload = {k: atomic_writer.File(v) for k, v in cm.items()}
            dirs = iter(range(rounds))
            report(
                "disk-write",
                timed(lambda: atomic_writer.write(root / f"d{next(dirs)}", payload), rounds),
            )
            one = pods[0]
            report("refresh", timed(lambda: one.setup(SPEC, src, FIELDS, NODE), rounds))
            versions = iter(range(1, rounds + 1))
            report(
                "update",
                timed(lambda: one.setup(SPEC, sources(next(versions)), FIELDS, NODE), rounds),
            )
        finally:
            tmpfs.unmount_under(root)


if __name__ == "__main__":
    main()
