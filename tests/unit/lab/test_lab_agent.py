"""The data-plane agent's client side, against a server on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from kproxy.lab.agent import GREETING, connect_samples, parse_target, throughput


@pytest.fixture
def sink() -> Iterator[int]:
    """A loopback TCP server greeting every connection and reading it to EOF (like
    ``agent serve``)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(GREETING)
                while conn.recv(1 << 16):
                    pass
            except OSError:
                pass

    def loop() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        srv.close()


def test_connect_samples_round_robin(sink: int) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connects are refused
    refused_port = closed.getsockname()[1]
    try:
        out = connect_samples(
            [("127.0.0.1", sink), ("127.0.0.1", refused_port)],
            samples=20,
            warmup=3,
            timeout=2.0,
            deadline=30.0,
        )
    finally:
        closed.close()
    good = out[f"127.0.0.1:{sink}"]
    assert len(good["us"]) == len(good["ttfb_us"]) == 20 and good["failures"] == 0
    assert all(0 < us <= ttfb for us, ttfb in zip(good["us"], good["ttfb_us"], strict=True))
    bad = out[f"127.0.0.1:{refused_port}"]
    assert bad["us"] == [] and bad["failures"] == 23
    assert "ConnectionRefused" in bad["error"]


def test_throughput_sends_and_waits_for_the_server(sink: int) -> None:
    result = throughput(("127.0.0.1", sink), total=4 << 20, seconds=10.0)
    assert result["bytes"] == 4 << 20
    assert result["seconds"] > 0


@pytest.mark.parametrize("text", ["1.2.3.4", "host:80", "1.2.3.4:0", "1.2.3.4:x", ":80"])
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises((ValueError, OSError)):
        parse_target(text)


def test_a_server_that_never_greets_is_a_failure() -> None:
    """Connected but closed without the greeting: counted as a failure, not as a sample."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def slam() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    t = threading.Thread(target=slam, daemon=True)
    t.start()
    try:
        out = connect_samples([("127.0.0.1", port)], samples=5, warmup=0, timeout=2.0, deadline=30)
    finally:
        stop.set()
        t.join(5)
        srv.close()
    entry = out[f"127.0.0.1:{port}"]
    assert entry["us"] == [] and entry["ttfb_us"] == [] and entry["failures"] == 5
    assert "greeting" in entry["error"] or "Connection" in entry["error"]
