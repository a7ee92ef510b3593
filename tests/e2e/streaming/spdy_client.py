"""A small client of kubectl's port-forward protocol (SPDY/3.1 inside a WebSocket), for what
kubectl does not show: several connections, one after the other, on one tunnel."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from knet.apiserver.streaming import spdy
from knet.apiserver.streaming.tunnel import PROTOCOL

REQUEST = b"GET /hostname HTTP/1.0\r\nHost: pod\r\n\r\n"


@dataclass
class Result:
    data: bytes = b""
    error: str = ""
    done: set[str] = field(default_factory=set)  # stream types that got FIN


def server_of(kubeconfig: Path) -> str:
    doc = yaml.safe_load(kubeconfig.read_text())
    return str(doc["clusters"][0]["cluster"]["server"]).rstrip("/")


async def _forward(kubeconfig: Path, namespace: str, pod: str, ports: list[int]) -> list[Result]:
    url = f"{server_of(kubeconfig)}/api/v1/namespaces/{namespace}/pods/{pod}/portforward"
    codec = spdy.Codec()
    results = [Result() for _ in ports]
    streams: dict[int, tuple[Result, str]] = {}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=(PROTOCOL,)) as ws,
    ):
        assert ws.protocol == PROTOCOL
        for i, port in enumerate(ports):  # one connection at a time, as a user would
            error_sid, data_sid = 4 * i + 1, 4 * i + 3
            headers = {"port": str(port), "requestID": str(i)}
            streams[error_sid] = (results[i], "error")
            streams[data_sid] = (results[i], "data")
            await ws.send_bytes(
                codec.encode(spdy.SynStream(error_sid, {**headers, "streamType": "error"}))
                + codec.encode(spdy.SynStream(data_sid, {**headers, "streamType": "data"}))
                + codec.encode(spdy.Data(data_sid, REQUEST))
            )
            async with asyncio.timeout(20):
                while len(results[i].done) < 2:
                    msg = await ws.receive()
                    assert msg.type == aiohttp.WSMsgType.BINARY, msg
                    for frame in codec.feed(msg.data):
                        if isinstance(frame, spdy.Data) and frame.stream_id in streams:
                            res, kind = streams[frame.stream_id]
                            if kind == "data":
                                res.data += frame.data
                            else:
                                res.error += frame.data.decode()
                            if frame.fin:
                                res.done.add(kind)
    return results


def forward_once(kubeconfig: Path, namespace: str, pod: str, ports: list[int]) -> list[Result]:
    """For each port in turn, on one tunnel: open a connection, send an HTTP GET, read to FIN."""
    return asyncio.run(_forward(kubeconfig, namespace, pod, ports))
