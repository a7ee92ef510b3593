"""Tiny programs run inside the test's network namespaces (started with nsenter, by path).

    serve NAME HTTP_PORT UDP_PORT      answer every HTTP GET and UDP datagram with NAME
    http HOST PORT COUNT [DISTINCT]    COUNT requests, one connection each; JSON list of answers
    udp HOST PORT COUNT [DISTINCT]     COUNT datagrams, a new socket (source port) each
    udp-from HOST PORT COUNT           like udp, answers as "NAME@IP:PORT" (the reply's source)
    connect HOST PORT                  one TCP connect: "ok", "refused" or "timeout"/"error:..."
    get URL                            one HTTP GET: JSON {"status": code, "body": text}
    http-loop HOST PORT STOPFILE OUT   requests back to back until STOPFILE exists; JSON summary
    udp-stream HOST PORT STOPFILE OUT  one socket, a datagram every 100 ms; a JSON line per reply

Answers that fail are recorded as "error:<reason>" so the tests can count and show them. With
DISTINCT, http/udp stop early once that many different answers were seen.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

TIMEOUT = 3.0


def serve(name: str, http_port: int, udp_port: int) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", http_port), Handler)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", udp_port))

    def answer_udp() -> None:
        while True:
            _, peer = udp.recvfrom(2048)
            udp.sendto(name.encode(), peer)

    threading.Thread(target=answer_udp, daemon=True).start()
    print("ready", flush=True)
    server.serve_forever()


def _error(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and e.reason is not None:
        e = e.reason if isinstance(e.reason, BaseException) else e
    if isinstance(e, ConnectionRefusedError):
        return "error:refused"
    if isinstance(e, (TimeoutError, socket.timeout)):
        return "error:timeout"
    return f"error:{type(e).__name__}:{e}"


def http_once(host: str, port: int, timeout: float = TIMEOUT) -> str:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=timeout) as r:
            body: bytes = r.read()
            return body.decode()
    except Exception as e:  # every failure is an answer to report
        return _error(e)


def udp_once(host: str, port: int, timeout: float = TIMEOUT) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(b"hi", (host, port))
            return s.recvfrom(2048)[0].decode()
        except Exception as e:
            return _error(e)


def udp_from(host: str, port: int, timeout: float = TIMEOUT) -> str:
    """One datagram's answer and where it came from: an unconnected socket accepts a reply
    from any source, so the source is shown rather than filtered (as a resolver would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(b"hi", (host, port))
            data, (ip, sport) = s.recvfrom(2048)
            return f"{data.decode()}@{ip}:{sport}"
        except Exception as e:
            return _error(e)


def repeat(
    fn: Callable[[str, int], str], host: str, port: int, count: int, distinct: int
) -> list[str]:
    answers: list[str] = []
    for _ in range(count):
        answers.append(fn(host, port))
        if distinct and len({a for a in answers if not a.startswith("error:")}) >= distinct:
            break
    return answers


def connect(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return "ok"
    except Exception as e:
        return _error(e)[len("error:") :]


def get(url: str) -> dict[str, object]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            return {"status": r.status, "body": r.read().decode()}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode()}


def http_loop(host: str, port: int, stopfile: str, out: str) -> None:
    answers: dict[str, int] = {}
    failures: list[tuple[float, str]] = []
    start = time.monotonic()
    while not os.path.exists(stopfile):
        answer = http_once(host, port, timeout=5.0)
        if answer.startswith("error:"):
            failures.append((round(time.monotonic() - start, 3), answer))
        else:
            answers[answer] = answers.get(answer, 0) + 1
        time.sleep(0.01)
    with open(out + ".tmp", "w") as f:
        json.dump({"answers": answers, "failures": failures}, f)
    os.replace(out + ".tmp", out)


def udp_stream(host: str, port: int, stopfile: str, out: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, open(out, "a") as f:
        s.bind(("0.0.0.0", 0))  # one source port for the whole run: one conntrack entry
        s.settimeout(0.1)
        while not os.path.exists(stopfile):
            try:
                s.sendto(b"hi", (host, port))
                data = s.recvfrom(2048)[0].decode()
            except OSError:
                data = None
            if data is not None:
                f.write(json.dumps({"t": time.time(), "answer": data}) + "\n")
                f.flush()
                time.sleep(0.1)


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    if mode == "serve":
        serve(args[0], int(args[1]), int(args[2]))
    elif mode in ("http", "udp", "udp-from"):
        fn = {"http": http_once, "udp": udp_once, "udp-from": udp_from}[mode]
        distinct = int(args[3]) if len(args) > 3 else 0
        print(json.dumps(repeat(fn, args[0], int(args[1]), int(args[2]), distinct)))
    elif mode == "get":
        print(json.dumps(get(args[0])))
    elif mode == "connect":
        print(connect(args[0], int(args[1])))
    elif mode == "http-loop":
        http_loop(args[0], int(args[1]), args[2], args[3])
    elif mode == "udp-stream":
        udp_stream(args[0], int(args[1]), args[2], args[3])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
