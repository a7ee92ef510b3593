"""Who an exec'd command runs as and where it is accounted: the container's own user, groups,
capability bounding set, no_new_privs and cgroups, read off the container's process, so
`kubectl exec` cannot do more than the container could and its usage counts against the
container's limits.

The user is switched *after* nsenter has entered the namespaces (entering needs root), by
``setpriv``; the cgroups are joined by the child before it executes anything, so everything it
starts is inside them from the first instruction.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

SETPRIV = "setpriv"
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]
    bounding: int | None = None  # capability bounding set (bit n: capability n)
    no_new_privs: bool = False


def parse_status(text: str) -> Identity:
    """The effective uid, gid and supplementary groups of a ``/proc/<pid>/status``."""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def effective(key: str) -> int:
        values = fields.get(key, "").split()  # real, effective, saved, filesystem
        return int(values[1]) if len(values) > 1 else 0

    groups = tuple(int(g) for g in fields.get("Groups", "").split())
    bounding = int(fields["CapBnd"].strip(), 16) if "CapBnd" in fields else None
    nnp = fields.get("NoNewPrivs", "0").strip() == "1"
    return Identity(effective("Uid"), effective("Gid"), groups, bounding, nnp)


def identity(pid: int) -> Identity:
    try:
        return parse_status(Path(f"/proc/{pid}/status").read_text())
    except (OSError, ValueError):
        return Identity(0, 0, ())


def bounding_arg(mask: int) -> str:
    kept = ",".join(f"+cap_{n}" for n in range(mask.bit_length()) if mask >> n & 1)
    return "--bounding-set=-all" + (f",{kept}" if kept else "")


def user_argv(who: Identity, ours: Identity | None = None) -> list[str]:
    """The argv prefix that becomes ``who``: its ids and groups, its bounding set where it is
    narrower than ``ours``, no_new_privs; none when nothing differs from a plain root."""
    args = []
    if ours is not None and who.bounding is not None and who.bounding != ours.bounding:
        args.append(bounding_arg(who.bounding))
    if who.no_new_privs:
        args.append("--no-new-privs")
    if who.uid != 0 or who.gid != 0 or who.groups:
        groups = ",".join(str(g) for g in who.groups)
        args += [f"--reuid={who.uid}", f"--regid={who.gid}"]
        args.append(f"--groups={groups}" if groups else "--clear-groups")
    return [SETPRIV, *args, "--"] if args else []


def parse_cgroups(text: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """The ``cgroup.procs`` files of the groups a ``/proc/<pid>/cgroup`` names: the unified
    one (``0::/path``) or, on v1, one per mounted controller hierarchy. Root groups are skipped:
    a process already in them gains nothing by moving."""
    files = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or parts[2] in ("", "/"):
            continue
        _, controllers, path = parts
        if controllers.startswith("name="):
            continue
        base = root if controllers == "" else root / controllers
        files.append(base / path.lstrip("/") / "cgroup.procs")
    return files


def cgroup_files(pid: int) -> list[Path]:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return []
    return [f for f in parse_cgroups(text) if f.exists()]


def join_cgroups(files: list[Path]) -> None:
    """Move the calling process into each group (run in the child before exec)."""
    me = str(os.getpid())
    for f in files:
        with contextlib.suppress(OSError):
            f.write_text(me)
