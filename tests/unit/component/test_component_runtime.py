"""The component runtime every program shares: flags, logging, stopping, serving."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from knet.component import (
    fail,
    parse_duration,
    serve_http,
    stop_on_signals,
    until_stopped,
    wait_any,
)
from knet.component.leader import (
    add_leader_election_flags,
    leader_election_from_args,
    run_leading,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5),
        ("40s", 40),
        ("5m", 300),
        ("1m30s", 90),
        ("250ms", 0.25),
        ("1h", 3600),
        ("2", 2),
        ("0", 0),
        ("1.5s", 1.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "s", "5 s", "m5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_logging_levels_and_quiet_libraries() -> None:
    code = (
        "import logging\n"
        "from knet.component import setup_logging\n"
        "setup_logging({v}, quiet=['chatty'])\n"
        "print(logging.getLogger().level, logging.getLogger('chatty').level)\n"
    )
    for verbose, root in (("True", "10"), ("4", "10"), ("2", "20"), ("False", "20")):
        done = subprocess.run(
            [sys.executable, "-c", code.format(v=verbose)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert done.stdout.split() == [root, "30"], verbose


def test_fail_says_one_line_and_returns_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert fail("knet thing", "bad flag", 2) == 2
    assert capsys.readouterr().err == "knet thing: bad flag\n"


async def test_until_stopped_returns_mains_code() -> None:
    async def main() -> int:
        return 3

    assert await until_stopped(main(), asyncio.Event()) == 3


async def test_until_stopped_cancels_main_when_stopped() -> None:
    cancelled = asyncio.Event()
    stop = asyncio.Event()

    async def main() -> int:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1

    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await until_stopped(main(), stop) == 0
    assert cancelled.is_set()


async def test_sigterm_sets_the_stop_event() -> None:
    loop = asyncio.get_running_loop()
    stop = stop_on_signals()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert await wait_any([stop], timeout=5)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def test_wait_any_times_out() -> None:
    assert not await wait_any([asyncio.Event()], timeout=0.01)


async def test_serve_http_on_tcp_and_a_stale_unix_socket(tmp_path: Path) -> None:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", hello)
    sock = tmp_path / "api.sock"
    sock.write_text("stale")  # left by a process that died
    runner = await serve_http(app, "127.0.0.1", 0, unix_socket=sock)
    try:
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/healthz") as r:
            assert await r.text() == "ok"
        conn = aiohttp.UnixConnector(path=str(sock))
        async with aiohttp.ClientSession(connector=conn) as s, s.get("http://x/healthz") as r:
            assert r.status == 200
    finally:
        await runner.cleanup()


async def test_serve_http_raises_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            await serve_http(web.Application(), "127.0.0.1", taken.getsockname()[1])


def leader_args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_leader_election_flags(p)
    return p.parse_args(list(argv))


def test_leader_election_flags_default_to_upstreams() -> None:
    assert leader_election_from_args(leader_args(), "kube-scheduler") is None
    config = leader_election_from_args(leader_args("--leader-elect"), "kube-scheduler")
    assert config is not None
    assert (config.lease_name, config.lease_namespace) == ("kube-scheduler", "kube-system")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)


def test_leader_election_durations_must_fit_together() -> None:
    args = leader_args("--leader-elect", "--leader-elect-lease-duration=5s")
    with pytest.raises(ValueError, match="lease_duration"):
        leader_election_from_args(args, "kube-scheduler")


async def test_run_leading_without_election_just_runs_the_work() -> None:
    ran: list[bool] = []

    async def work() -> None:
        ran.append(True)

    assert await run_leading(None, None, work) == 0  # type: ignore[arg-type]
    assert ran == [True]
