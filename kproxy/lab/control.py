"""The control-plane measurement, run as a child process inside the lab's node namespace.

    python -m kproxy.lab.control --backend restore-legacy --services 10000 --endpoints 10 \
        --expect-netns kt-lab-..-node

It plays kproxy: an IptablesProxier on the real backend (in-process, as kproxy runs inside its
node), fed the synthetic cluster as informer events. Then, interleaved so that a busy machine
slows both sides of each comparison alike:

* full sync vs floor: kproxy's full sync into empty tables (its own work and the backend's
  restore timed apart), then iptables-restore alone loading the identical text into empty
  tables, repeated (``--full-repeats``, fewer once a sync takes long); best of each reported;
* partial sync vs its floor: one endpoint of one Service changes and kproxy syncs (from the
  informer event to the rules in the kernel), then it changes back; then iptables-restore alone
  replays both partial inputs; medians reported. Then a Service is added;
* a full sync over the loaded tables (what kproxy's periodic full resync costs);
* for python-iptables, the time libiptc takes to append one rule;
* the process's RSS.

"Empty tables" means this namespace's filter, nat and mangle tables flushed (iptables-restore
without --noflush); the process refuses to start unless it is inside the namespace named by
``--expect-netns``. One JSON object goes to stdout. Every step is bounded; a step that overruns
is stopped (a restore by killing its pid) and reported as ``timeout (> N s)`` along with
whatever was measured before it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

from kproxy.backend.base import BackendError, RulesBackend
from kproxy.backend.restore import nft_restore_input
from kproxy.config import ProxyConfig
from kproxy.iptables.proxier import IptablesProxier
from kproxy.lab import workload as w
from kproxy.lab.backends import (
    BackendSpec,
    BoundedRunner,
    TimedBackend,
    backend_spec,
    make_backend,
)
from kproxy.lab.bounded import timeout_text
from kproxy.modes import foreign_rules

# Pods live in 10.244.0.0/16: the client's traffic to a ClusterIP is not masqueraded.
CLUSTER_CIDR = "10.244.0.0/16"
PROBE_CHAIN = "KT-LAB-PROBE"
# Once one full sync takes this long, it is not repeated (the budget goes further).
REPEAT_UNDER_S = 30.0
_EMPTY_TABLES = "*mangle\nCOMMIT\n*filter\nCOMMIT\n*nat\nCOMMIT\n"


class StepTimeout(BaseException):
    """Raised by the alarm inside an overrunning step. A BaseException so that the proxier's
    own ``except Exception`` (which turns failures into a retry) cannot swallow it."""


class StepFailed(Exception):
    pass


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block with StepTimeout after ``seconds`` (SIGALRM, main thread only)."""

    def fire(signum: int, frame: FrameType | None) -> None:
        raise StepTimeout

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_netns(expected: str) -> None:
    """Refuse to touch iptables unless this process really is in the scratch namespace."""
    mine = os.stat("/proc/self/ns/net")
    want = os.stat(f"/run/netns/{expected}")
    if (mine.st_dev, mine.st_ino) != (want.st_dev, want.st_ino):
        raise SystemExit(f"not inside network namespace {expected}: refusing to run")


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, in MB."""
    current = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


class RestoreTool(Protocol):
    """iptables-restore on its own, beside kproxy: the floor, and emptying the tables."""

    def restore_alone(self, text: str) -> float: ...

    def empty_tables(self) -> None: ...


class IptablesRestoreTool:
    """The real tool, in this process's namespace, killed by pid when over ``timeout``."""

    def __init__(self, spec: BackendSpec, runner: BoundedRunner, timeout: float) -> None:
        self.spec = spec
        self.runner = runner
        self.timeout = timeout

    def _run(self, argv: list[str], text: str) -> float:
        started = time.perf_counter()
        proc = self.runner(argv, text, self.timeout)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise BackendError(f"{argv[0]} failed: {proc.stderr.strip()[:300]}")
        return seconds

    def restore_alone(self, text: str) -> float:
        # The floor loads exactly what kproxy's backend feeds the tool: for nft that includes the
        # leading -S that keeps large inputs linear (see kproxy.backend.restore).
        if self.spec.variant == "nft":
            text = nft_restore_input(text)
        return self._run([self.spec.restore_tool, "-w", "--noflush"], text)

    def empty_tables(self) -> None:
        # Without --noflush each named table loses all its rules and its own chains.
        self._run([self.spec.restore_tool, "-w"], _EMPTY_TABLES)


class BackendRestoreTool:
    """The same through a RulesBackend (for tests on the fake backend)."""

    def __init__(self, backend: RulesBackend) -> None:
        self.backend = backend

    def restore_alone(self, text: str) -> float:
        started = time.perf_counter()
        self.backend.restore(text, noflush=True)
        return time.perf_counter() - started

    def empty_tables(self) -> None:
        self.backend.restore(_EMPTY_TABLES, noflush=False)


class Measurement:
    def __init__(
        self,
        args: argparse.Namespace,
        backend: RulesBackend,
        tool: RestoreTool,
        runner: BoundedRunner | None = None,
    ) -> None:
        self.args = args
        self.spec = backend_spec(args.backend)
        self.runner = runner or BoundedRunner()
        self.backend = TimedBackend(backend)
        self.tool = tool
        config = ProxyConfig(w.NODE_NAME, cluster_cidr=CLUSTER_CIDR, min_sync_period=0.0)
        self.proxier = IptablesProxier(
            config, self.backend, offload=False, foreign=foreign_rules("iptables")
        )
        self.notes: list[str] = []
        self.out: dict[str, Any] = {"status": "ok", "notes": self.notes}

    async def _sync(self, want_full: bool | None, what: str) -> float:
        """One sync, timed; fails unless it succeeded (and was of the kind wanted, if given)."""
        failures = self.proxier.sync_failures
        started = time.perf_counter()
        with deadline(self.args.restore_timeout):
            await self.proxier.sync_proxy_rules()
        seconds = time.perf_counter() - started
        if self.runner.timeouts:
            raise StepTimeout
        last = self.proxier.last_sync
        if self.proxier.sync_failures != failures or last is None:
            raise StepFailed(f"{what} did not succeed (see the log above)")
        if want_full is not None and last.full != want_full:
            raise StepFailed(f"{what} was {'full' if last.full else 'partial'} ({want_full=})")
        return seconds

    def _alone(self, text: str) -> float:
        with deadline(self.args.restore_timeout):
            seconds = self.tool.restore_alone(text)
        if self.runner.timeouts:
            raise StepTimeout
        return seconds

    def _empty(self) -> None:
        with deadline(self.args.restore_timeout):
            self.tool.empty_tables()
        if self.runner.timeouts:
            raise StepTimeout

    async def run(self) -> dict[str, Any]:
        step = "feeding informer events"
        try:
            if self.spec.name == "python-iptables":
                step = "append one rule (empty table)"
                self.out["append_one_rule_empty_s"] = self.append_one_rule(0)
                step = "feeding informer events"
            self.feed()
            step = "full sync"
            await self.full_syncs()
            step = "partial sync (endpoint change)"
            await self.partial_endpoint_syncs()
            step = "partial sync (service added)"
            await self.partial_add_service()
            step = "full resync"
            self.proxier.need_full_sync = True
            self.backend.reset()
            self.out["full_resync_s"] = await self._sync(True, "full resync")
            if self.spec.name == "python-iptables":
                step = "append one rule"
                self.out["append_one_rule_s"] = self.append_one_rule(3)
        except StepTimeout:
            self.out["status"] = f"{timeout_text(self.args.restore_timeout)} in {step}"
        except Exception as e:  # reported in the row: the run goes on with other cases
            self.out["status"] = f"error in {step}: {e}"
        self.out["rss_mb"], self.out["peak_rss_mb"] = rss_mb()
        return self.out

    def feed(self) -> None:
        self.out["feed_s"] = w.feed(self.proxier, self.args.services, self.args.endpoints)

    async def full_syncs(self) -> None:
        """kproxy's full sync and iptables-restore alone, alternately, into empty tables."""
        runs: list[tuple[float, float, float]] = []  # (full, its restore, its saves)
        floors: list[float] = []
        text = ""
        for k in range(self.args.full_repeats):
            if k:
                self._empty()
                self.proxier.need_full_sync = True
            self.backend.reset()
            full = await self._sync(True, "full sync")
            runs.append((full, self.backend.restore_seconds, self.backend.save_seconds))
            text = self.backend.last_text
            self._empty()
            floors.append(self._alone(text))  # leaves the tables exactly as kproxy wrote them
            if full > REPEAT_UNDER_S:
                break
        full, restore, save = min(runs)
        counts = self.proxier.rules.rule_counts()
        self.out.update(
            full_sync_s=full,
            restore_s=restore,
            save_s=save,
            # Everything kproxy itself does: render, assemble, write the text, scan the save.
            render_s=full - restore - save,
            restore_floor_s=min(floors),
            full_sync_runs_s=[r[0] for r in runs],
            restore_floor_runs_s=floors,
            restore_bytes=len(text.encode()),
            rules=sum(counts.values()),
            rules_nat=counts.get("nat", 0),
            rules_filter=counts.get("filter", 0),
            first_service=w.cluster_ip(0),
            last_service=w.cluster_ip(self.args.services - 1),
        )

    async def partial_endpoint_syncs(self) -> None:
        n, m = self.args.services, self.args.endpoints
        seconds: list[float] = []
        restore: list[float] = []
        sizes: list[int] = []
        alone: list[float] = []
        for k in range(self.args.partial_repeats):
            i = (k * 7919 + n // 2) % n  # spread over the table
            old = w.slice_object(i, m)
            new = w.slice_object(i, m, replace_first=w.spare_endpoint_ip(k % 256))
            self.backend.reset()
            started = time.perf_counter()
            self.proxier.on_endpoint_slice_update(old, new)
            await self._sync(False, "partial sync")
            seconds.append(time.perf_counter() - started)
            restore.append(self.backend.restore_seconds)
            sizes.append(sum(b for b, _ in self.backend.restores))
            forward = self.backend.last_text
            # Back as it was, so every round changes exactly one endpoint.
            self.proxier.on_endpoint_slice_update(new, old)
            await self._sync(False, "partial sync")
            back = self.backend.last_text
            # The floor: the same two inputs replayed by iptables-restore alone, ending where
            # kproxy left the tables.
            alone += [self._alone(forward), self._alone(back)]
        if seconds:
            self.out.update(
                partial_sync_s=statistics.median(seconds),
                partial_sync_max_s=max(seconds),
                partial_restore_s=statistics.median(restore),
                partial_restore_bytes=int(statistics.median(sizes)),
                partial_restore_floor_s=statistics.median(alone),
                partial_samples=len(seconds),
            )

    async def partial_add_service(self) -> None:
        n, m = self.args.services, self.args.endpoints
        self.backend.reset()
        started = time.perf_counter()
        self.proxier.on_service_add(w.service_object(n))
        self.proxier.on_endpoint_slice_add(w.slice_object(n, m))
        # Either kind: crossing upstream's large-cluster threshold (1000 endpoints) changes
        # every chain's comments, and then the proxier rightly writes everything.
        await self._sync(None, "sync after adding a service")
        self.out["partial_add_service_s"] = time.perf_counter() - started
        last = self.proxier.last_sync
        if last is not None and last.full:
            self.notes.append(
                "the Service added crossed the large-cluster threshold (1000 endpoints),"
                " so that sync was a full one"
            )
        # The added Service sorts after all others: it is now the last rule of KUBE-SERVICES.
        self.out["last_service"] = w.cluster_ip(n)

    def append_one_rule(self, first: int) -> float:
        """libiptc's one-rule append (check, then add and commit: the whole table is read and
        written back), median of three. The probe chain is not kproxy's: syncs leave it."""
        b = self.backend
        b.ensure_chain("nat", PROBE_CHAIN)
        times = []
        for k in range(first, first + 3):
            args = ("-d", f"192.0.2.{k + 1}/32", "-j", "RETURN")
            started = time.perf_counter()
            with deadline(self.args.append_timeout):
                b.ensure_rule("-A", "nat", PROBE_CHAIN, args)
            times.append(time.perf_counter() - started)
        return statistics.median(times)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kproxy.lab.control", description=__doc__)
    p.add_argument("--backend", required=True)
    p.add_argument("--services", type=int, required=True)
    p.add_argument("--endpoints", type=int, required=True)
    p.add_argument("--full-repeats", type=int, default=3)
    p.add_argument("--partial-repeats", type=int, default=5)
    p.add_argument("--restore-timeout", type=float, default=300.0)
    p.add_argument("--append-timeout", type=float, default=60.0)
    p.add_argument("--expect-netns", required=True)
    args = p.parse_args(argv)
    try:
        w.check_size(args.services, args.endpoints)
        backend_spec(args.backend)
    except ValueError as e:
        p.error(str(e))
    if not 0 <= args.partial_repeats <= 256:
        p.error("--partial-repeats must be in 0..256")
    if not 1 <= args.full_repeats <= 20:
        p.error("--full-repeats must be in 1..20")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Only past this check may anything flush or restore tables: they are the scratch node's.
    check_netns(args.expect_netns)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = backend_spec(args.backend)
    runner = BoundedRunner()
    backend = make_backend(spec, args.restore_timeout, runner)
    tool = IptablesRestoreTool(spec, runner, args.restore_timeout)
    result = asyncio.run(Measurement(args, backend, tool, runner).run())
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
