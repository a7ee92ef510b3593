#!/usr/bin/env python3
"""kproxy sync cost at scale, against the real kernel, in scratch namespaces.

For each backend (iptables-restore, python-iptables) this measures, in one run:
  full     one full sync end to end: informer events already queued, then the proxier's
           sync (trackers -> maps -> render -> iptables-save scan -> jump rules -> one restore);
  alone    iptables-restore by itself loading the very input that full sync fed it, into an
           empty namespace (the floor: full <= 1.5 x alone); for iptables-nft that input is
           kproxy's text as RestoreBackend passes it on (``nft_restore_input``);
  partial  one endpoint of one Service replaced, then the partial sync that applies it
           (floor: <= 100 ms), with the time spent inside the backend's restore shown apart.

Everything runs inside a fresh ``kt-bench-*`` namespace: the script re-executes itself there
through nsenter (so python-iptables works in-process, as in kproxy) in its own process group,
under a hard timeout; on timeout the whole group (with any iptables-restore in it) is killed by
its recorded id, and the namespaces are removed in any case. --nft-services sets a different
size for the nft variant (see docs/kproxy-nft-scaling.md for why it used to be needed).

With ``--mode nftables`` it measures nftables mode instead (its netlink client, no backend):
  full     the first full sync, events queued (render + one transaction replacing the table);
  alone    the client alone writing the same fragments into an empty namespace (no events, no
           render): the floor for "full sync <= 1.2 x loading the same ruleset" until an
           ``nft -f`` of the same ruleset can be timed (the ``nft`` program is not installed);
  partial  one endpoint of one Service replaced (count unchanged), from the informer event to
           the kernel's ACK of the commit, p50 of --repeat (default 20 in this mode);
  add      one new Service (with its endpoints) from the event to the commit.

Run as root:  .venv/bin/python scripts/bench_kproxy_sync.py [--services 10000] [--endpoints 10]
              .venv/bin/python scripts/bench_kproxy_sync.py --mode nftables --services 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knet.netlink import addrs, links, routes  # noqa: E402
from knet.netlink import netns as netns_mod  # noqa: E402
from knet.netlink.session import open_session  # noqa: E402
from kproxy.backend.base import RulesBackend  # noqa: E402
from kproxy.backend.iptc import IptcBackend  # noqa: E402
from kproxy.backend.restore import RestoreBackend, nft_restore_input  # noqa: E402
from kproxy.config import ProxyConfig  # noqa: E402
from kproxy.iptables.proxier import IptablesProxier  # noqa: E402
from kproxy.lab.backends import TimedBackend  # noqa: E402
from kproxy.nftables import kube_layout  # noqa: E402
from kproxy.nftables import layout as nft_layout  # noqa: E402
from kproxy.nftables.client import NftClient  # noqa: E402
from kproxy.nftables.layout import TABLE  # noqa: E402
from kproxy.nftables.proxier import NftablesProxier  # noqa: E402
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The measurement (runs inside the scratch namespace)


def _ip(base: int, i: int) -> str:
    n = base + i
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def service_obj(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"svc-{i}", "namespace": "bench"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": _ip(0x0A600000, i + 10),  # 10.96.0.0/12
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        },
    }


def slice_obj(i: int, endpoints: int, first: int = 0) -> dict[str, Any]:
    eps = [
        {
            "addresses": [_ip(0x0AF40000, i * endpoints + j + first)],  # 10.244.0.0/14
            "conditions": {"ready": True},
            "nodeName": "node2",
        }
        for j in range(endpoints)
    ]
    return {
        "metadata": {
            "name": f"svc-{i}-abc",
            "namespace": "bench",
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
        },
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


def make_backend(kind: str, variant: str, timeout: float) -> RulesBackend:
    if kind == "python-iptables":
        return IptcBackend(timeout=timeout)
    return RestoreBackend(variant, timeout=timeout)  # type: ignore[arg-type]


def restore_alone(netns: str, variant: str, text: str, timeout: float) -> float:
    """iptables-restore --noflush of ``text`` in ``netns``, killed by pid past ``timeout``."""
    if variant == "nft":
        text = nft_restore_input(text)  # what RestoreBackend feeds iptables-nft-restore
    argv = ["nsenter", f"--net=/run/netns/{netns}", "--", f"iptables-{variant}-restore"]
    argv += ["-w", "--noflush"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        _, err = proc.communicate(text, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raise SystemExit(f"iptables-{variant}-restore alone timed out after {timeout}s") from None
    if proc.returncode != 0:
        raise SystemExit(f"iptables-{variant}-restore alone failed: {err[:500]}")
    return time.perf_counter() - t0


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    backend = TimedBackend(make_backend(args.backend, args.variant, args.timeout))
    config = ProxyConfig("node1", cluster_cidr="10.244.0.0/14", min_sync_period=0.0)
    proxier = IptablesProxier(config, backend, offload=False)
    t0 = time.perf_counter()
    for i in range(args.services):
        proxier.on_service_add(service_obj(i))
        proxier.on_endpoint_slice_add(slice_obj(i, args.endpoints))
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    events = time.perf_counter() - t0

    t0 = time.perf_counter()
    await proxier.sync_proxy_rules()
    full = time.perf_counter() - t0
    assert proxier.last_sync is not None and proxier.last_sync.full, "full sync failed"
    full_text = backend.last_text
    full_restore = backend.restores[-1][1]
    # Twice, each into its own empty namespace, to show how much the machine's noise moves it.
    alone = [
        restore_alone(ns, args.baseline_variant, full_text, args.timeout)
        for ns in args.baseline_netns
    ]

    partial: list[float] = []
    partial_restore: list[float] = []
    for k in range(args.repeat):
        i = (k * 7919) % args.services
        old = slice_obj(i, args.endpoints)
        new = slice_obj(i, args.endpoints)
        # One endpoint replaced by a fresh address (outside the range used so far).
        new["endpoints"][0]["addresses"] = [_ip(0x0AF80000, k)]  # 10.248.x.x
        t0 = time.perf_counter()  # from the informer event to the rules in the kernel
        proxier.on_endpoint_slice_update(old, new)
        await proxier.sync_proxy_rules()
        partial.append(time.perf_counter() - t0)
        assert proxier.last_sync is not None and not proxier.last_sync.full, "partial failed"
        partial_restore.append(backend.restores[-1][1])
        proxier.on_endpoint_slice_update(new, old)  # back, so each round changes one endpoint
        await proxier.sync_proxy_rules()
    rules = proxier.rules.rule_counts()
    return {
        "backend": backend.name,
        "services": args.services,
        "endpoints": args.endpoints,
        "rules": rules,
        "text_bytes": len(full_text),
        "events_seconds": events,
        "full_seconds": full,
        "full_restore_seconds": full_restore,
        "alone_seconds": alone,
        "partial_seconds": partial,
        "partial_restore_seconds": partial_restore,
        "partial_text_bytes": backend.restores[-2][0] if args.repeat else 0,
    }


async def measure_nft(args: argparse.Namespace) -> dict[str, Any]:
    config = ProxyConfig("node1", cluster_cidr="10.244.0.0/14", min_sync_period=0.0)
    proxier = NftablesProxier(config, NftClient(None, TABLE), offload=False)
    for i in range(args.services):
        proxier.on_service_add(service_obj(i))
        proxier.on_endpoint_slice_add(slice_obj(i, args.endpoints))
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    t0 = time.perf_counter()
    await proxier.sync_proxy_rules()
    full = time.perf_counter() - t0
    assert proxier.last_sync_full, "full sync failed"
    messages = proxier.last_messages
    alone, nft_f, nft_swap = [], [], []
    listed = subprocess.run(["nft", "list", "table", "ip", TABLE], capture_output=True, text=True)
    for ns in args.baseline_netns:
        client = NftClient(ns, TABLE)
        t0 = time.perf_counter()
        client.full_sync(dict(proxier.fragments))
        alone.append(time.perf_counter() - t0)
        client.delete_table()
        client.close()
        if listed.returncode == 0:
            nft_f.append(_nft_f(ns, _reloadable(listed.stdout), args.timeout))
            nft_swap.append(_nft_swap(ns, args.timeout))
    partial: list[float] = []
    for k in range(args.repeat):
        i = (k * 7919) % args.services
        old, new = slice_obj(i, args.endpoints), slice_obj(i, args.endpoints)
        new["endpoints"][0]["addresses"] = [_ip(0x0AF80000, k)]  # 10.248.x.x
        t0 = time.perf_counter()  # from the informer event to the kernel's ACK
        proxier.on_endpoint_slice_update(old, new)
        await proxier.sync_proxy_rules()
        partial.append(time.perf_counter() - t0)
        assert proxier.last_sync_full is False and proxier.sync_failures == 0, "partial failed"
        proxier.on_endpoint_slice_update(new, old)
        await proxier.sync_proxy_rules()
    added: list[float] = []
    for k in range(min(args.repeat, 5)):
        i = args.services + k
        t0 = time.perf_counter()
        proxier.on_service_add(service_obj(i))
        proxier.on_endpoint_slice_add(slice_obj(i, args.endpoints))
        await proxier.sync_proxy_rules()
        added.append(time.perf_counter() - t0)
    assert proxier.sync_failures == 0, "a sync failed"
    reference = measure_reference(args) if args.reference else {}
    return {
        **reference,
        "backend": "nftables (netlink client)",
        "services": args.services,
        "endpoints": args.endpoints,
        "messages": messages,
        "full_seconds": full,
        "alone_seconds": alone,
        "nft_f_seconds": nft_f,
        "nft_swap_seconds": nft_swap,
        "nft_error": listed.stderr.strip()[-200:] if listed.returncode else "",
        "partial_seconds": partial,
        "partial_messages": proxier.last_messages,
        "add_seconds": added,
    }


def _ref_endpoints(i: int, endpoints: int, k: int = 0) -> list[EndpointInfo]:
    """Service i's endpoints as slice_obj lists them; k > 0 replaces the first one."""
    eps = [EndpointInfo(_ip(0x0AF40000, i * endpoints + j), 8080) for j in range(endpoints)]
    if k:
        eps[0] = EndpointInfo(_ip(0x0AF80000, k), 8080)
    return eps


def measure_reference(args: argparse.Namespace) -> dict[str, Any]:
    """kube-proxy's layout (kproxy.nftables.kube_layout), same sizes, same client: a full
    write, one endpoint change (render + diff + commit, p50), and nft -f of its ruleset."""
    config = ProxyConfig("node1", cluster_cidr="10.244.0.0/14")
    frags: dict[Any, Any] = {"base": kube_layout.base_fragment(config)}
    infos = {}
    for i in range(args.services):
        spn = ServicePortName("bench", f"svc-{i}", "http")
        infos[spn] = ServicePortInfo(_ip(0x0A600000, i + 10), 80)
        eps = _ref_endpoints(i, args.endpoints)
        frags[spn] = kube_layout.service_fragment(config, spn, infos[spn], eps)
    client = NftClient(None, kube_layout.TABLE)
    t0 = time.perf_counter()
    messages = client.full_sync(frags)
    full = time.perf_counter() - t0
    change = []
    for k in range(args.repeat):
        i = (k * 7919) % args.services
        spn = ServicePortName("bench", f"svc-{i}", "http")
        for eps in (_ref_endpoints(i, args.endpoints, k + 1), _ref_endpoints(i, args.endpoints)):
            t0 = time.perf_counter()
            frag = kube_layout.service_fragment(config, spn, infos[spn], eps)
            client.partial_sync({spn: frag})
            change.append(time.perf_counter() - t0)
    listed = subprocess.run(
        ["nft", "list", "table", "ip", kube_layout.TABLE], capture_output=True, text=True
    )
    nft_f = []
    if listed.returncode == 0:
        nft_f = [_nft_f(ns, _reloadable(listed.stdout), args.timeout) for ns in args.baseline_netns]
    client.delete_table()
    client.close()
    return {
        "ref_messages": messages,
        "ref_full_seconds": full,
        "ref_change_seconds": change[::2],
        "ref_nft_f_seconds": nft_f,
    }


def _reloadable(listed: str) -> str:
    """``nft list`` text that ``nft -f`` takes back: nft prints the endpoint maps' index type
    as "mark" but will only map numgen's integer through a map declared with typeof."""
    typed = "type mark : ipv4_addr . inet_service"
    listed = listed.replace(typed, "typeof numgen random mod 1 : ip daddr . tcp dport")
    return listed.replace("type mark : verdict", "typeof numgen random mod 1 : verdict")


def _nft_f(netns: str, text: str, timeout: float) -> float:
    """One ``nft -f`` of ``text`` in ``netns`` (the program's parse, cache and commit)."""
    argv = ["nsenter", f"--net=/run/netns/{netns}", "--", "nft", "-f", "-"]
    t0 = time.perf_counter()
    done = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"nft -f failed: {done.stderr[-500:]}")
    return time.perf_counter() - t0


def _nft_swap(netns: str, timeout: float) -> float:
    """One endpoint replaced in Service 0's endpoint map through ``nft -f`` (median of 5)."""
    emap = "eps-bench/svc-0/tcp/http"
    times = []
    for k in range(5):
        script = (
            f"delete element ip {TABLE} {emap} {{ 0 }}\n"
            f"add element ip {TABLE} {emap} {{ 0 : 10.249.0.{k + 1} . 8080 }}\n"
        )
        times.append(_nft_f(netns, script, timeout))
    return statistics.median(times)


def report_nft(label: str, r: dict[str, Any]) -> None:
    print(f"\n== {label}")
    if "error" in r:
        print(f"   not measured: {r['error']}")
        return
    print(f"   {r['services']:,} services x {r['endpoints']} endpoints: {r['messages']:,} messages")
    full, alone = r["full_seconds"], statistics.mean(r["alone_seconds"])
    print(f"   full sync end to end     {_ms(full):>10}")
    print(f"   client alone, same table {_ms(alone):>10}   (no events, no render; empty netns)")
    if r["nft_f_seconds"]:
        nft_f = statistics.mean(r["nft_f_seconds"])
        print(
            f"   nft -f, same ruleset     {_ms(nft_f):>10}   (`nft list table` text, empty netns)"
        )
        verdict = "OK" if full <= 1.2 * nft_f else "MISSED"
        print(f"   ratio full / nft -f      {full / nft_f:10.2f}x  (floor <= 1.2x: {verdict})")
        swap = statistics.median(r["nft_swap_seconds"])
        print(f"   nft -f, 1 endpoint swap  {_ms_fine(swap):>10}   (element delete + add, p50)")
    else:
        print(f"   nft -f not measured: {r['nft_error'] or 'no nft program'}")
    print(f"   ratio full / alone       {full / alone:10.2f}x")
    p = r["partial_seconds"]
    med = statistics.median(p)
    verdict = "OK" if med <= 0.1 else "MISSED"
    goal = "met" if med <= 0.02 else "not met"
    print(
        f"   1 endpoint, event->ACK   {_ms_fine(med):>10}   p50 of {len(p)}"
        f" (min {_ms_fine(min(p))}, max {_ms_fine(max(p))};"
        f" floor <= 100 ms: {verdict}; goal 20 ms {goal})"
    )
    if "ref_full_seconds" in r:
        _report_reference(r)
    a = r["add_seconds"]
    print(f"   add 1 Service, event->ACK {_ms_fine(statistics.median(a)):>9}   p50 of {len(a)}")


def _report_reference(r: dict[str, Any]) -> None:
    ref = r["ref_change_seconds"]
    print(f"   -- kube-proxy's layout, same client ({r['ref_messages']:,} messages):")
    print(f"   full write               {_ms(r['ref_full_seconds']):>10}")
    if r["ref_nft_f_seconds"]:
        print(f"   nft -f, same ruleset     {_ms(statistics.mean(r['ref_nft_f_seconds'])):>10}")
    print(
        f"   1 endpoint, render+commit {_ms_fine(statistics.median(ref)):>9}   p50 of {len(ref)}"
        f" (min {_ms_fine(min(ref))}, max {_ms_fine(max(ref))})"
    )


def _ms_fine(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# ---------------------------------------------------------------------------------------------
# The driver (root namespace): namespaces, child process, timeouts, report


def run_case(args: argparse.Namespace, backend: str, variant: str, services: int) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    main_ns = f"kt-bench-{tag}-a"
    base_ns = [f"kt-bench-{tag}-b{i}" for i in (1, 2)]
    made: list[str] = []
    try:
        for ns in (main_ns, *base_ns):
            netns_mod.create(ns)
            made.append(ns)
        argv = ["nsenter", f"--net=/run/netns/{main_ns}", "--", sys.executable, __file__]
        argv += ["--inner", "--backend", backend, "--variant", variant]
        argv += ["--services", str(services), "--endpoints", str(args.endpoints)]
        argv += ["--repeat", str(args.repeat), "--timeout", str(args.timeout)]
        argv += ["--baseline-variant", variant, "--mode", args.mode]
        argv += ["--reference"] if args.reference else []
        for ns in base_ns:
            argv += ["--baseline-netns", ns]
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            out, err = proc.communicate(timeout=args.case_timeout)
        except subprocess.TimeoutExpired:
            # The child leads its own process group: take it down with anything it started.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"error": f"timed out after {args.case_timeout}s (killed)"}
        if proc.returncode != 0:
            return {"error": (err.strip().splitlines() or ["failed"])[-1]}
        result: dict[str, Any] = json.loads(out)
        return result
    finally:
        for ns in made:
            netns_mod.remove(ns)


# ---------------------------------------------------------------------------------------------
# First-packet latency (nftables mode): connect() from the node to a ClusterIP whose endpoint
# is a pod behind a veth, with N Services in the table. Every connect is a new connection, so
# each one's SYN goes through the nat rules.

FP_NODE, FP_POD, FP_VIP = "10.252.0.1", "10.252.0.2", "10.96.0.10"
FP_SERVER = f"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{FP_POD}", 8080))
s.listen(512)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""
FP_CLIENT = f"""
import json, socket, statistics, sys, time
times = []
for _ in range(int(sys.argv[1])):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\x01\\0\\0\\0\\0\\0\\0\\0")
    t0 = time.perf_counter()
    c.connect(("{FP_VIP}", 80))
    times.append(time.perf_counter() - t0)
    c.close()
times.sort()
print(json.dumps([statistics.median(times), times[int(len(times) * 0.99) - 1]]))
"""


def _fp_program(node: str, services: int) -> None:
    config = ProxyConfig("node1", cluster_cidr="10.244.0.0/14")
    frags: dict[Any, Any] = {nft_layout.BASE: nft_layout.base_fragment(config)}
    for i in range(services):
        spn = ServicePortName("bench", f"svc-{i}", "http")
        vip = FP_VIP if i == 0 else _ip(0x0A610000, i)  # 10.97.x.x for the others
        info = ServicePortInfo(vip, 80)
        eps = [EndpointInfo(FP_POD, 8080)] if i == 0 else _ref_endpoints(i, 10)
        frags[spn] = nft_layout.service_fragment(config, spn, info, eps)
    client = NftClient(node, TABLE)
    try:
        client.full_sync(frags)
    finally:
        client.close()


def first_packet(args: argparse.Namespace, sizes: Sequence[int]) -> dict[int, list[float]]:
    """p50 and p99 connect time at each table size (one pair of namespaces, one run)."""
    tag = secrets.token_hex(3)
    node, pod = f"kt-bench-{tag}-fn", f"kt-bench-{tag}-fp"
    made: list[str] = []
    server: subprocess.Popen[str] | None = None
    try:
        for ns in (node, pod):
            netns_mod.create(ns)
            made.append(ns)
        _fp_wire(node, pod)
        enter = ["nsenter", f"--net=/run/netns/{pod}", "--", sys.executable, "-c", FP_SERVER]
        server = subprocess.Popen(enter, stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        out: dict[int, list[float]] = {}
        for n in sizes:
            _fp_program(node, n)
            argv = ["nsenter", f"--net=/run/netns/{node}", "--", sys.executable, "-c", FP_CLIENT]
            done = subprocess.run(
                [*argv, str(args.connects)], capture_output=True, text=True, timeout=300
            )
            if done.returncode != 0:
                raise SystemExit(f"first-packet client failed: {done.stderr[-300:]}")
            out[n] = json.loads(done.stdout)
        return out
    finally:
        if server is not None:
            server.kill()
            server.wait()
        for ns in made:
            netns_mod.remove(ns)


def _fp_wire(node: str, pod: str) -> None:
    with open_session(node) as s:
        links.add_veth(s, "kt-fpn", "kt-fpp", pod, up=True)
        addrs.ensure_addr(s, "kt-fpn", IPv4Interface(f"{FP_NODE}/24"))
        links.set_up(s, "lo")
        # The VIP is routed somewhere, as on a real node; DNAT then re-routes to the pod.
        routes.ensure_default_route(s, IPv4Address(FP_POD))
    with open_session(pod) as s:
        addrs.ensure_addr(s, "kt-fpp", IPv4Interface(f"{FP_POD}/24"))
        links.set_up(s, "kt-fpp")
        links.set_up(s, "lo")
        routes.ensure_default_route(s, IPv4Address(FP_NODE))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def report(label: str, r: dict[str, Any]) -> None:
    print(f"\n== {label}")
    if "error" in r:
        print(f"   not measured: {r['error']}")
        return
    rules = r["rules"]
    print(
        f"   {r['services']:,} services x {r['endpoints']} endpoints: nat {rules.get('nat', 0):,}"
        f" rules, filter {rules.get('filter', 0):,}; restore text {r['text_bytes'] / 1e6:.1f} MB"
    )
    full, alones = r["full_seconds"], r["alone_seconds"]
    alone = statistics.mean(alones)
    print(
        f"   full sync end to end     {_ms(full):>10}   (of which {r['backend']} restore"
        f" {_ms(r['full_restore_seconds'])})"
    )
    print(
        f"   iptables-restore alone   {_ms(alone):>10}   same text, empty namespace"
        f" (mean of {', '.join(_ms(a) for a in alones)})"
    )
    verdict = "OK" if full <= 1.5 * alone else "MISSED"
    print(f"   ratio full / alone       {full / alone:10.2f}x  (floor <= 1.5x: {verdict})")
    if r["partial_seconds"]:
        p = r["partial_seconds"]
        pr = r["partial_restore_seconds"]
        med = statistics.median(p)
        verdict = "OK" if med <= 0.1 else "MISSED"
        print(
            f"   partial sync, 1 endpoint {_ms(med):>10}   median of {len(p)}"
            f" (min {_ms(min(p))}, max {_ms(max(p))}; floor <= 100 ms: {verdict})"
        )
        print(
            f"     inside the restore     {_ms(statistics.median(pr)):>10}   "
            f"kproxy's own work {_ms(med - statistics.median(pr))};"
            f" text {r['partial_text_bytes'] / 1e6:.2f} MB"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--services", type=int, default=10_000)
    p.add_argument("--endpoints", type=int, default=10)
    p.add_argument("--nft-services", type=int, default=None, help="N for the nft variant")
    p.add_argument("--iptc-services", type=int, default=None, help="N for python-iptables")
    p.add_argument("--mode", choices=("iptables", "nftables"), default="iptables")
    p.add_argument(
        "--connects", type=int, default=0, help="nftables: first-packet latency over N connects"
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="nftables: also measure kube-proxy's layout (kproxy.nftables.kube_layout)",
    )
    p.add_argument("--repeat", type=int, default=None, help="partial syncs (5; nftables 20)")
    p.add_argument("--timeout", type=float, default=300.0, help="per restore call")
    p.add_argument("--case-timeout", type=float, default=900.0, help="per backend")
    p.add_argument("--skip", action="append", default=[], help="restore|python-iptables|nft")
    # Internal: the measuring child.
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="restore", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="legacy", help=argparse.SUPPRESS)
    p.add_argument("--baseline-netns", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--baseline-variant", default="legacy", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 20 if args.mode == "nftables" else 5
    if args.services < 1 or args.endpoints < 1:
        p.error("--services and --endpoints must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.inner:
        fn = measure_nft if args.mode == "nftables" else measure
        print(json.dumps(asyncio.run(fn(args))))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces, iptables)", file=sys.stderr)
        return 1
    cases = [
        ("restore", "legacy", args.services, "iptables-restore (legacy)"),
        ("python-iptables", "legacy", args.iptc_services or args.services, "python-iptables"),
        ("restore", "nft", args.nft_services or args.services, "iptables-restore (nft)"),
    ]
    if args.mode == "nftables":
        t0 = time.perf_counter()
        result = run_case(args, "nftables", "nft", args.services)
        report_nft(f"nftables mode, {time.perf_counter() - t0:.0f} s for the case", result)
        if args.connects:
            print(f"\n== first packet: connect() to a ClusterIP, {args.connects} connections")
            for n, (p50, p99) in first_packet(args, (10, args.services)).items():
                print(
                    f"   {n:>6,} services       p50 {p50 * 1e6:7.1f} us   p99 {p99 * 1e6:7.1f} us"
                )
        return 0
    skip = set(args.skip)
    for backend, variant, n, label in cases:
        if backend in skip or variant in skip:
            continue
        t0 = time.perf_counter()
        result = run_case(args, backend, variant, n)
        report(f"{label}, {time.perf_counter() - t0:.0f} s for the case", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
