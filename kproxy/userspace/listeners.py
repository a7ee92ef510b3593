"""Per service port listeners: accept (TCP) or receive (UDP), pick an endpoint, relay.

A listener can be closed while its port stays reserved for the service port: with no
endpoints the proxier closes it, so REDIRECTed SYNs meet a closed port and are refused (RST)
at once. Closing a listener never touches connections already relayed: they finish.

UDP replies leave from the address each request was received on (IP_PKTINFO), not from the
one routing would pick: only then do they match the REDIRECT's conntrack entry and get their
source rewritten back to the Service address. A node-local client is REDIRECTed to 127.0.0.1;
a reply from the node's own address would reach it unNATed, from the wrong source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from kproxy.userspace.chooser import Chooser, NoEndpoints
from kproxy.userspace.copy import Copier, copy_splice
from kproxy.userspace.quick import QuickRelay

log = logging.getLogger("kproxy.userspace")

Now = Callable[[], float]
CONNECT_TIMEOUT = 2.0
# Upstream's userspace proxier retried dials with growing waits; these are its spirit.
RETRY_BACKOFF = (0.0, 0.05, 0.1, 0.2, 0.4)
_LINGER_RST = struct.pack("ii", 1, 0)
# <linux/in.h>; Python's socket module does not name it. struct in_pktinfo is
# {int ipi_ifindex; struct in_addr ipi_spec_dst; struct in_addr ipi_addr;}.
IP_PKTINFO = 8
_PKTINFO = struct.Struct("=i4s4s")
_PKTINFO_SPACE = socket.CMSG_SPACE(_PKTINFO.size)


def bind_socket(protocol: str, port: int, host: str = "0.0.0.0") -> socket.socket:
    """A non-blocking socket bound to host:port (TCP listening); raises OSError."""
    kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(4096)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def received_on(ancdata: list[tuple[int, int, bytes]]) -> bytes | None:
    """The packed destination address of a datagram, from its IP_PKTINFO control message."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO.size:
            addr: bytes = _PKTINFO.unpack_from(data)[2]
            return addr
    return None


def reply_from(local: bytes) -> list[tuple[int, int, bytes]]:
    """Control message making a datagram leave from ``local`` (ifindex 0: routing picks)."""
    return [(socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(0, local, bytes(4)))]


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host, int(port)


def reset(sock: socket.socket) -> None:
    """Close with an RST: the client learns at once that nobody will serve it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    sock.close()


class TcpListener:
    def __init__(
        self,
        key: object,
        port: int,
        chooser: Chooser,
        copier: Copier,
        now: Now = time.monotonic,
        connect_timeout: float = CONNECT_TIMEOUT,
        host: str = "0.0.0.0",
    ) -> None:
        self.key = key
        self.host = host
        self.port = port
        self.chooser = chooser
        self.copier = copier
        self.now = now
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        # Each relayed connection: a task, or a QuickRelay's future; cancelling ends it.
        self.connections: set[asyncio.Future[None]] = set()

    @property
    def listening(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        if self._sock is not None:
            return
        self._sock = bind_socket("TCP", self.port, self.host)
        self.port = self._sock.getsockname()[1]  # the kernel's pick when asked for port 0
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._on_accept)

    def close(self) -> None:
        """Stop accepting; relayed connections carry on."""
        if self._sock is not None:
            # Unregister before closing: the fd number may be reused at once.
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _on_accept(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):  # bounded, so one busy port cannot starve the loop
            try:
                client, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("accept on port %d failed: %s", self.port, e)
                return
            client.setblocking(False)
            if self.copier is copy_splice:
                self._relay_quickly(client, addr[0])
            else:
                self._track(asyncio.create_task(self._serve(client, addr[0])))

    def _track(self, connection: asyncio.Future[None]) -> None:
        self.connections.add(connection)
        connection.add_done_callback(self.connections.discard)

    def _relay_quickly(self, client: socket.socket, client_ip: str) -> None:
        """The common path without a task (see quick.py); a failed first connect goes on in
        ``_serve`` with the endpoint excluded, as the next of its attempts."""
        try:
            endpoint = self.chooser.next(self.key, client_ip, self.now())
        except NoEndpoints:
            reset(client)
            return

        def failed(client: socket.socket, endpoint: str) -> None:
            log.info("connect to %s for %s failed; trying the next", endpoint, self.key)
            retry = self._serve(client, client_ip, failed={endpoint})
            self._track(asyncio.create_task(retry))

        relay = QuickRelay(client, endpoint, self.connect_timeout, failed)
        self._track(relay.done)
        relay.start()

    async def _serve(
        self, client: socket.socket, client_ip: str, failed: set[str] | None = None
    ) -> None:
        try:
            upstream = await self._dial(client_ip, failed or set())
        except NoEndpoints:
            reset(client)
            return
        except BaseException:
            reset(client)
            raise
        try:
            await self.copier(client, upstream)
        except OSError as e:
            log.debug("connection on port %d ended: %s", self.port, e)
        finally:
            client.close()
            upstream.close()

    async def _dial(self, client_ip: str, failed: set[str]) -> socket.socket:
        """Connect to an endpoint; a failed connect moves on to the next one, with back-off.
        Endpoints in ``failed`` were tried already (each counts as an attempt)."""
        loop = asyncio.get_running_loop()
        for attempt in range(len(failed), len(RETRY_BACKOFF)):
            endpoint = self.chooser.next(self.key, client_ip, self.now(), exclude=failed)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                # asyncio.timeout, not wait_for: no extra task per connection.
                async with asyncio.timeout(self.connect_timeout):
                    await loop.sock_connect(sock, split_endpoint(endpoint))
                return sock
            except (OSError, TimeoutError) as e:
                sock.close()
                failed.add(endpoint)
                log.info("connect to %s for %s failed (%s); trying the next", endpoint, self.key, e)
                await asyncio.sleep(RETRY_BACKOFF[attempt])
            except BaseException:  # cancelled (shutdown): do not leak the socket
                sock.close()
                raise
        raise NoEndpoints(f"every endpoint tried for {self.key} failed")


@dataclass
class _UdpSession:
    client: tuple[str, int]
    endpoint: str
    sock: socket.socket
    last_used: float
    local: bytes | None = None  # the address the client's last datagram was received on


class UdpListener:
    """Datagrams from each client address go through one socket connected to its endpoint;
    a session idle for ``idle_timeout`` is closed (kube-proxy's --udp-timeout)."""

    def __init__(
        self,
        key: object,
        port: int,
        chooser: Chooser,
        idle_timeout: float,
        now: Now = time.monotonic,
        host: str = "0.0.0.0",
    ) -> None:
        self.key = key
        self.host = host
        self.port = port
        self.chooser = chooser
        self.idle_timeout = idle_timeout
        self.now = now
        self._sock: socket.socket | None = None
        self.sessions: dict[tuple[str, int], _UdpSession] = {}
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        if self._sock is not None:
            return
        self._sock = bind_socket("UDP", self.port, self.host)
        self._sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self.port = self._sock.getsockname()[1]
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._on_request)
        self._sweeper = asyncio.create_task(self._sweep_loop())

    def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for client in list(self.sessions):
            self._end(client)

    def keep_endpoints(self, endpoints: set[str]) -> None:
        """End sessions whose endpoint is gone: their next datagram picks a live one."""
        for client, session in list(self.sessions.items()):
            if session.endpoint not in endpoints:
                self._end(client)

    def _end(self, client: tuple[str, int]) -> None:
        session = self.sessions.pop(client, None)
        if session is not None:
            asyncio.get_running_loop().remove_reader(session.sock.fileno())
            session.sock.close()

    def _on_request(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):  # bounded, so one busy port cannot starve the loop
            try:
                data, ancdata, _, client = sock.recvmsg(65535, _PKTINFO_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("udp receive on port %d: %s", self.port, e)
                return
            session = self.sessions.get(client)
            if session is None:
                session = self._new_session(client)
                if session is None:
                    continue
            session.last_used = self.now()
            session.local = received_on(ancdata)
            with contextlib.suppress(OSError):  # a full buffer drops, as UDP may
                session.sock.send(data)

    def _new_session(self, client: tuple[str, int]) -> _UdpSession | None:
        try:
            endpoint = self.chooser.next(self.key, client[0], self.now())
        except NoEndpoints:
            return None
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.setblocking(False)
        try:
            up.connect(split_endpoint(endpoint))
        except OSError as e:
            up.close()
            log.info("udp connect to %s failed: %s", endpoint, e)
            return None
        session = _UdpSession(client, endpoint, up, self.now())
        self.sessions[client] = session
        asyncio.get_running_loop().add_reader(up.fileno(), self._on_reply, session)
        return session

    def _on_reply(self, session: _UdpSession) -> None:
        for _ in range(64):
            try:
                data = session.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # ICMP unreachable from the endpoint: drop the session, the next datagram
                # picks again.
                self._end(session.client)
                return
            session.last_used = self.now()
            if self._sock is not None:
                ancdata = reply_from(session.local) if session.local else []
                with contextlib.suppress(OSError):
                    self._sock.sendmsg([data], ancdata, 0, session.client)

    async def _sweep_loop(self) -> None:
        interval = max(self.idle_timeout / 2, 0.05)
        while True:
            await asyncio.sleep(interval)
            now = self.now()
            for client, session in list(self.sessions.items()):
                if now - session.last_used > self.idle_timeout:
                    self._end(client)
