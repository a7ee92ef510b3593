"""``knet machines up``: the Vagrant cluster as booted machines on this box.

Order: preflight → the cached root filesystem (built on first use) → a wheel of this checkout →
the underlay namespace → per machine its namespace, overlay root and nspawn, all booting at
once → provisioning (control plane first, as `vagrant up` does) → the kubectl relay → wait for
every Node to be Ready. Everything is recorded in the state file before it is made.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knet import kubeconfig
from knet.cluster import procs
from knet.cluster import up as cluster_up
from knet.machines import image, layout, machine, network
from knet.machines.layout import Layout
from knet.machines.state import MachinesState, Proc, StateError

Printer = Callable[[str], None]
TOOLS = {"systemd-nspawn": "systemd-container", "nsenter": "util-linux"}


class UpError(Exception):
    """`up` cannot go on; one line saying why."""


@dataclass(frozen=True)
class UpOptions:
    name: str = layout.DEFAULT_NAME
    nodes: int = 3
    state_root: Path = layout.STATE_ROOT
    cache_root: Path = image.CACHE_ROOT
    timeout: float = 180.0  # for the Nodes to become Ready


@dataclass
class Timings:
    image_build: float = 0.0
    boot: dict[str, float] | None = None
    ready: dict[str, float] | None = None
    total: float = 0.0


def preflight(which: Callable[[str], str | None] = shutil.which) -> None:
    if os.geteuid() != 0:
        raise UpError("knet machines must run as root (namespaces, mounts, systemd-nspawn)")
    for tool, package in TOOLS.items():
        if which(tool) is None:
            raise UpError(f"{tool} is not installed (Debian: apt-get install {package})")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise UpError("the kernel has no overlayfs (modprobe overlay)")
    if not Path("/proc/sys/net/bridge").is_dir():
        raise UpError(
            "the br_netfilter module is not loaded, and machines cannot load modules: run "
            "`modprobe br_netfilter`"
        )


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One `knet machines` command at a time on a set of machines."""
    with cluster_up.locked(directory, "knet machines command", UpError):
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_or_create(lay: Layout, nodes: int) -> MachinesState:
    try:
        state = MachinesState.load(lay.directory)
    except StateError as exc:
        raise UpError(str(exc)) from None
    if state is None:
        state = MachinesState(lay.directory, lay.name, nodes, free_port())
        state.save()
    elif state.nodes != nodes:
        raise UpError(
            f"machines {lay.name} exist with {state.nodes} nodes; run `knet machines down "
            f"--name {lay.name}` first"
        )
    return state


def build_wheel(checkout: Path, dest: Path) -> Path:
    """A wheel of the checkout, built from a clean copy (no build/ left in the checkout)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="knet-wheel-") as tmp:
        src = Path(tmp) / "src"
        image.copy_checkout(checkout, src)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
    wheels = sorted(dest.glob("knet-*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise UpError(f"building the knet wheel failed: {last[0]}")
    return wheels[0]


def ensure_relay(state: MachinesState, lay: Layout) -> None:
    rec = state.process("relay")
    if rec is not None and rec.pid is not None and procs.is_alive(rec.pid, rec.start_ticks):
        return
    argv = [
        sys.executable,
        "-m",
        "knet.machines.relay",
        "--port",
        str(state.port),
        "--netns",
        lay.underlay_netns,
        "--to",
        f"{lay.control_plane.address}:{layout.API_PORT}",
    ]
    log = state.logs_dir / "relay.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    state.set_process(Proc("relay", argv, str(log)))
    with open(log, "ab") as out:
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state.set_process(Proc("relay", argv, str(log), p.pid, procs.start_ticks(p.pid)))
    kubeconfig.write(
        state.kubeconfig_path, f"http://127.0.0.1:{state.port}", name=f"knet-machines-{lay.name}"
    )


def ready_nodes(port: int) -> set[str]:
    url = f"http://127.0.0.1:{port}/api/v1/nodes"
    with contextlib.suppress(urllib.error.URLError, OSError, TimeoutError, ValueError):
        with urllib.request.urlopen(url, timeout=3) as r:
            items: list[dict[str, Any]] = json.loads(r.read()).get("items") or []
        return {n["metadata"]["name"] for n in items if _ready(n)}
    return set()


def _ready(node: dict[str, Any]) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def wait_ready(
    state: MachinesState, names: list[str], timeout: float, since: float
) -> dict[str, float]:
    """Seconds from ``since`` until each node was first seen Ready; UpError on timeout."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(names):
        for n in ready_nodes(state.port) & set(names):
            seen.setdefault(n, time.monotonic() - since)
        if len(seen) == len(names):
            break
        if time.monotonic() > deadline:
            late = sorted(set(names) - set(seen))
            raise UpError(
                f"nodes not Ready after {timeout:.0f}s: {', '.join(late)} (logs in "
                f"{state.logs_dir})"
            )
        time.sleep(0.5)
    return seen


def _bring_up(state: MachinesState, lay: Layout, opts: UpOptions, out: Printer, t: Timings) -> None:
    checkout = image.checkout_root()
    img, t.image_build = image.ensure(checkout, out, opts.cache_root)
    out(
        f"root filesystem: {img.directory}"
        + (f" (built in {t.image_build:.0f}s)" if t.image_build else " (cached)")
    )
    wheel = build_wheel(checkout, state.directory / "dist")
    network.ensure_underlay(state, lay)
    booting: dict[str, tuple[float, subprocess.Popen[bytes]]] = {}
    for m in lay.machines:
        if machine.running(state, m):
            continue
        out(f"{m.name}: {m.address}, pods {m.pod_cidr}, namespace {m.netns}: booting")
        network.ensure_machine_netns(state, lay, m)
        machine.ensure_root(state, img, m, checkout, wheel)
        booting[m.name] = (time.monotonic(), machine.start(state, lay, m))
    t.boot = {}
    for m in lay.machines:  # all boot at once; each is timed from its own start
        if m.name in booting:
            started, popen = booting[m.name]
            machine.wait_booted(state, m, popen)
            t.boot[m.name] = time.monotonic() - started
            out(f"{m.name}: booted in {t.boot[m.name]:.1f}s")
    for m in lay.machines:  # the control plane first, as `vagrant up` does
        if m.name in booting:
            out(f"{m.name}: provisioning (vagrant/provision/*.sh)")
            machine.provision_machine(state, lay, m, wheel.name)
    ensure_relay(state, lay)
    starts = {name: started for name, (started, _) in booting.items()}
    since = min(starts.values(), default=time.monotonic())
    t.ready = wait_ready(state, lay.names(), opts.timeout, since)


def up(opts: UpOptions, out: Printer = print) -> tuple[MachinesState, Timings]:
    """Bring the machines up (finishing whatever is missing); raises UpError, or the
    ImageError / MachineError of the step that failed."""
    start = time.monotonic()
    preflight()
    try:
        lay = layout.build(opts.name, opts.nodes, opts.state_root)
    except layout.LayoutError as exc:
        raise UpError(str(exc)) from None
    timings = Timings()
    with locked(lay.directory):
        state = load_or_create(lay, opts.nodes)
        _bring_up(state, lay, opts, out, timings)
    timings.total = time.monotonic() - start
    out(f"machines {lay.name} are up: kubectl --kubeconfig {state.kubeconfig_path} get nodes")
    return state, timings
