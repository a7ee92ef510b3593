"""/livez, /readyz and /healthz: named checks, as kube-apiserver runs them.

Each check is a coroutine that raises when it fails. ``?verbose`` lists every check
(``[+]name ok`` / ``[-]name failed: reason withheld``); a failing endpoint answers 500 with that
list, as upstream, so a load balancer's health check (haproxy's ``/readyz``) takes the server
out. ``?exclude=name`` skips a check; ``/readyz/<name>`` runs one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from knet.apiserver.keys import STOPPING, STORE

log = logging.getLogger("knet.apiserver.health")

Check = Callable[[web.Application], Awaitable[None]]
# No check may hold a health probe longer than this (the store's own checks are shorter).
CHECK_TIMEOUT = 5.0


class NotReady(Exception):
    pass


async def _ping(app: web.Application) -> None:
    return None


async def _store(app: web.Application) -> None:
    await app[STORE].check()


async def _shutdown(app: web.Application) -> None:
    # A stopping server leaves the load balancer's rotation before it closes its listener.
    if app[STOPPING].is_set():
        raise NotReady("the server is shutting down")


def checks(app: web.Application, endpoint: str) -> list[tuple[str, Check]]:
    """The checks of ``endpoint`` (healthz, livez or readyz), in the order they are listed."""
    found: list[tuple[str, Check]] = [("ping", _ping)]
    if STORE in app:
        found.append((app[STORE].health_check_name, _store))
    if endpoint == "readyz":
        found.append(("shutdown", _shutdown))
    return found


async def _run(app: web.Application, name: str, check: Check) -> str | None:
    """None when ``check`` passes, else why it failed."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await check(app)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g}s"
    except Exception as e:  # any failure is a failed check, not a 500 from the middleware
        return f"{type(e).__name__}: {e}"
    return None


async def handle(request: web.Request) -> web.Response:
    endpoint = request.path.strip("/").split("/")[0]
    wanted = checks(request.app, endpoint)
    one = request.match_info.get("check")
    if one is not None:
        chosen = [(n, c) for n, c in wanted if n == one]
        if not chosen:
            return web.Response(status=404, text=f"{endpoint}/{one} not found\n")
        failure = await _run(request.app, *chosen[0])
        if failure is None:
            return web.Response(text="ok")
        return web.Response(status=500, text=f"internal server error: {failure}\n")
    excluded = set(request.query.getall("exclude", []))
    lines, failed = [], False
    for name, check in wanted:
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
            continue
        failure = await _run(request.app, name, check)
        if failure is None:
            lines.append(f"[+]{name} ok")
        else:
            failed = True
            log.warning("%s check %s failed: %s", endpoint, name, failure)
            lines.append(f"[-]{name} failed: reason withheld")
    if failed:
        return web.Response(status=500, text="\n".join([*lines, f"{endpoint} check failed\n"]))
    if request.query.get("verbose") is not None:
        return web.Response(text="\n".join([*lines, f"{endpoint} check passed\n"]))
    return web.Response(text="ok")
