"""One machine's life: its overlay root over the cached image, boot, provisioning, power-off.

<state>/machines/<node>/{upper,work,root}   overlayfs: the image below, the machine's
                                           writes in upper; removed by `down`
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from knet.cluster import procs
from knet.machines import mounts, nspawn, provision
from knet.machines.image import Image, copy_checkout
from knet.machines.layout import Layout, Machine
from knet.machines.state import MachinesState, Proc

Printer = Callable[[str], None]
ResetNet = Callable[[MachinesState, Layout, Machine], None]
BOOT_TIMEOUT = 90.0
WHEEL_DIR = "/opt/knet/dist"


class MachineError(Exception):
    """A machine could not be made, booted or provisioned; one line saying why."""


def unit_name(layout: Layout, machine: Machine) -> str:
    return layout.prefix + machine.name


def root_dir(state: MachinesState, machine: Machine) -> Path:
    return state.machine_dir(machine.name) / "root"


def ensure_root(
    state: MachinesState, image: Image, machine: Machine, checkout: Path, wheel: Path
) -> Path:
    """Mount the machine's overlay root (once) and put in it what is its own: hostname,
    machine-id, the checkout at /opt/knet/src and the knet wheel."""
    base = state.machine_dir(machine.name)
    state.add_dir(base)
    root = base / "root"
    if not mounts.is_mount_point(root):
        for sub in ("upper", "work", "root"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        state.add_mount(root)
        mounts.mount_overlay(image.root, base / "upper", base / "work", root)
    (root / "etc" / "hostname").write_text(machine.name + "\n")
    if not (root / "etc" / "machine-id").read_text().strip():
        (root / "etc" / "machine-id").write_text(uuid.uuid4().hex + "\n")
    copy_checkout(checkout, root / "opt" / "knet" / "src")
    dist = root / WHEEL_DIR.lstrip("/")
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    shutil.copy2(wheel, dist / wheel.name)
    return root


def machine_uuid(root: Path) -> str:
    return str(uuid.UUID((root / "etc" / "machine-id").read_text().strip()))


def start(state: MachinesState, layout: Layout, machine: Machine) -> subprocess.Popen[bytes]:
    """Start nspawn (recorded before and after) and record the machine's init."""
    root = root_dir(state, machine)
    name = unit_name(layout, machine)
    for d in nspawn.host_dirs(name):
        state.add_dir(d)
    argv = nspawn.nspawn_argv(root, name, machine.name, machine.netns, machine_uuid(root))
    log = state.logs_dir / f"{machine.name}.log"
    role = f"nspawn/{machine.name}"
    state.set_process(Proc(role=role, argv=argv, log=str(log)))
    popen = nspawn.spawn(argv, log)
    state.set_process(Proc(role, argv, str(log), popen.pid, procs.start_ticks(popen.pid)))
    init = _wait_init(popen, log)
    state.set_process(Proc(f"init/{machine.name}", [], str(log), init, procs.start_ticks(init)))
    return popen


def wait_booted(state: MachinesState, machine: Machine, popen: subprocess.Popen[bytes]) -> None:
    init = state.process(f"init/{machine.name}")
    assert init is not None and init.pid is not None
    _wait_booted(popen, init.pid, machine, Path(init.log))


def _wait_init(popen: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise MachineError(f"systemd-nspawn exited ({popen.returncode}): {_tail(log)}")
        found = nspawn.init_pid(popen.pid)
        if found is not None:
            return found
        time.sleep(0.05)
    raise MachineError(f"systemd-nspawn started no init within 20s (log: {log})")


def _wait_booted(popen: subprocess.Popen[bytes], init: int, machine: Machine, log: Path) -> None:
    """Until systemd in the machine says it is up. Right after nspawn starts, the init may not
    be systemd yet (systemctl then says "offline"): ask again."""
    cmd = nspawn.in_machine_argv(init, ["systemctl", "is-system-running", "--wait"])
    deadline = time.monotonic() + BOOT_TIMEOUT
    status = ""
    while time.monotonic() < deadline and popen.poll() is None:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=BOOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            break
        status = done.stdout.strip() or done.stderr.strip()
        if status in ("running", "degraded"):
            return
        time.sleep(0.2)
    state = "running" if popen.poll() is None else f"exited {popen.returncode}"
    raise MachineError(
        f"{machine.name} did not boot within {BOOT_TIMEOUT:.0f}s (systemd: {status or '?'}, "
        f"nspawn {state}; log: {log})"
    )


def run_in(state: MachinesState, machine: Machine, what: str, cmd: list[str]) -> None:
    init = state.process(f"init/{machine.name}")
    if init is None or init.pid is None or not procs.is_alive(init.pid, init.start_ticks):
        raise MachineError(f"{machine.name} is not running")
    log = state.logs_dir / f"{machine.name}-provision.log"
    with open(log, "ab") as out:
        out.write(f"\n### {what}: {' '.join(cmd)}\n".encode())
        out.flush()
        done = subprocess.run(
            nspawn.in_machine_argv(init.pid, cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        raise MachineError(f"{machine.name}: {what} failed (exit {done.returncode}): {_tail(log)}")


def provision_machine(state: MachinesState, layout: Layout, machine: Machine, wheel: str) -> None:
    for what, cmd in provision.steps(layout, machine, f"{WHEEL_DIR}/{wheel}"):
        run_in(state, machine, what, cmd)


def running(state: MachinesState, machine: Machine) -> bool:
    rec = state.process(f"init/{machine.name}")
    return rec is not None and rec.pid is not None and procs.is_alive(rec.pid, rec.start_ticks)


def power_off(state: MachinesState, machine: Machine, grace: float = 30.0) -> None:
    rec = state.process(f"nspawn/{machine.name}")
    init = state.process(f"init/{machine.name}")
    if rec is not None:
        if rec.pid is None:
            raise MachineError(
                f"{machine.name}: nspawn was starting when `up` stopped; its pid is unknown"
            )
        nspawn.stop(rec, init, grace)
    for role in (f"nspawn/{machine.name}", f"init/{machine.name}"):
        state.drop_process(role)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def boot(state: MachinesState, layout: Layout, machine: Machine, reset_net: ResetNet) -> float:
    """Boot a powered-off machine in a fresh network namespace (a booting kernel has no routes,
    rules or pod interfaces); its own systemd starts its units. Seconds to boot."""
    reset_net(state, layout, machine)
    started = time.monotonic()
    popen = start(state, layout, machine)
    wait_booted(state, machine, popen)
    return time.monotonic() - started


def reboot(state: MachinesState, layout: Layout, machine: Machine, reset_net: ResetNet) -> float:
    """Power off, then boot again as `boot` does. Seconds to boot."""
    power_off(state, machine)
    return boot(state, layout, machine, reset_net)
