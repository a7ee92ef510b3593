"""Serving an aiohttp app (API, health, metrics) on TCP and, if asked, a unix socket."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

from aiohttp import web


async def serve_http(
    app: web.Application,
    host: str,
    port: int,
    *,
    unix_socket: Path | None = None,
    handler_cancellation: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> web.AppRunner:
    """Serve ``app`` on host:port (and ``unix_socket``, replacing a stale one); the caller
    cleans the returned runner up. Raises OSError if it cannot listen (nothing left behind).
    ``handler_cancellation``: a client that hangs up ends its handler at once (watches)."""
    runner = web.AppRunner(app, handler_cancellation=handler_cancellation, access_log=None)
    await runner.setup()
    sites: list[web.BaseSite] = [web.TCPSite(runner, host, port, ssl_context=ssl_context)]
    if unix_socket is not None:
        with contextlib.suppress(FileNotFoundError):
            unix_socket.unlink()
        sites.append(web.UnixSite(runner, str(unix_socket)))
    try:
        for site in sites:
            await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
