"""``python -m kproxy.lab.userspace``: kproxy's userspace mode, run in the lab's node namespace.

The node's tables are emptied first (they still hold the iptables mode's rules from the
control-plane step), then the userspace proxier is fed N Services x M endpoints and measured:

* its full sync: one listener per Service port opened, the portal chains written in one
  restore (two REDIRECT rules per Service, whatever M is);
* the floor: iptables-legacy-restore alone loading the identical portal text into empty tables;
* the sync after one endpoint change (the portals do not change: no restore at all) and after
  one Service is added (a new listener, and the portal chains rewritten whole);
* the process's RSS (N listening sockets).

One JSON object goes to stdout; then the proxy keeps serving, so the parent can measure the
data plane through it, until stdin reaches EOF or SIGTERM arrives. It refuses to start unless it
is inside the namespace named by ``--expect-netns``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from kproxy.backend.base import RulesBackend
from kproxy.config import ProxyConfig
from kproxy.lab import workload as w
from kproxy.lab.backends import BoundedRunner, TimedBackend, backend_spec
from kproxy.lab.bounded import timeout_text
from kproxy.lab.control import (
    CLUSTER_CIDR,
    IptablesRestoreTool,
    RestoreTool,
    StepFailed,
    StepTimeout,
    check_netns,
    deadline,
    rss_mb,
)
from kproxy.modes import foreign_rules
from kproxy.userspace.proxier import UserspaceProxier

# The portal rules are x_tables rules written by iptables-legacy-restore.
BACKEND = "restore-legacy"
# Listeners bind port 0: the node namespace's ephemeral range (widened by the topology) has to
# hold one port per Service plus the proxy's own connections.
MAX_SERVICES = 60000
_FD_MARGIN = 1024


def raise_fd_limit(services: int) -> int:
    """Room for one listening socket per Service (plus connections); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = services + _FD_MARGIN
    if soft >= want:
        return soft
    # Root may raise the hard limit too (up to fs.nr_open).
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    return want


def count_rules(text: str) -> int:
    """Rules a restore input writes: appended and inserted (the jumps into the portals)."""
    return sum(1 for line in text.splitlines() if line.startswith(("-A ", "-I ")))


class UserspaceMeasurement:
    def __init__(
        self,
        args: argparse.Namespace,
        backend: RulesBackend,
        tool: RestoreTool,
        runner: BoundedRunner | None = None,
    ) -> None:
        self.args = args
        self.runner = runner or BoundedRunner()
        self.backend = TimedBackend(backend)
        self.tool = tool
        config = ProxyConfig(w.NODE_NAME, cluster_cidr=CLUSTER_CIDR, min_sync_period=0.0)
        self.proxier = UserspaceProxier(config, self.backend, foreign=foreign_rules("userspace"))
        self.notes: list[str] = []
        self.out: dict[str, Any] = {"status": "ok", "notes": self.notes}

    def _bounded(self) -> None:
        if self.runner.timeouts:
            raise StepTimeout

    async def _sync(self, what: str) -> float:
        failures = self.proxier.sync_failures
        started = time.perf_counter()
        with deadline(self.args.restore_timeout):
            await self.proxier.sync_proxy_rules()
        seconds = time.perf_counter() - started
        self._bounded()
        if self.proxier.sync_failures != failures or self.proxier.last_full_sync is None:
            raise StepFailed(f"{what} did not succeed (see the log above)")
        return seconds

    async def run(self) -> dict[str, Any]:
        step = "emptying the node's tables"
        try:
            with deadline(self.args.restore_timeout):
                self.tool.empty_tables()
            self._bounded()
            step = "feeding informer events"
            self.feed()
            step = "full sync"
            await self.full_sync()
            step = "restore alone"
            self.floor()
            step = "sync (endpoint change)"
            await self.endpoint_syncs()
            step = "sync (service added)"
            await self.add_service()
        except StepTimeout:
            self.out["status"] = f"{timeout_text(self.args.restore_timeout)} in {step}"
        except Exception as e:  # reported in the row: the run goes on with other cases
            self.out["status"] = f"error in {step}: {e}"
        self.out["rss_mb"], self.out["peak_rss_mb"] = rss_mb()
        return self.out

    def feed(self) -> None:
        self.out["feed_s"] = w.feed(self.proxier, self.args.services, self.args.endpoints)

    async def full_sync(self) -> None:
        self.backend.reset()
        full = await self._sync("full sync")
        text = self.backend.last_text
        restore, save = self.backend.restore_seconds, self.backend.save_seconds
        self.out.update(
            full_sync_s=full,
            restore_s=restore,
            save_s=save,
            # Opening N listeners, rendering the portals, scanning the saves.
            render_s=full - restore - save,
            restore_bytes=len(text.encode()),
            rules=count_rules(text),
            first_service=w.cluster_ip(0),
            last_service=w.cluster_ip(self.args.services - 1),
        )

    def floor(self) -> None:
        """The same text into emptied tables: leaves them as the proxier wrote them."""
        text = self.backend.last_text
        with deadline(self.args.restore_timeout):
            self.tool.empty_tables()
            self.out["restore_floor_s"] = self.tool.restore_alone(text)
        self._bounded()

    async def endpoint_syncs(self) -> None:
        n, m = self.args.services, self.args.endpoints
        seconds: list[float] = []
        restores = 0
        for k in range(self.args.partial_repeats):
            i = (k * 7919 + n // 2) % n
            old = w.slice_object(i, m)
            new = w.slice_object(i, m, replace_first=w.spare_endpoint_ip(k % 256))
            self.backend.reset()
            started = time.perf_counter()
            self.proxier.on_endpoint_slice_update(old, new)
            await self._sync("sync after an endpoint change")
            seconds.append(time.perf_counter() - started)
            restores += len(self.backend.restores)
            self.proxier.on_endpoint_slice_update(new, old)
            await self._sync("sync after an endpoint change")
        if seconds:
            self.out.update(
                partial_sync_s=statistics.median(seconds),
                partial_sync_max_s=max(seconds),
                partial_samples=len(seconds),
            )
            if restores == 0:
                self.notes.append(
                    "userspace: an endpoint change only updates the proxy's endpoint list;"
                    " no iptables restore"
                )

    async def add_service(self) -> None:
        n, m = self.args.services, self.args.endpoints
        self.backend.reset()
        started = time.perf_counter()
        self.proxier.on_service_add(w.service_object(n))
        self.proxier.on_endpoint_slice_add(w.slice_object(n, m))
        await self._sync("sync after adding a service")
        self.out["partial_add_service_s"] = time.perf_counter() - started
        self.out["partial_restore_s"] = self.backend.restore_seconds
        self.out["partial_restore_bytes"] = sum(b for b, _ in self.backend.restores)
        # The added Service sorts after all others: it is now the last portal rule.
        self.out["last_service"] = w.cluster_ip(n)


async def serve_until_told(proxier: UserspaceProxier) -> None:
    """Keep the listeners open until stdin closes (the parent is done or gone) or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)  # readable = EOF: we are never sent data
    try:
        await stop.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        for listener in proxier.listeners.values():
            listener.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kproxy.lab.userspace", description=__doc__)
    p.add_argument("--services", type=int, required=True)
    p.add_argument("--endpoints", type=int, required=True)
    p.add_argument("--partial-repeats", type=int, default=5)
    p.add_argument("--restore-timeout", type=float, default=300.0)
    p.add_argument("--expect-netns", required=True)
    p.add_argument("--no-serve", action="store_true", help="exit once measured")
    args = p.parse_args(argv)
    try:
        w.check_size(args.services, args.endpoints)
    except ValueError as e:
        p.error(str(e))
    if args.services > MAX_SERVICES:
        p.error(f"the userspace mode runs up to {MAX_SERVICES} services (one port each)")
    if not 0 <= args.partial_repeats <= 256:
        p.error("--partial-repeats must be in 0..256")
    return args


async def _main(args: argparse.Namespace) -> None:
    from kproxy.backend.restore import RestoreBackend

    spec = backend_spec(BACKEND)
    runner = BoundedRunner()
    backend = RestoreBackend(spec.variant, timeout=args.restore_timeout, runner=runner)
    tool = IptablesRestoreTool(spec, runner, args.restore_timeout)
    measurement = UserspaceMeasurement(args, backend, tool, runner)
    result = await measurement.run()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    if not args.no_serve and result["status"] == "ok":
        await serve_until_told(measurement.proxier)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Only past this check may anything flush or restore tables: they are the scratch node's.
    check_netns(args.expect_netns)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    raise_fd_limit(args.services)
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
