"""A relayed TCP connection with no task on its common path: connect by callbacks, then splice.

Most connections through a Service connect to the first endpoint chosen and are short; for
them the cost per connection is what bounds connections per second, and an asyncio task (with
its scheduling rounds through the loop) is a large part of that cost. A failed first connect
hands the client over to the listener's task-based path, which retries with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable

from kproxy.userspace.copy import start_splice

# (client, endpoint that failed): the listener takes the client over from here.
OnFailed = Callable[[socket.socket, str], None]


class QuickRelay:
    def __init__(
        self, client: socket.socket, endpoint: str, timeout: float, on_failed: OnFailed
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.client: socket.socket | None = client
        self.endpoint = endpoint
        self.timeout = timeout
        self.on_failed = on_failed
        self.upstream: socket.socket | None = None
        self.relay: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # Done when the connection is over (or handed over); cancelling it ends the connection.
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.done.add_done_callback(self._cleanup)

    def start(self) -> None:
        ip, _, port = self.endpoint.rpartition(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.upstream = sock
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((ip, int(port)))
        if err == 0:
            self._connected()
        elif err == errno.EINPROGRESS:
            self.loop.add_writer(sock.fileno(), self._on_writable)
            self._timer = self.loop.call_later(self.timeout, self._failed)
        else:
            self._failed()

    def _on_writable(self) -> None:
        sock = self.upstream
        assert sock is not None
        self._stop_connecting()
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self._failed()
        else:
            self._connected()

    def _stop_connecting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.upstream is not None:
            self.loop.remove_writer(self.upstream.fileno())

    def _connected(self) -> None:
        assert self.client is not None and self.upstream is not None
        self.relay = start_splice(self.client, self.upstream)
        self.relay.add_done_callback(self._relay_done)

    def _relay_done(self, _: asyncio.Future[None]) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _failed(self) -> None:
        """Refused, reset or timed out: close our socket, give the client to the slow path."""
        self._stop_connecting()
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None
        client, self.client = self.client, None
        if not self.done.done():
            self.done.set_result(None)
        if client is not None:
            self.on_failed(client, self.endpoint)

    def _cleanup(self, _: asyncio.Future[None]) -> None:
        """The connection is over, or was cancelled (shutdown): nothing stays registered and
        every socket we still own is closed."""
        self._stop_connecting()
        if self.relay is not None and not self.relay.done():
            self.relay.cancel()
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self.client = self.upstream = None
