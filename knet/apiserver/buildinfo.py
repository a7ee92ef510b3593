"""What `/version` reports about this build: the platform it runs on (Go's `GOOS/GOARCH`
spelling) and the git commit of the source tree, when it runs from a checkout.

The commit is read once from the checkout's `.git` (no subprocess): a worktree's `.git` file
points at its git dir; HEAD is a ref (loose or packed) or a detached commit. Outside a checkout
the commit is the placeholder UNKNOWN_COMMIT and the tree state is empty, as upstream leaves
fields it does not know.
"""

from __future__ import annotations

import functools
import platform
import sys
from pathlib import Path

UNKNOWN_COMMIT = "unknown"
# Python's machine names -> Go's GOARCH.
_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def go_platform(system: str = sys.platform, machine: str = platform.machine()) -> str:
    """`linux/amd64`, `linux/arm64`, ... for this machine."""
    os_name = "linux" if system.startswith("linux") else system
    return f"{os_name}/{_ARCH.get(machine.lower(), machine.lower())}"


def _git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a worktree: "gitdir: <path>"
            text = dot_git.read_text().strip()
            if text.startswith("gitdir:"):
                return (directory / text.removeprefix("gitdir:").strip()).resolve()
    return None


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    return (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir


def read_commit(start: Path) -> str | None:
    """The commit HEAD names in the checkout holding `start`, or None."""
    git_dir = _git_dir(start)
    if git_dir is None:
        return None
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.removeprefix("ref:").strip()
        for base in (git_dir, _common_dir(git_dir)):
            loose = base / ref
            if loose.is_file():
                return loose.read_text().strip()
        packed = _common_dir(git_dir) / "packed-refs"
        for line in packed.read_text().splitlines() if packed.is_file() else []:
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    except OSError:
        return None
    return None


@functools.cache
def git_commit() -> str:
    return read_commit(Path(__file__).resolve().parent) or UNKNOWN_COMMIT
