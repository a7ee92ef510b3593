"""``metrics.k8s.io/v1beta1`` (``NodeMetrics``, ``PodMetrics``), computed on each request from
the kubelets' ``/stats/summary``, as metrics-server would serve it: what ``kubectl top`` reads.

Nothing is stored. A list asks every node concerned at once (each within the dial timeout);
a node that does not answer is left out, as metrics-server leaves out what it could not
scrape. CPU is in nanocores and memory in Ki, as metrics-server writes them; ``kubectl get``
with a Table ``Accept`` gets Name, CPU, Memory and Window columns.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from knet.api import registry
from knet.api.selectors import SelectorError, parse_label_selector
from knet.apiserver import discovery, errors
from knet.apiserver.errors import ApiError
from knet.apiserver.keys import RESOURCES
from knet.apiserver.negotiation import choose_output
from knet.apiserver.streaming.dial import CONNECT_TIMEOUT, DIALER, kubelet_base

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{API_VERSION}"
WINDOW = "1s"  # the span a kubelet's CPU rate covers, at least


def cpu_quantity(nanocores: int) -> str:
    return f"{max(0, int(nanocores))}n"


def memory_quantity(nbytes: int) -> str:
    return f"{max(0, int(nbytes)) // 1024}Ki"


def usage_of(stats: dict[str, Any]) -> dict[str, str]:
    cpu = (stats.get("cpu") or {}).get("usageNanoCores") or 0
    mem = (stats.get("memory") or {}).get("workingSetBytes") or 0
    return {"cpu": cpu_quantity(cpu), "memory": memory_quantity(mem)}


def _meta(obj: dict[str, Any], namespaced: bool) -> dict[str, Any]:
    src = obj.get("metadata") or {}
    meta: dict[str, Any] = {
        "name": src.get("name"),
        "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if namespaced:
        meta["namespace"] = src.get("namespace")
    if src.get("labels"):
        meta["labels"] = src["labels"]
    return meta


def node_metrics(node: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    stats = summary.get("node") or {}
    return {
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": _meta(node, False),
        "timestamp": (stats.get("cpu") or {}).get("time"),
        "window": WINDOW,
        "usage": usage_of(stats),
    }


def pod_metrics(pod: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any] | None:
    """The pod's metrics from its node's summary; None when the node did not report it."""
    uid = (pod.get("metadata") or {}).get("uid")
    for entry in summary.get("pods") or []:
        if (entry.get("podRef") or {}).get("uid") == uid:
            containers = entry.get("containers") or []
            stamp = next(((c.get("cpu") or {}).get("time") for c in containers), None)
            return {
                "kind": "PodMetrics",
                "apiVersion": API_VERSION,
                "metadata": _meta(pod, True),
                "timestamp": stamp,
                "window": WINDOW,
                "containers": [{"name": c["name"], "usage": usage_of(c)} for c in containers],
            }
    return None


def table(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    def total(m: dict[str, Any], key: str) -> str:
        if "usage" in m:
            return str(m["usage"][key])
        unit = "n" if key == "cpu" else "Ki"
        return f"{sum(int(c['usage'][key].rstrip(unit)) for c in m['containers'])}{unit}"

    columns = [
        {"name": n, "type": "string", "format": "name" if n == "Name" else "", "description": d}
        for n, d in (
            ("Name", "Name of the resource"),
            ("CPU", "CPU usage"),
            ("Memory", "Memory usage"),
            ("Window", "The window over which usage is computed"),
        )
    ]
    rows = [
        {
            "cells": [m["metadata"]["name"], total(m, "cpu"), total(m, "memory"), m["window"]],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": m["metadata"],
            },
        }
        for m in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": columns,
        "rows": rows,
    }


async def fetch_summary(request: web.Request, node: dict[str, Any]) -> dict[str, Any] | None:
    """The node's kubelet summary, or None when it cannot be had in time."""
    try:
        url = kubelet_base(node) + "/stats/summary"
        async with asyncio.timeout(CONNECT_TIMEOUT + 2):
            async with request.app[DIALER].session.get(url) as resp:
                if resp.status != 200:
                    return None
                doc = orjson.loads(await resp.read())
    except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


async def summaries(request: web.Request, nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    got = await asyncio.gather(*(fetch_summary(request, n) for n in nodes))
    return {n["metadata"]["name"]: s for n, s in zip(nodes, got, strict=True) if s is not None}


def _labels(request: web.Request) -> Any:
    try:
        return parse_label_selector(request.query.get("labelSelector", ""))
    except SelectorError as exc:
        raise errors.bad_request(f"unable to parse requirement: {exc}") from None


def no_watch(request: web.Request) -> None:
    """metrics-server serves get and list only."""
    if request.query.get("watch", "").lower() in ("1", "true"):
        raise errors.method_not_allowed("WATCH")


def respond(
    request: web.Request, kind: str, items: list[dict[str, Any]] | dict[str, Any]
) -> web.Response:
    accept = request.headers.get("Accept")
    if choose_output(accept) is None:
        raise errors.not_acceptable(accept or "")
    as_table = "as=Table" in (accept or "")
    if isinstance(items, dict):
        body = table(kind, [items]) if as_table else items
    elif as_table:
        body = table(kind, items)
    else:
        body = {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def not_found(kind: str, name: str) -> ApiError:
    """Upstream's words: ``podmetrics.metrics.k8s.io "default/web" not found``."""
    resource = kind.lower()
    return ApiError(
        404,
        "NotFound",
        f'{resource}.{GROUP} "{name}" not found',
        details={"name": name, "group": GROUP, "kind": resource},
    )


async def nodes_handler(request: web.Request) -> web.Response:
    no_watch(request)
    res = request.app[RESOURCES]
    info = registry.lookup("", "v1", "nodes")
    assert info is not None
    name = request.match_info.get("name")
    if name is not None:
        try:
            node = await res.get(info, None, name)
        except ApiError:
            raise not_found("NodeMetrics", name) from None
        got = await summaries(request, [node])
        if name not in got:
            raise not_found("NodeMetrics", name)
        return respond(request, "NodeMetrics", node_metrics(node, got[name]))
    nodes, _ = await res.list_objects(info, None, _labels(request))
    got = await summaries(request, nodes)
    items = [
        node_metrics(n, got[n["metadata"]["name"]]) for n in nodes if n["metadata"]["name"] in got
    ]
    return respond(request, "NodeMetrics", items)


async def pods_handler(request: web.Request) -> web.Response:
    no_watch(request)
    res = request.app[RESOURCES]
    pods_info, nodes_info = registry.lookup("", "v1", "pods"), registry.lookup("", "v1", "nodes")
    assert pods_info is not None and nodes_info is not None
    namespace, name = request.match_info.get("namespace"), request.match_info.get("name")
    if name is not None:
        try:
            pods = [await res.get(pods_info, namespace, name)]
        except ApiError:
            raise not_found("PodMetrics", f"{namespace}/{name}") from None
    else:
        pods, _ = await res.list_objects(pods_info, namespace, _labels(request))
    wanted = {str((p.get("spec") or {}).get("nodeName") or "") for p in pods} - {""}
    nodes = []
    for node_name in sorted(wanted):
        try:
            nodes.append(await res.get(nodes_info, None, node_name))
        except ApiError:
            continue
    got = await summaries(request, nodes)
    items = []
    for p in pods:
        summary = got.get(str((p.get("spec") or {}).get("nodeName") or ""))
        m = pod_metrics(p, summary) if summary is not None else None
        if m is not None:
            items.append(m)
    if name is not None:
        if not items:
            raise not_found("PodMetrics", f"{namespace}/{name}")
        return respond(request, "PodMetrics", items[0])
    return respond(request, "PodMetrics", items)


async def resource_list(request: web.Request) -> web.Response:
    doc = discovery.api_resource_list(GROUP, VERSION)
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


def setup(app: web.Application) -> None:
    """The routes, ahead of the generic resource routes."""
    r = app.router
    r.add_get(PREFIX, resource_list)
    r.add_get(f"{PREFIX}/nodes", nodes_handler)
    r.add_get(f"{PREFIX}/nodes/{{name}}", nodes_handler)
    r.add_get(f"{PREFIX}/pods", pods_handler)
    r.add_get(f"{PREFIX}/namespaces/{{namespace}}/pods", pods_handler)
    r.add_get(f"{PREFIX}/namespaces/{{namespace}}/pods/{{name}}", pods_handler)
