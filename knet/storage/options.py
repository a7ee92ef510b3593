"""Which store the API server uses, chosen with kube-apiserver's flag names.

Without `--etcd-servers` the store is SQLite in `--data-dir`; with it, a real etcd cluster.
`add_store_arguments` defines the flags, `store_options_from_args` checks them (ValueError with a
readable message), and `open_store` opens the chosen store.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

from knet.storage.etcd import EtcdStore
from knet.storage.etcd_client import EtcdClient, TlsFiles
from knet.storage.etcd_wire import Mount
from knet.storage.interface import Store, StoreUnavailableError
from knet.storage.layout import ROOT
from knet.storage.sqlite import SqliteStore

# How long the API server waits for etcd at start-up (members may start after it).
START_TIMEOUT = 30.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class StoreOptions:
    etcd_servers: tuple[str, ...] = ()
    etcd_prefix: str = ROOT
    tls: TlsFiles = field(default_factory=TlsFiles)
    compaction_interval: float = 300.0
    request_timeout: float = 10.0


def add_store_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("storage (kube-apiserver's etcd flags)")
    g.add_argument(
        "--etcd-servers",
        default="",
        help="comma-separated etcd URLs (http:// or https://); without it: SQLite in --data-dir",
    )
    g.add_argument("--etcd-prefix", default=ROOT, help="the key prefix of every object in etcd")
    g.add_argument("--etcd-cafile", type=Path, default=None, help="CA of etcd's certificates")
    g.add_argument("--etcd-certfile", type=Path, default=None, help="client certificate")
    g.add_argument("--etcd-keyfile", type=Path, default=None, help="key of --etcd-certfile")
    g.add_argument(
        "--etcd-compaction-interval",
        default="5m",
        help="how often to compact etcd's history (Go duration, e.g. 5m; 0 disables)",
    )


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (`5m`, `1h30m`, `500ms`, `0`); ValueError otherwise."""
    text = text.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (want e.g. 5m, 30s, 1h)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text:
        raise ValueError("invalid duration '' (want e.g. 5m, 30s, 1h)")
    return total


def store_options_from_args(args: argparse.Namespace) -> StoreOptions:
    servers = tuple(s.strip().rstrip("/") for s in args.etcd_servers.split(",") if s.strip())
    for url in servers:
        if not re.fullmatch(r"https?://[^/\s]+", url):
            raise ValueError(f"invalid --etcd-servers URL {url!r} (want http(s)://HOST:PORT)")
    prefix = "/" + args.etcd_prefix.strip("/")
    if prefix == "/":
        raise ValueError("--etcd-prefix must not be empty")
    if (args.etcd_certfile is None) != (args.etcd_keyfile is None):
        raise ValueError("--etcd-certfile and --etcd-keyfile go together")
    for f in (args.etcd_cafile, args.etcd_certfile, args.etcd_keyfile):
        if f is not None and not f.is_file():
            raise ValueError(f"no such file: {f}")
    return StoreOptions(
        etcd_servers=servers,
        etcd_prefix=prefix,
        tls=TlsFiles(args.etcd_cafile, args.etcd_certfile, args.etcd_keyfile),
        compaction_interval=parse_duration(args.etcd_compaction_interval),
    )


async def open_store(options: StoreOptions, *, data_dir: Path, history_window: int) -> Store:
    """SQLite in `data_dir`, or etcd when `options` names servers (waiting for it to answer up
    to START_TIMEOUT). `history_window` applies to SQLite; etcd's history is compacted on
    `compaction_interval`, as upstream."""
    if not options.etcd_servers:
        return await SqliteStore.open(data_dir, history_window=history_window)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while True:
        client = EtcdClient(options.etcd_servers, timeout=options.request_timeout, tls=options.tls)
        try:
            return await EtcdStore.open(
                client,
                mount=Mount(ROOT, options.etcd_prefix),
                compaction_interval=options.compaction_interval,
            )
        except StoreUnavailableError:
            if loop.time() >= deadline:
                raise
        await asyncio.sleep(0.5)
