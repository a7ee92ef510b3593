"""HTTP transport to etcd's v3 JSON gateway, with endpoint failover and bounded time.

Every call has a deadline: a lost etcd makes calls fail with `StoreUnavailableError` (nothing
answers) or `StoreTimeoutError` (something accepted the request but did not answer in time),
never hang. A member that does not answer is skipped for the next endpoint of the list.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from knet.storage.interface import StoreError, StoreTimeoutError, StoreUnavailableError

Json = dict[str, Any]

# gRPC status codes etcd answers with (in the gateway's error body).
_DEADLINE_EXCEEDED = 4
_UNAVAILABLE = 14


@dataclass(frozen=True)
class TlsFiles:
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None


def ssl_context(tls: TlsFiles) -> ssl.SSLContext | None:
    if tls.cafile is None and tls.certfile is None:
        return None
    ctx = ssl.create_default_context(cafile=str(tls.cafile) if tls.cafile else None)
    if tls.certfile is not None:
        ctx.load_cert_chain(str(tls.certfile), str(tls.keyfile) if tls.keyfile else None)
    return ctx


class EtcdError(StoreError):
    """etcd refused a request; `code` is its gRPC status code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(f"etcd: {message}")
        self.code = code


class EtcdClient:
    def __init__(
        self, endpoints: Sequence[str], *, timeout: float, ssl_ctx: ssl.SSLContext | None = None
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout
        self._preferred = 0
        # Unary calls share a pool; watches hold a connection each, in a pool of their own, so
        # many watches never starve writes of connections.
        self._ssl: ssl.SSLContext | bool = ssl_ctx if ssl_ctx is not None else True
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        self._streams = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def call(self, method: str, body: Json) -> Json:
        """POST /v3/<method> to the first endpoint that answers."""
        data = orjson.dumps(body)
        last: Exception | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        # A member's own order first, then each once more: after an etcd restart the pool's
        # kept-alive connections are dead, and the first request on one fails at once.
        attempts = self._order()
        attempts += attempts
        stale_retries = 1
        while attempts:
            i = attempts.pop(0)
            left = deadline - loop.time()
            if left <= 0:
                break
            url = f"{self.endpoints[i]}/v3/{method}"
            try:
                async with asyncio.timeout(left):
                    async with self._session.post(url, data=data, ssl=self._ssl) as resp:
                        payload = await resp.read()
            except aiohttp.ServerDisconnectedError as e:
                # Closed without a byte of answer: almost always a connection the server (since
                # restarted) closed while idle. Try once more. Should the first try have reached
                # etcd after all, a create or compare-and-swap retried fails its compare (the
                # caller sees a conflict); only an unconditional update may apply twice.
                last = e
                if stale_retries:
                    stale_retries -= 1
                    attempts.insert(0, i)
                    continue
                raise StoreTimeoutError(
                    f"etcd closed the connection during {method} ({url})"
                ) from e
            except TimeoutError:
                raise StoreTimeoutError(
                    f"etcd did not answer {method} within {self.timeout:g}s ({url})"
                ) from None
            except (aiohttp.ClientConnectorError, ConnectionRefusedError) as e:
                last = e  # nothing was sent: safe to try the next member
                attempts = [a for a in attempts if a != i]
                continue
            except (aiohttp.ClientError, OSError) as e:
                # The request may have reached etcd: its outcome is unknown, as on a timeout.
                raise StoreTimeoutError(f"etcd connection lost during {method} ({url}): {e}") from e
            self._preferred = i
            return _decode(method, resp.status, payload)
        raise StoreUnavailableError(
            f"etcd is unreachable at {', '.join(self.endpoints)}: {last or 'no time left'}"
        )

    async def stream(self, method: str, body: Json) -> aiohttp.ClientResponse:
        """Open a streaming POST (a watch); the caller reads and closes the response."""
        data = orjson.dumps(body)
        last: Exception | None = None
        for i in self._order():
            url = f"{self.endpoints[i]}/v3/{method}"
            timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout)
            try:
                resp = await self._streams.post(url, data=data, ssl=self._ssl, timeout=timeout)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                last = e
                continue
            if resp.status != 200:
                payload = await resp.read()
                resp.release()
                _decode(method, resp.status, payload)  # raises
            self._preferred = i
            return resp
        raise StoreUnavailableError(f"etcd is unreachable at {', '.join(self.endpoints)}: {last}")

    def _order(self) -> list[int]:
        n = len(self.endpoints)
        return [(self._preferred + k) % n for k in range(n)]

    async def close(self) -> None:
        await self._session.close()
        await self._streams.close()


def _decode(method: str, status: int, payload: bytes) -> Json:
    try:
        msg = orjson.loads(payload) if payload else {}
    except orjson.JSONDecodeError:
        raise StoreError(f"etcd answered {method} with HTTP {status} and no JSON") from None
    if status == 200 and isinstance(msg, dict):
        return msg
    message = (
        str(msg.get("message") or msg.get("error") or payload[:200])
        if isinstance(msg, dict)
        else str(payload[:200])
    )
    code = int(msg.get("code", 0)) if isinstance(msg, dict) else 0
    if code == _UNAVAILABLE:
        raise StoreUnavailableError(f"etcd: {message}")
    if code == _DEADLINE_EXCEEDED or "timed out" in message:
        raise StoreTimeoutError(f"etcd: {message}")
    raise EtcdError(message, code)
