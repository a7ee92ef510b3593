"""The machines' root filesystem: Debian bookworm by mmdebstrap, built once and cached.

The cache key is a hash of the build's inputs: the package list, this module (the build
script), the Vagrant ``common.sh`` that the build runs inside the new root (the same first
provisioning step every Vagrant VM runs: Debian packages, a venv at /opt/knet/venv with knet's
dependencies) and pyproject.toml (which names those dependencies). knet's own code is not part
of the key: every ``up`` installs a wheel of the current checkout into each machine instead.

A build writes ``<key>.partial`` and renames it to ``<key>`` when it succeeded, so a directory
named by its key is always whole; a ``.partial`` left by a crash is removed by the next build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from knet.machines import mounts

CACHE_ROOT = Path("/var/cache/knet/machines")
SUITE = "bookworm"
# What a Vagrant box has before provisioning: an init, and the tools common.sh relies on.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "iproute2", "kmod", "procps", "iputils-ping")
# Timers that would try to reach the network, which the machines do not have.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer")
# As the Vagrantfile's rsync excludes.
COPY_IGNORE = (
    ".git",
    ".venv",
    ".vagrant",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "build",
    "dist",
)

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA = "tmp/knet-build-ca.crt"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Printer = Callable[[str], None]


class ImageError(Exception):
    """The root filesystem cannot be built; one line saying why."""


@dataclass(frozen=True)
class Image:
    key: str
    directory: Path  # <cache>/<key>

    @property
    def root(self) -> Path:
        return self.directory / "root"

    @property
    def partial(self) -> Path:
        return self.directory.with_name(self.directory.name + ".partial")

    @property
    def log(self) -> Path:
        return self.directory.with_name(self.directory.name + ".log")

    def ready(self) -> bool:
        return (self.directory / "complete").is_file() and (self.root / "sbin" / "init").exists()


def checkout_root() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "vagrant" / "provision" / "common.sh").is_file():
        raise ImageError(f"{root} is not a knet checkout (no vagrant/provision/common.sh)")
    return root


def cache_key(checkout: Path) -> str:
    h = hashlib.sha256()
    h.update(f"{SUITE}\0{','.join(PACKAGES)}\0{','.join(MASKED_UNITS)}\0".encode())
    for path in (
        Path(__file__),
        checkout / "vagrant/provision/common.sh",
        checkout / "pyproject.toml",
    ):
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def image_for(checkout: Path, cache_root: Path = CACHE_ROOT) -> Image:
    key = cache_key(checkout)
    return Image(key=key, directory=cache_root / f"rootfs-{key}")


def copy_checkout(checkout: Path, dest: Path) -> None:
    """The checkout without VCS data, venvs or caches (what Vagrant syncs to /opt/knet/src)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(checkout, dest, ignore=shutil.ignore_patterns(*COPY_IGNORE), symlinks=True)


def mmdebstrap_argv(stage: Path, target: Path) -> list[str]:
    """The build: packages, then the checkout copied in, common.sh run in the new root, and
    what must differ per machine (hostname, machine-id) left empty."""
    hooks = [
        f'mkdir -p "$1/opt/knet/src" && cp -a {stage}/. "$1/opt/knet/src/"',
        # The build trusts what this host trusts (a host behind a TLS-inspecting proxy has
        # its own CA); the machines keep Debian's store only.
        f'cp {HOST_CA_BUNDLE} "$1/{BUILD_CA}"',
        # A clean environment, as a VM's provisioner has (none of this host's PIP_* or CA paths).
        f'chroot "$1" env -i PATH={CHROOT_PATH} HOME=/root PIP_CERT=/{BUILD_CA} '
        "bash /opt/knet/src/vagrant/provision/common.sh",
        f'rm -f "$1/{BUILD_CA}"',
        f'systemctl --root="$1" mask {" ".join(MASKED_UNITS)}',
        'rm -f "$1/etc/hostname" && : > "$1/etc/machine-id"',
    ]
    argv = ["mmdebstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
    argv += [f"--customize-hook={hook}" for hook in hooks]
    return [*argv, SUITE, str(target)]


def _run_build(image: Image, checkout: Path) -> None:
    stage = image.partial / "src"
    copy_checkout(checkout, stage)
    with open(image.log, "wb") as log:
        done = subprocess.run(
            mmdebstrap_argv(stage, image.partial / "root"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise ImageError(f"mmdebstrap failed (exit {done.returncode}); see {image.log}")
    shutil.rmtree(stage)
    (image.partial / "complete").write_text(image.key + "\n")


@contextlib.contextmanager
def _cache_lock(cache_root: Path, out: Printer) -> Iterator[None]:
    """One build at a time per cache; a second `up` waits for the first one's image."""
    cache_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(cache_root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out(f"waiting for another build of the root filesystem in {cache_root}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure(checkout: Path, out: Printer, cache_root: Path = CACHE_ROOT) -> tuple[Image, float]:
    """The cached image for this checkout, built first if needed: (image, seconds spent)."""
    image = image_for(checkout, cache_root)
    if image.ready():
        return image, 0.0
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap is not installed (Debian: apt-get install mmdebstrap)")
    if not HOST_CA_BUNDLE.is_file():
        raise ImageError(f"{HOST_CA_BUNDLE} is missing (Debian: apt-get install ca-certificates)")
    with _cache_lock(cache_root, out):
        if image.ready():  # built by the `up` we waited for
            return image, 0.0
        return image, _build_locked(image, checkout, out)


def _build_locked(image: Image, checkout: Path, out: Printer) -> float:
    for stale in (image.partial, image.directory):
        if stale.exists():
            out(f"removing a half-built root filesystem: {stale}")
            try:
                mounts.remove_tree(stale)
            except OSError as exc:
                raise ImageError(f"cannot remove the half-built {stale}: {exc}") from None
    out(f"building the machines' root filesystem with mmdebstrap (log: {image.log})")
    start = time.monotonic()
    try:
        _run_build(image, checkout)
    except BaseException:
        mounts.remove_tree(image.partial)
        raise
    image.partial.rename(image.directory)
    return time.monotonic() - start
