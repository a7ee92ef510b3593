"""A netlink session bound to one network namespace.

The netlink socket is opened inside the namespace by a throwaway helper thread (see nsthread)
and spoken to with knet.netlink.rtnl (our request loop, pyroute2's messages), so the calling
process (and thread) never changes namespace. Every function in knet.netlink takes the session,
and with it the namespace, as its first argument.

Sessions are thread-confined: a request and its reply share the socket, so two threads on one
session would read each other's answers; we refuse cross-thread use with a clear error. The
calls block; run them in a worker thread (``asyncio.to_thread``) from async code.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from knet.netlink import netns as netns_mod
from knet.netlink.errors import NetlinkError, describe
from knet.netlink.names import validate_netns_name
from knet.netlink.nsthread import run_in_netns_thread
from knet.netlink.rtnl import Msg, Rtnl

T = TypeVar("T")


class Session:
    """An open rtnetlink socket in ``netns`` (None = the namespace of the calling process)."""

    def __init__(self, rtnl: Rtnl, netns: str | None) -> None:
        self._rtnl = rtnl
        self._thread = threading.get_ident()
        self.netns = netns
        self.where = f"netns {netns}" if netns is not None else "the current netns"
        self.closed = False

    def call(self, op: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (netlink I/O on this session), translating its failure into a
        NetlinkError naming ``op``."""
        if threading.get_ident() != self._thread:
            raise RuntimeError(f"netlink session for {self.where} used from another thread")
        if self.closed:
            raise NetlinkError(op, self.where, "the netlink session is closed")
        try:
            return fn()
        except NetlinkError:
            raise
        except Exception as exc:  # KernelError (an OSError), or a malformed reply
            reason, code = describe(exc)
            raise NetlinkError(op, self.where, reason, code) from exc

    def request(self, op: str, msg: Msg, mtype: int, flags: int = 0) -> list[Msg]:
        """Send the pyroute2 message ``msg`` as ``mtype`` and wait for its ACK; return the
        decoded replies before it. Failure is a NetlinkError naming ``op``."""
        return self.call(op, lambda: self._rtnl.request(msg, mtype, flags))

    def get(self, op: str, msg: Msg, mtype: int) -> Msg:
        """A request the kernel answers with one message (no ACK); returns it decoded."""
        return self.call(op, lambda: self._rtnl.get(msg, mtype))

    def dump(self, op: str, msg: Msg, mtype: int) -> list[Msg]:
        """One rtnetlink dump; its failure is a NetlinkError naming ``op``."""
        return self.call(op, lambda: self._rtnl.dump(msg, mtype))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._rtnl.close()


def connect(netns: str | None, *, create: bool = False) -> Session:
    """Open a session in the named namespace (or the current one when ``netns`` is None); the
    caller closes it. Prefer ``open_session`` (a context manager) or ``SessionCache``.

    With ``create=True`` the namespace is created exclusively (it must not exist) and the socket
    opened in it in one step. The namespace is bind-mounted under /run/netns, so ``ip netns``
    lists it. See knet.netlink.nsthread for how the socket gets into the namespace without this
    thread ever leaving its own.
    """
    if netns is None:
        if create:
            raise ValueError("create=True needs a namespace name")
        where = "the current netns"
    else:
        validate_netns_name(netns)
        where = f"netns {netns}"
    op = "create netns and open netlink socket" if create else "open netlink socket"
    try:
        if netns is None:
            rtnl = Rtnl.here()
        else:
            sock = run_in_netns_thread(netns_mod.path(netns), create=create, want_socket=True)
            assert sock is not None
            rtnl = Rtnl(sock)
    except Exception as exc:
        reason, code = describe(exc)
        if create and netns is not None and code != errno.EEXIST:
            # The namespace may exist by now; with EEXIST it was never ours to remove.
            netns_mod.remove(netns)
        raise NetlinkError(op, where, reason, code) from exc
    return Session(rtnl, netns)


@contextmanager
def open_session(netns: str | None, *, create: bool = False) -> Iterator[Session]:
    """``connect`` as a context manager: the session is closed on exit."""
    session = connect(netns, create=create)
    try:
        yield session
    finally:
        session.close()


class SessionCache:
    """Long-lived sessions in one namespace, one per thread (sessions are thread-confined).

    Opening a session costs a helper thread, so a component
    that talks to the same namespace over and over (the node's bridge namespace) keeps one. Each
    get() checks that the name still refers to the same namespace (inode of the bind mount) and
    reopens if it was replaced; it raises NetlinkError(ENOENT) once the namespace is gone.
    """

    def __init__(self, netns: str | None) -> None:
        if netns is not None:
            validate_netns_name(netns)
        self.netns = netns
        self._local = threading.local()
        self._open: list[Session] = []
        self._mutex = threading.Lock()

    def _identity(self) -> tuple[int, int] | None:
        if self.netns is None:
            return None
        try:
            st = os.stat(netns_mod.path(self.netns))
        except FileNotFoundError:
            raise NetlinkError(
                "open netlink socket",
                f"netns {self.netns}",
                "namespace does not exist",
                errno.ENOENT,
            ) from None
        return st.st_dev, st.st_ino

    def get(self) -> Session:
        ident = self._identity()
        entry: tuple[tuple[int, int] | None, Session] | None = getattr(self._local, "entry", None)
        if entry is not None:
            if entry[0] == ident and not entry[1].closed:
                return entry[1]
            self._discard(entry[1])
        session = connect(self.netns)
        self._local.entry = (ident, session)
        with self._mutex:
            self._open.append(session)
        return session

    def _discard(self, session: Session) -> None:
        with self._mutex:
            if session in self._open:
                self._open.remove(session)
        session.close()

    def close(self) -> None:
        """Close every cached session (call when the owner shuts down)."""
        with self._mutex:
            sessions, self._open = self._open, []
        for session in sessions:
            session.close()
