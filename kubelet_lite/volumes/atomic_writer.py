"""The kubelet's atomic writer: a volume's files replaced all at once, never half-updated.

Layout (as the kubelet's AtomicWriter makes it) in the volume's directory::

    ..2026_12_08_00_30_00.123456/   the files of one version, with their modes
    ..data -> ..2026_12_08_00_30_00.123456
    key    -> ..data/key            one link per top-level name of the payload

A new version is written into a fresh timestamped directory, then a ``..data_tmp`` link to it is
renamed over ``..data`` (rename(2) is atomic), then the old version goes. A reader holding
``key`` open, or resolving it, sees either the old files or the new ones. Nothing is written
when the payload is the one already there.

``plan`` (pure) says what a payload needs; ``write`` does it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA = "..data"
DATA_TMP = "..data_tmp"


@dataclass(frozen=True)
class File:
    content: bytes
    mode: int = 0o644


Payload = Mapping[str, File]


class PayloadError(ValueError):
    """A path in the payload the writer refuses (absolute, '..', or clashing)."""


def check_path(path: str) -> str:
    """A payload path: relative, no '..' element, not starting with '..'."""
    if not path or path.startswith("/"):
        raise PayloadError(f"{path!r}: must be a relative path")
    parts = path.split("/")
    if ".." in parts or path.startswith(".."):
        raise PayloadError(f"{path!r}: must not contain '..'")
    if any(p == "" for p in parts):
        raise PayloadError(f"{path!r}: must not contain empty elements")
    return posixpath.normpath(path)


def top_level(payload: Payload) -> set[str]:
    """The names the user sees in the volume's directory (each a link into ``..data``)."""
    return {check_path(p).split("/")[0] for p in payload}


def plan(payload: Payload) -> dict[str, File]:
    """The payload with checked, normalised paths. Raises PayloadError when one path is a
    file and another's directory ("a" and "a/b")."""
    files = {check_path(p): f for p, f in payload.items()}
    for p in files:
        parent = posixpath.dirname(p)
        while parent:
            if parent in files:
                raise PayloadError(f"{p!r}: {parent!r} is a file in the same volume")
            parent = posixpath.dirname(parent)
    return files


def current(volume: Path) -> dict[str, File] | None:
    """The payload ``..data`` holds now (None: not written yet)."""
    data = volume / DATA
    if not data.is_dir():
        return None
    out: dict[str, File] = {}
    for root, _dirs, names in os.walk(data):
        for name in names:
            full = Path(root, name)
            rel = str(full.relative_to(data))
            out[rel] = File(full.read_bytes(), full.stat().st_mode & 0o7777)
    return out


def _write_version(volume: Path, files: Mapping[str, File], gid: int | None) -> Path:
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    version = Path(tempfile.mkdtemp(prefix=stamp, dir=volume))
    os.chmod(version, 0o755)
    for rel, f in files.items():
        path = version / rel
        if "/" in rel:
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            out.write(f.content)
        os.chmod(path, f.mode)
    if gid is not None:
        set_group(version, gid, read_only=True)
    return version


def write(volume: Path, payload: Payload, gid: int | None = None) -> bool:
    """Make ``volume`` hold exactly ``payload``; True if anything changed. ``gid``: the pod's
    fsGroup, given to every file. Raises PayloadError, OSError."""
    files = plan(payload)
    volume.mkdir(parents=True, exist_ok=True)
    expected = (
        files if gid is None else {p: File(f.content, f.mode | 0o440) for p, f in files.items()}
    )
    if current(volume) == expected and _links_match(volume, top_level(files)):
        return False
    old = os.readlink(volume / DATA) if (volume / DATA).is_symlink() else None
    version = _write_version(volume, files, gid)
    tmp = volume / DATA_TMP
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(version.name, tmp)
    os.rename(tmp, volume / DATA)  # the switch: atomic
    wanted = top_level(files)
    for name in wanted:
        link = volume / name
        target = posixpath.join(DATA, name)
        if not (link.is_symlink() and os.readlink(link) == target):
            _replace_link(link, target)
    for entry in os.listdir(volume):
        if not entry.startswith("..") and entry not in wanted:
            _remove(volume / entry)
    if old and old != version.name:
        shutil.rmtree(volume / old, ignore_errors=True)
    return True


def _links_match(volume: Path, wanted: set[str]) -> bool:
    have = {e for e in os.listdir(volume) if not e.startswith("..")}
    return have == wanted


def _replace_link(link: Path, target: str) -> None:
    tmp = link.with_name(f"..{link.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.rename(tmp, link)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def set_group(root: Path, gid: int, read_only: bool) -> None:
    """fsGroup, as the kubelet applies it: every entry's group is ``gid``; files gain group
    read (and write, unless the volume is read-only); directories gain setgid and search."""
    mask = 0o440 if read_only else 0o660
    _own(str(root), gid, mask)
    for dirpath, dirs, names in os.walk(root):
        for name in (*dirs, *names):
            _own(os.path.join(dirpath, name), gid, mask)


def _own(path: str, gid: int, mask: int) -> None:
    os.lchown(path, -1, gid)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    mode = st.st_mode & 0o7777
    if stat.S_ISDIR(st.st_mode):
        mode |= mask | 0o2000 | 0o110
    else:
        mode |= mask
    os.chmod(path, mode)
