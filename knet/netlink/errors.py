"""Errors raised by knet.netlink: each one says which operation failed, where, and why."""

from __future__ import annotations

import errno as errno_mod
import os


class NetlinkError(Exception):
    """A kernel operation failed.

    The message reads like ``create veth kv1234 in netns kt-node: File exists``; ``errno`` keeps
    the kernel's error number (or None when the failure was not an OS error) so callers can branch
    on ENOENT/EEXIST without parsing text.
    """

    def __init__(self, op: str, where: str, reason: str, errno: int | None = None) -> None:
        super().__init__(f"{op} in {where}: {reason}")
        self.op = op
        self.where = where
        self.reason = reason
        self.errno = errno


def describe(exc: BaseException) -> tuple[str, int | None]:
    """Readable reason and errno for an exception from the kernel (rtnl.KernelError, with the
    kernel's own explanation when it gave one), pyroute2 or the OS."""
    code = getattr(exc, "code", None)  # pyroute2's NetlinkError carries the errno as .code
    if not isinstance(code, int):
        code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        name = errno_mod.errorcode.get(code, str(code))
        ext_ack = getattr(exc, "ext_ack", "")
        more = f": {ext_ack}" if ext_ack else ""
        return f"{os.strerror(code)} ({name}){more}", code
    return f"{type(exc).__name__}: {exc}", None
