"""Measurements the lab's parent process makes from the root namespace, each in a scratch
namespace through nsenter, each bounded (killed by pid when over budget):

* one ``iptables -A`` into a table of a given size;
* the data plane: TCP connect latency and a bounded transfer from the client pod;
* kproxy's userspace mode, started in the node namespace (kproxy.lab.userspace) and kept
  serving while the data plane is measured through it.

(The restore floors are measured by the control-plane child, interleaved with kproxy's syncs.)
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import tempfile
from typing import IO, Any

from knet.netlink.exec import netns_argv
from kproxy.lab.backends import BackendSpec
from kproxy.lab.bounded import Timeout, run_bounded
from kproxy.lab.stats import percentile
from kproxy.lab.topology import Topology, child_env, python_argv

PROBE_CHAIN = "KT-LAB-PROBE"


class MeasureFailed(Exception):
    pass


def append_one_rule(
    spec: BackendSpec, netns: str, repeats: int, timeout: float, slow: float = 5.0
) -> float:
    """Median seconds of one ``iptables -t nat -A`` in ``netns`` (whatever its tables hold).

    The chain is created first (not timed); repeating stops early once one append took longer
    than ``slow`` seconds. Raises Timeout when an append overruns ``timeout``.
    """
    ipt = [spec.iptables, "-w", "-t", "nat"]
    out = run_bounded(netns_argv(netns, [*ipt, "-N", PROBE_CHAIN]), timeout=timeout)
    if out.timed_out:
        raise Timeout(f"{spec.iptables} -N", timeout)
    if not out.ok and "exists" not in out.stderr:
        raise MeasureFailed(f"{spec.iptables} -N {PROBE_CHAIN} failed: {out.stderr.strip()}")
    times: list[float] = []
    for k in range(repeats):
        rule = ["-A", PROBE_CHAIN, "-d", f"192.0.2.{k + 1}/32", "-j", "RETURN"]
        out = run_bounded(netns_argv(netns, [*ipt, *rule]), timeout=timeout)
        if out.timed_out:
            raise Timeout(f"{spec.iptables} -A", timeout)
        if not out.ok:
            raise MeasureFailed(f"{spec.iptables} -A failed: {out.stderr.strip()}")
        times.append(out.seconds)
        if out.seconds > slow:
            break
    return statistics.median(times)


# -------------------------------------------------------------------------------------------
# The data plane


def connect_latency(
    topo: Topology,
    targets: dict[str, str],
    samples: int,
    timeout: float,
) -> dict[str, Any]:
    """p50/p99 connect round trip (µs) per named target ("first": "10.96.0.1:80", ...)."""
    args = ["connect", "--samples", str(samples), "--deadline", str(max(1.0, timeout - 5))]
    for target in targets.values():
        args += ["--target", target]
    raw: dict[str, dict[str, Any]] = _client_agent(topo, args, "connect latency", timeout)
    fields: dict[str, Any] = {"connect_failures": 0}
    for label, target in targets.items():
        entry = raw[target]
        us: list[float] = entry["us"]
        if entry["failures"] and not us:
            raise MeasureFailed(f"no connection to {label} ({target}): {entry['error']}")
        fields[f"connect_{label}_p50_us"] = percentile(us, 50)
        fields[f"connect_{label}_p99_us"] = percentile(us, 99)
        fields[f"ttfb_{label}_p50_us"] = percentile(entry["ttfb_us"], 50)
        fields[f"ttfb_{label}_p99_us"] = percentile(entry["ttfb_us"], 99)
        fields["connect_failures"] += entry["failures"]
        fields["connect_samples"] = len(us)
    return fields


def transfer(topo: Topology, target: str, seconds: float, timeout: float) -> float:
    """Mbit/s of one bounded TCP transfer from the client through ``target``."""
    args = ["throughput", "--target", target, "--seconds", str(seconds)]
    result = _client_agent(topo, args, "throughput", timeout)
    return float(result["bytes"]) * 8 / 1e6 / float(result["seconds"])


def _client_agent(topo: Topology, args: list[str], what: str, timeout: float) -> Any:
    """Run kproxy.lab.agent in the client pod, bounded; its JSON answer."""
    if topo.client is None:
        raise ValueError("the topology has no data plane")
    out = run_bounded(
        python_argv(topo.client, "kproxy.lab.agent", args), timeout=timeout, env=child_env()
    )
    if out.timed_out:
        raise Timeout(what, timeout)
    if not out.ok:
        raise MeasureFailed(f"{what} agent failed: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout)


# -------------------------------------------------------------------------------------------
# kproxy's userspace mode


class UserspaceProxy:
    """``kproxy.lab.userspace`` in the node namespace: measured, then serving until closed.

    ``start()`` returns the child's JSON result once it has synced (Timeout if it does not
    within ``timeout``). ``close()`` ends it: stdin closed (its signal to stop), then SIGKILL
    to its process group by the pid we started, if it has not gone within a few seconds.
    """

    def __init__(self, node: str, args: list[str]) -> None:
        self.argv = python_argv(node, "kproxy.lab.userspace", [*args, "--expect-netns", node])
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def start(self, timeout: float) -> dict[str, Any]:
        # stderr to a file: a pipe nobody reads could fill up and stall the proxy. Closed in
        # close(), which the with-block or start()'s failure paths always reach.
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=child_env(),
            start_new_session=True,  # Ctrl-C reaches us, not it: we end it in close()
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close(grace=0)
            raise Timeout("userspace proxy sync (killed)", timeout)
        line = self.proc.stdout.readline()
        try:
            result: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            self.close()
            raise MeasureFailed(f"userspace proxy failed: {self.error_tail()}") from None
        return result

    def error_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = self._stderr.read().strip().splitlines()
        return lines[-1][:300] if lines else "no output"

    def close(self, grace: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
            except BaseException:
                _kill_group(proc)
                raise
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> UserspaceProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the session the child leads (its pid is the group's id) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
