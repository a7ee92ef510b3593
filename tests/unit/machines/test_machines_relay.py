"""The kubectl relay: a 127.0.0.1 listener here whose upstream sockets live in another network
namespace (one this test makes; traffic stays on loopback, here and in there)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from knet.machines import relay
from knet.netlink import links, netns
from knet.netlink.nsthread import call_in_netns
from knet.netlink.session import open_session


def test_parse_target() -> None:
    assert relay.parse_target("192.168.56.10:6443") == ("192.168.56.10", 6443)
    for bad in ("nohost", ":80", "h:x"):
        with pytest.raises(Exception, match="HOST:PORT"):
            relay.parse_target(bad)


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    name = f"km-t{secrets.token_hex(3)}-ul"
    netns.create(name)
    try:
        with open_session(name) as s:
            links.set_up(s, "lo")
        yield name
    finally:
        netns.remove(name)


def _echo_server_in(name: str) -> tuple[socket.socket, int]:
    srv = call_in_netns(netns.path(name), lambda: socket.socket(socket.AF_INET))
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.root
def test_relay_reaches_a_server_only_the_namespace_has(namespace: str) -> None:
    srv, upstream = _echo_server_in(namespace)
    port = _free_port()
    # Nothing listens on that port here: only the namespace's loopback has the server.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", upstream), timeout=1):
        pass
    argv = [sys.executable, "-m", "knet.machines.relay", "--port", str(port)]
    proc = subprocess.Popen([*argv, "--netns", namespace, "--to", f"127.0.0.1:{upstream}"])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "relay did not listen"
                time.sleep(0.05)
        with conn:
            conn.sendall(b"hello")
            assert conn.recv(100) == b"HELLO"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        srv.close()
