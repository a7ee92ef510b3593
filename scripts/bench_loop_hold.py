#!/usr/bin/env python3
"""How long one heavy request holds the API server's event loop: /healthz latency (max) while
each of issue 22's amplification requests runs. Prints figures.

    .venv/bin/python scripts/bench_loop_hold.py [--leases 150]

Starts a real `knet apiserver` on 127.0.0.1 (temp data dir, removed at the end). Goal from the
issue: no request holds the loop for more than ~100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from knet.testing.apiserver import running_apiserver

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def send(port: int, method: str, path: str, body: bytes | None, ctype: str, accept: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype, "Accept": accept})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def while_probing(port: int, fn: Callable[[], int]) -> tuple[float, float, int]:
    """(seconds the request took, worst /healthz latency meanwhile, the request's status)."""
    worst = [0.0]
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            t = time.perf_counter()
            send(port, "GET", "/healthz", None, "text/plain", "*/*")
            worst[0] = max(worst[0], time.perf_counter() - t)
            time.sleep(0.005)

    thread = threading.Thread(target=probe)
    thread.start()
    t0 = time.perf_counter()
    try:
        status = fn()
    finally:
        took = time.perf_counter() - t0
        done.set()
        thread.join()
    return took, worst[0], status


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leases", type=int, default=150, help="20 KB leases listed as YAML")
    args = p.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="knet-bench-") as tmp,
        running_apiserver(Path(tmp)) as s,
    ):
        port = s.port
        for i in range(args.leases):
            body = {"metadata": {"name": f"l{i}", "annotations": {"a": "q" * 20_000}}}
            send(port, "POST", LEASES, json.dumps(body).encode(), "application/json", "*/*")
        send(port, "POST", LEASES, b'{"metadata":{"name":"amp"}}', "application/json", "*/*")
        ops = [{"op": "add", "path": "/metadata/annotations", "value": {"a": "y" * 600}}]
        ops += [
            {"op": "copy", "from": "/metadata/annotations", "path": f"/metadata/annotations/c{i}"}
            for i in range(21)
        ]
        alias = "apiVersion: v1\nkind: Pod\nmetadata: {name: amp}\nspec:\n  x:\n    a: &a "
        alias += "x" * 10_000 + "\n" + "".join(f"    k{i}: *a\n" for i in range(1000))
        cases = {
            f"GET {args.leases} x 20 KB leases as YAML": lambda: send(
                port, "GET", LEASES, None, "application/json", "application/yaml"
            ),
            "JSON patch of 21 doubling copies": lambda: send(
                port,
                "PATCH",
                LEASES + "/amp",
                json.dumps(ops).encode(),
                "application/json-patch+json",
                "application/json",
            ),
            "14 KB YAML, one 10 KB anchor x 1,000": lambda: send(
                port,
                "POST",
                "/api/v1/namespaces/default/pods",
                alias.encode(),
                "application/yaml",
                "application/json",
            ),
        }
        print("knet apiserver on 127.0.0.1 (this machine is shared; figures are noisy)")
        for name, fn in cases.items():
            took, worst, status = while_probing(port, fn)
            print(
                f"{name}: {status} in {took * 1e3:.0f} ms; "
                f"worst /healthz meanwhile {worst * 1e3:.0f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
