"""Named network namespaces, bind-mounted under /run/netns so ``ip netns`` sees them.

Creation happens in a throwaway helper thread (see nsthread), so no thread of ours that outlives
the call ever changes namespace.
"""

from __future__ import annotations

import ctypes
import errno
import os

from knet.netlink.errors import NetlinkError, describe
from knet.netlink.names import validate_netns_name
from knet.netlink.nsthread import libc, run_in_netns_thread

RUN_DIR = "/run/netns"
MNT_DETACH = 2


def path(name: str) -> str:
    """Filesystem path of the namespace's bind mount (what CNI calls CNI_NETNS)."""
    return os.path.join(RUN_DIR, validate_netns_name(name))


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names(prefix: str = "") -> list[str]:
    """Names under /run/netns starting with ``prefix``, sorted."""
    try:
        entries = os.listdir(RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in entries if n.startswith(prefix))


def create(name: str) -> None:
    """Create the namespace; fails (EEXIST) if it already exists."""
    where = f"netns {validate_netns_name(name)}"
    try:
        run_in_netns_thread(path(name), create=True, want_socket=False)
    except Exception as exc:
        reason, code = describe(exc)
        raise NetlinkError("create netns", where, reason, code) from exc


def ensure(name: str) -> bool:
    """Create the namespace unless it exists; True when this call created it."""
    if exists(name):
        return False
    try:
        create(name)
    except NetlinkError as exc:
        if exc.errno == errno.EEXIST:  # somebody else won the race: fine for ensure
            return False
        raise
    return True


def remove(name: str) -> bool:
    """Unmount and unlink the namespace; True if it was there. Succeeds when already gone.

    The kernel tears the namespace down (and with it any veth ends inside) once the last process
    and mount referring to it are gone.
    """
    p = path(name)
    if not os.path.lexists(p):
        return False
    try:
        # Detach the bind mount (EINVAL: it is not one, e.g. half made), then unlink the file.
        if libc().umount2(p.encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.ENOENT):
                raise OSError(err, f"umount {p}: {os.strerror(err)}")
        os.unlink(p)
    except FileNotFoundError:
        return False
    except Exception as exc:
        reason, code = describe(exc)
        raise NetlinkError("remove netns", f"netns {name}", reason, code) from exc
    return True
