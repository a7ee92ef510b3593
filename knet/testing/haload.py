"""Load for the HA chaos tests: writers doing creates and compare-and-swap updates of a few
ConfigMaps through the load balancer, each recording what it was told (a history for
`linearizability.check_history`), and watchers checking the order of what they see.

Threads and plain HTTP (urllib): the load must not share an event loop or a connection pool
with anything it is testing. Every answer is classified the way a careful client must:
a Status 409/404 is a definite refusal; a 5xx, a timeout or a broken connection leaves the
write's outcome unknown (it may have happened).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from knet.testing.linearizability import Kind, Op, Outcome

NAMESPACE = "default"
LABEL = "knet-chaos"
REQUEST_TIMEOUT = 5.0


def _request(
    base: str, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """(status, decoded body); raises OSError (URLError, timeouts) when there is no answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}


def configmap(name: str, value: str, rv: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {LABEL: "1"}}
    if rv is not None:
        meta["resourceVersion"] = str(rv)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


def _collection() -> str:
    return f"/api/v1/namespaces/{NAMESPACE}/configmaps"


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: Op) -> None:
        with self.lock:
            self.ops.append(op)

    def acknowledged_writes(self) -> list[Op]:
        with self.lock:
            return [o for o in self.ops if o.kind is not Kind.READ and o.outcome is Outcome.OK]


def read(base: str, client: str, key: str, history: History) -> tuple[str | None, int | None]:
    """GET the key (a linearizable read of etcd); recorded when answered."""
    start = time.monotonic()
    try:
        status, body = _request(base, "GET", f"{_collection()}/{key}")
    except OSError:
        return None, None
    end = time.monotonic()
    if status == 404:
        history.add(Op(client, key, Kind.READ, start, end, Outcome.OK))
        return None, None
    if status != 200:
        return None, None
    value = (body.get("data") or {}).get("v")
    rv = int(body["metadata"]["resourceVersion"])
    history.add(Op(client, key, Kind.READ, start, end, Outcome.OK, value=value, version=rv))
    return value, rv


def _write(
    base: str, client: str, key: str, value: str, expected: int | None, history: History
) -> int | None:
    """A create (expected None) or a CAS update; the new version when acknowledged."""
    kind = Kind.CREATE if expected is None else Kind.CAS
    start = time.monotonic()
    try:
        if expected is None:
            status, body = _request(base, "POST", _collection(), configmap(key, value))
        else:
            path = f"{_collection()}/{key}"
            status, body = _request(base, "PUT", path, configmap(key, value, expected))
    except OSError:
        status, body = 0, {}
    end = time.monotonic()
    if status in (200, 201):
        rv = int(body["metadata"]["resourceVersion"])
        history.add(Op(client, key, kind, start, end, Outcome.OK, value, expected, rv))
        return rv
    if status in (404, 409):
        history.add(Op(client, key, kind, start, end, Outcome.FAIL, value, expected))
    else:
        history.add(Op(client, key, kind, start, None, Outcome.UNKNOWN, value, expected))
    return None


def writer(base: str, client: str, key: str, history: History, stop: threading.Event) -> None:
    """Create the key if nobody has, then CAS it again and again, rereading after any
    refusal or unknown outcome."""
    n = 0
    rv: int | None = None
    while not stop.is_set():
        n += 1
        value = f"{client}-{n}"
        if rv is None:
            current, rv = read(base, client, key, history)
            if current is None and rv is None:
                rv = _write(base, client, key, value, None, history)
                if rv is None:
                    time.sleep(0.05)
                continue
        rv = _write(base, client, key, value, rv, history)
        if rv is None:
            time.sleep(0.05)


@dataclass
class WatchLog:
    """What one watcher saw: (revision, type, name) in order; relists after 410."""

    events: list[tuple[int, str, str]] = field(default_factory=list)
    relists: list[int] = field(default_factory=list)  # the list revision of each relist
    reconnects: int = 0
    problems: list[str] = field(default_factory=list)

    def check_order(self) -> list[str]:
        """Revisions strictly increase across the whole stream, resumes included."""
        bad = list(self.problems)
        for (a, _, _), (b, t, n) in zip(self.events, self.events[1:], strict=False):
            if b <= a:
                bad.append(f"watch went from revision {a} to {b} ({t} {n})")
        return bad


def _list_revision(base: str) -> int | None:
    try:
        status, body = _request(base, "GET", f"{_collection()}?labelSelector={LABEL}%3D1")
    except OSError:
        return None
    if status != 200:
        return None
    return int(body["metadata"]["resourceVersion"])


def _stream(base: str, since: int, log: WatchLog, stop: threading.Event) -> tuple[int, bool]:
    """Watch from ``since`` until the stream ends; (last revision seen, expired)."""
    path = (
        f"{_collection()}?watch=1&resourceVersion={since}&labelSelector={LABEL}%3D1"
        "&timeoutSeconds=20"
    )
    try:
        resp = urllib.request.urlopen(base + path, timeout=REQUEST_TIMEOUT)
    except urllib.error.HTTPError as e:
        return since, e.code == 410
    except OSError:
        return since, False
    with contextlib.closing(resp):
        while not stop.is_set():
            try:
                line = resp.readline()
            except OSError:  # timeouts between events and cut connections alike
                return since, False
            if not line:
                return since, False
            ev = json.loads(line)
            obj = ev.get("object") or {}
            if ev.get("type") == "ERROR":
                return since, obj.get("code") == 410
            if ev.get("type") == "BOOKMARK":
                continue
            rv = int(obj["metadata"]["resourceVersion"])
            log.events.append((rv, str(ev["type"]), str(obj["metadata"]["name"])))
            since = rv
    return since, False


def watcher(base: str, log: WatchLog, stop: threading.Event, start_rv: int) -> None:
    """Watch the chaos ConfigMaps from ``start_rv``, resuming from the last revision seen after
    any break, relisting only when told the revision is gone (410)."""
    since = start_rv
    while not stop.is_set():
        since, expired = _stream(base, since, log, stop)
        if stop.is_set():
            return
        log.reconnects += 1
        if expired:
            rv = _list_revision(base)
            if rv is not None:
                log.relists.append(rv)
                since = rv
        time.sleep(0.05)


def missed(log: WatchLog, writes: list[Op]) -> list[Op]:
    """Acknowledged writes the watcher should have seen and did not (after its last relist,
    everything; before it, a 410 excuses the gap)."""
    seen = {rv for rv, _, _ in log.events}
    floor = max(log.relists, default=0)
    last = log.events[-1][0] if log.events else 0
    return [
        op
        for op in writes
        if op.version is not None and floor < op.version <= last and op.version not in seen
    ]


@dataclass
class Load:
    """Writers and watchers running against ``base`` until `stop`."""

    base: str
    keys: tuple[str, ...] = ("chaos-a", "chaos-b")
    writers_per_key: int = 2
    watchers: int = 2
    history: History = field(default_factory=History)
    logs: list[WatchLog] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _stop_watchers: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        rv = _list_revision(self.base)
        if rv is None:
            raise RuntimeError(f"cannot list through {self.base}")
        for i in range(self.watchers):
            log = WatchLog()
            self.logs.append(log)
            self._spawn(f"watcher-{i}", watcher, self.base, log, self._stop_watchers, rv)
        for key in self.keys:
            for w in range(self.writers_per_key):
                client = f"{key}-w{w}-{time.monotonic_ns() % 100000}"
                self._spawn(client, writer, self.base, client, key, self.history, self._stop)

    def _spawn(self, name: str, fn: Any, *args: Any) -> None:
        t = threading.Thread(target=fn, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def stop(self, drain: float = 10.0) -> None:
        """Stop the writers, give the watchers up to ``drain`` seconds to see the last
        acknowledged write, then stop them: `missed` then covers every acknowledged write."""
        self._stop.set()
        writers = [t for t in self._threads if not t.name.startswith("watcher-")]
        for t in writers:
            t.join(timeout=REQUEST_TIMEOUT + 5)
        last = max((op.version or 0 for op in self.history.acknowledged_writes()), default=0)
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline and any(
            not log.events or log.events[-1][0] < last for log in self.logs
        ):
            time.sleep(0.05)
        self._stop_watchers.set()
        for t in self._threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)

    def final_reads(self) -> None:
        """One last read of each key, after the faults: a lost write shows here."""
        for key in self.keys:
            read(self.base, "final", key, self.history)

    def acknowledged_after(self, t: float) -> int:
        return sum(1 for op in self.history.acknowledged_writes() if op.start >= t)
