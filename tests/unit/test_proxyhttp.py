"""pods/proxy and services/proxy, the pure parts (knet.apiserver.streaming.proxyhttp): the
``[scheme:]name[:port]`` forms, upstream's endpoint choice and errors, and the HTTP/1.0 bytes."""

from __future__ import annotations

import random

import pytest

from knet.apiserver.errors import ApiError
from knet.apiserver.streaming import proxyhttp
from knet.apiserver.streaming.proxyhttp import Endpoint, Target

SVC = {
    "metadata": {"name": "web"},
    "spec": {"ports": [{"name": "http", "port": 80}, {"name": "", "port": 81}]},
}


def slice_(port_name: str, port: int, *eps: tuple[str, str, bool | None]) -> dict[str, object]:
    return {
        "ports": [{"name": port_name, "port": port}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {} if ready is None else {"ready": ready},
                "targetRef": {"kind": "Pod", "name": pod, "namespace": "default"},
            }
            for ip, pod, ready in eps
        ],
    }


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("web", Target("", "web", "")),
        ("web:http", Target("", "web", "http")),
        ("https:web:443", Target("https", "web", "443")),
        ("http:web:", Target("http", "web", "")),
        ("a:b:c:d", None),
        (":80", None),
        ("ftp:web:21", None),
    ],
)
def test_split_scheme_name_port(raw: str, want: Target | None) -> None:
    assert proxyhttp.split_scheme_name_port(raw) == want


def test_a_port_number_means_the_service_port_with_it() -> None:
    assert proxyhttp.service_port_name(SVC, "80") == "http"
    assert proxyhttp.service_port_name(SVC, "81") == ""
    assert proxyhttp.service_port_name(SVC, "http") == "http"
    with pytest.raises(ApiError) as e:
        proxyhttp.service_port_name(SVC, "82")
    assert (e.value.code, e.value.message) == (
        503,
        'no service port 82 found for service "web"',
    )


def test_only_ready_endpoints_of_the_named_port_are_picked() -> None:
    slices = [
        slice_("http", 8080, ("10.0.0.1", "a", True), ("10.0.0.2", "b", False)),
        slice_("other", 9090, ("10.0.0.3", "c", None)),
    ]
    rng = random.Random(1)
    picks = {proxyhttp.pick_endpoint(SVC, slices, "web:http", rng) for _ in range(20)}
    assert picks == {Endpoint("10.0.0.1", 8080, "a", "default")}
    with pytest.raises(ApiError) as e:
        proxyhttp.pick_endpoint(SVC, [slices[0]], "web:81", rng)
    assert (e.value.code, e.value.message) == (
        503,
        'no endpoints available for service "web:81"',
    )


def test_request_bytes_are_http_1_0_with_a_length_for_bodies() -> None:
    raw = proxyhttp.request_bytes("POST", "echo", "msg=x", "10.0.0.1:80", {"Accept": "*/*"}, b"ab")
    assert raw == (
        b"POST /echo?msg=x HTTP/1.0\r\nHost: 10.0.0.1:80\r\nConnection: close\r\n"
        b"Accept: */*\r\nContent-Length: 2\r\n\r\nab"
    )
    assert proxyhttp.request_bytes("GET", "", "", "h", {}, b"").startswith(b"GET / HTTP/1.0\r\n")


def test_parse_head_drops_hop_by_hop_headers() -> None:
    head = proxyhttp.parse_head(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        b"Content-Length: 3\r\nX-A: b: c"
    )
    assert head == proxyhttp.Head(404, [("Content-Type", "text/plain"), ("X-A", "b: c")])
    with pytest.raises(ApiError):
        proxyhttp.parse_head(b"SSH-2.0-OpenSSH\r\n")
