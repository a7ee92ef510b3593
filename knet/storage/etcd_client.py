"""gRPC transport to etcd (grpc.aio with the stubs aetcd ships), with endpoint failover and
bounded time.

Every call has a deadline: a lost etcd makes calls fail with `StoreUnavailableError` (nothing
answers) or `StoreTimeoutError` (no answer in time: a write may or may not have happened),
never hang. A member that cannot be reached is skipped for the next endpoint of the list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from aetcd.rpc import rpc_pb2_grpc

from knet.storage.interface import StoreError, StoreTimeoutError, StoreUnavailableError

Pb = Any

# Reconnect quickly once a member is back (gRPC's default backoff grows to two minutes), and
# fail calls at once while it is away rather than queueing them.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


# How long a call waits for a member that refused it to connect again.
RECONNECT_WAIT = 1.0


@dataclass(frozen=True)
class TlsFiles:
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None


class EtcdError(StoreError):
    """etcd refused a request; `code` is the gRPC status code."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(f"etcd: {message}")
        self.code = code


@dataclass
class _Member:
    url: str
    channel: grpc.aio.Channel
    kv: Any
    watch: Any


class EtcdClient:
    def __init__(
        self, endpoints: Sequence[str], *, timeout: float, tls: TlsFiles | None = None
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.timeout = timeout
        self._members = [_open(url.rstrip("/"), tls or TlsFiles()) for url in endpoints]
        self._preferred = 0

    @property
    def endpoints(self) -> list[str]:
        return [m.url for m in self._members]

    async def call(self, method: str, request: Pb, *, timeout: float | None = None) -> Pb:
        """KV.<method>(request) on the first member that answers (within ``timeout`` seconds,
        default the client's)."""
        timeout = self.timeout if timeout is None else timeout
        last: grpc.aio.AioRpcError | None = None
        attempts = [(i, True) for i in self._order()]
        while attempts:
            i, may_retry = attempts.pop(0)
            member = self._members[i]
            try:
                response = await getattr(member.kv, method)(request, timeout=timeout)
            except grpc.aio.AioRpcError as e:
                code = e.code()
                if code is grpc.StatusCode.UNAVAILABLE:
                    last = e  # not reached: safe to try again, or the next member
                    if may_retry and await _reconnected(member.channel, RECONNECT_WAIT):
                        attempts.insert(0, (i, False))
                    continue
                if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise StoreTimeoutError(
                        f"etcd did not answer {method} within {timeout:g}s ({member.url})"
                    ) from None
                raise EtcdError(e.details() or str(code), code) from None
            self._preferred = i
            return response
        detail = last.details() if last is not None else "no member"
        raise StoreUnavailableError(f"etcd is unreachable at {', '.join(self.endpoints)}: {detail}")

    def watch_stream(self) -> tuple[str, Any]:
        """A new Watch stream on the preferred member (the caller writes its create request,
        reads, and cancels it), and that member's URL; the next call tries the next member."""
        member = self._members[self._preferred]
        self._preferred = (self._preferred + 1) % len(self._members)
        return member.url, member.watch.Watch()

    def _order(self) -> list[int]:
        n = len(self._members)
        return [(self._preferred + k) % n for k in range(n)]

    async def close(self) -> None:
        for member in self._members:
            await member.channel.close()


async def _reconnected(channel: grpc.aio.Channel, wait: float) -> bool:
    """Ask a channel that lost its member to connect now, not at its next backoff tick, and
    wait up to `wait` seconds for it: a restarted etcd is used at once, a dead one fails fast."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    state = channel.get_state(try_to_connect=True)
    while state is not grpc.ChannelConnectivity.READY:
        left = deadline - loop.time()
        if left <= 0:
            return False
        try:
            async with asyncio.timeout(left):
                await channel.wait_for_state_change(state)
        except TimeoutError:
            return False
        state = channel.get_state(try_to_connect=True)
    return True


def _open(url: str, tls: TlsFiles) -> _Member:
    scheme, sep, target = url.partition("://")
    if not sep or scheme not in ("http", "https") or not target:
        raise ValueError(f"invalid etcd URL {url!r} (want http(s)://HOST:PORT)")
    if scheme == "https":
        channel = grpc.aio.secure_channel(target, _credentials(tls), options=_CHANNEL_OPTIONS)
    else:
        channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
    return _Member(url, channel, rpc_pb2_grpc.KVStub(channel), rpc_pb2_grpc.WatchStub(channel))


def _credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(tls.cafile),
        private_key=read(tls.keyfile),
        certificate_chain=read(tls.certfile),
    )
