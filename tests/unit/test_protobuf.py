"""The Kubernetes protobuf request decoder: real kubectl bodies, hand-encoded bodies, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.api import registry
from knet.apiserver import errors
from knet.apiserver import request as req
from knet.apiserver.protobuf import ProtobufError, decode_k8s_protobuf, schema, wire

GOLDEN = Path(__file__).parent / "protobuf_golden"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# ------------------------------------------------------------------ a tiny encoder, for tests only


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers travel as 64-bit two's complement, as Go writes them
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def vint(number: int, value: int) -> bytes:
    return varint(number << 3 | wire.VARINT) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | wire.LEN) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str) -> bytes:
    """One map entry (key = 1, value = 2)."""
    return ld(number, ld(1, key) + ld(2, value))


def envelope(api_version: str, kind: str, raw: bytes, *extra: bytes) -> bytes:
    type_meta = ld(1, api_version) + ld(2, kind)
    return b"k8s\x00" + ld(1, type_meta) + ld(2, raw) + b"".join(extra)


def meta(name: str, *more: bytes) -> bytes:
    return ld(1, ld(1, name) + b"".join(more))


# ------------------------------------------------------------------------------ golden bodies


def _golden_names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.bin"))


@pytest.mark.parametrize("name", _golden_names())
def test_kubectl_bodies_decode_to_the_json_kubectl_would_send(name: str) -> None:
    raw = (GOLDEN / f"{name}.bin").read_bytes()
    want = json.loads((GOLDEN / f"{name}.json").read_text())
    assert decode_k8s_protobuf(raw) == want


def test_golden_set_covers_the_typed_commands() -> None:
    names = set(_golden_names())
    assert {"namespace", "deployment", "service_clusterip", "service_nodeport"} <= names
    assert "drain_delete_options" in names


def test_create_deployment_golden_details() -> None:
    """What the server relies on, spelled out: ints as ints, maps as objects, null timestamps."""
    doc = decode_k8s_protobuf((GOLDEN / "deployment.bin").read_bytes())
    assert doc["apiVersion"] == "apps/v1" and doc["kind"] == "Deployment"
    assert doc["spec"]["replicas"] == 2
    assert doc["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = doc["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80}]
    assert doc["metadata"]["creationTimestamp"] is None
    zero = decode_k8s_protobuf((GOLDEN / "deployment_zero_replicas.bin").read_bytes())
    assert zero["spec"]["replicas"] == 0  # a Go pointer: a zero that was set is kept


def test_service_golden_target_ports() -> None:
    lb = decode_k8s_protobuf((GOLDEN / "service_loadbalancer.bin").read_bytes())
    ports = {p["port"]: p["targetPort"] for p in lb["spec"]["ports"]}
    assert ports == {443: "https", 80: 8080}


# ------------------------------------------------------------------------------ hand-encoded


def test_namespace_minimal() -> None:
    doc = decode_k8s_protobuf(envelope("v1", "Namespace", meta("kt-a")))
    assert doc == {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "kt-a"}}


def test_zero_scalars_are_omitted_unless_go_would_send_them() -> None:
    port = ld(1, "") + ld(2, "TCP") + vint(3, 0) + vint(5, 0)  # port has no omitempty
    spec = ld(1, port) + ld(3, "") + vint(13, 0) + vint(20, 0)  # allocate...: a pointer
    doc = decode_k8s_protobuf(envelope("v1", "Service", meta("s") + ld(2, spec)))
    assert doc["spec"] == {
        "ports": [{"protocol": "TCP", "port": 0}],
        "allocateLoadBalancerNodePorts": False,
    }


def test_negative_ints_and_int64() -> None:
    sc = vint(4, -1) + vint(8, 2**40)  # runAsUser -1 (10-byte varint), runAsGroup
    container = ld(1, "c") + ld(15, sc)
    probe = ld(1, ld(1, ld(1, "true"))) + vint(2, -5)  # exec (inline handler), initialDelay
    container += ld(10, probe)
    doc = decode_k8s_protobuf(envelope("v1", "Pod", meta("p") + ld(2, ld(2, container))))
    c = doc["spec"]["containers"][0]
    assert c["securityContext"] == {"runAsUser": -1, "runAsGroup": 2**40}
    assert c["livenessProbe"] == {"exec": {"command": ["true"]}, "initialDelaySeconds": -5}


def test_int32_truncates_like_go() -> None:
    doc = decode_k8s_protobuf(envelope("apps/v1", "Deployment", ld(2, vint(1, 2**32 + 7))))
    assert doc["spec"]["replicas"] == 7


def test_packed_and_unpacked_repeated_ints() -> None:
    packed = ld(4, varint(1) + varint(2) + varint(300))
    unpacked = vint(4, 5)
    spec = ld(14, packed + unpacked) + ld(2, ld(1, "c"))
    doc = decode_k8s_protobuf(envelope("v1", "Pod", ld(2, spec)))
    assert doc["spec"]["securityContext"] == {"supplementalGroups": [1, 2, 300, 5]}


def test_unknown_fields_are_skipped_whatever_their_wire_type() -> None:
    junk = (
        vint(99, 1)
        + varint(98 << 3 | wire.I64)
        + b"\x00" * 8
        + varint(97 << 3 | wire.I32)
        + b"\x00" * 4
        + ld(96, b"\xff\xfe not a message")
    )
    doc = decode_k8s_protobuf(envelope("v1", "Namespace", junk + meta("kt-a", junk)))
    assert doc["metadata"] == {"name": "kt-a"}


def test_maps_quantities_inline_and_int_or_string() -> None:
    quantity = ld(1, "250m")
    resources = entry(1, "cpu", quantity) + entry(2, "memory", ld(1, "64Mi"))
    env_from_ref = ld(3, ld(1, ld(1, "cm")) + ld(2, "key") + vint(3, 0))  # configMapKeyRef
    container = (
        ld(1, "c")
        + ld(8, resources)
        + ld(7, ld(1, "A") + ld(3, env_from_ref))
        + ld(11, ld(1, ld(2, ld(1, "/healthz") + ld(2, vint(1, 1) + ld(3, "http")))))
    )
    labels = entry(11, "app", "web") + entry(11, "tier", "")
    doc = decode_k8s_protobuf(envelope("v1", "Pod", meta("p", labels) + ld(2, ld(2, container))))
    assert doc["metadata"]["labels"] == {"app": "web", "tier": ""}
    c = doc["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"cpu": "250m"}, "requests": {"memory": "64Mi"}}
    assert c["env"] == [
        {
            "name": "A",
            "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "key", "optional": False}},
        }
    ]
    assert c["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}}


def test_map_entry_without_value_is_the_zero_value() -> None:
    doc = decode_k8s_protobuf(envelope("v1", "Namespace", meta("n", ld(11, ld(1, "k")))))
    assert doc["metadata"]["labels"] == {"k": ""}


def test_times_and_micro_times() -> None:
    when = vint(1, 1_700_000_000) + vint(2, 123_456_789)
    ev = (
        meta("e", ld(8, b""))  # empty Time: Go's zero time, JSON null
        + ld(2, ld(1, "Pod") + ld(3, "p"))
        + ld(6, when)
        + ld(10, when)
        + vint(8, 3)
    )
    doc = decode_k8s_protobuf(envelope("v1", "Event", ev))
    assert doc["metadata"] == {"name": "e", "creationTimestamp": None}
    assert doc["firstTimestamp"] == "2023-11-14T22:13:20Z"  # whole seconds, as metav1.Time
    assert doc["eventTime"] == "2023-11-14T22:13:20.123456Z"  # microseconds, as MicroTime
    assert doc["count"] == 3
    assert doc["involvedObject"] == {"kind": "Pod", "name": "p"}


def test_time_before_1970_and_go_zero_time() -> None:
    lease = ld(2, ld(3, vint(1, -1)) + ld(4, vint(1, -62135596800)) + vint(2, 0))
    doc = decode_k8s_protobuf(envelope("coordination.k8s.io/v1", "Lease", lease))
    assert doc["spec"] == {
        "acquireTime": "1969-12-31T23:59:59.000000Z",
        "renewTime": None,
        "leaseDurationSeconds": 0,
    }


def test_delete_options_for_any_group_version() -> None:
    opts = vint(1, 0) + ld(2, ld(1, "uid-1")) + ld(4, "Foreground") + ld(5, "All")
    doc = decode_k8s_protobuf(envelope("apps/v1", "DeleteOptions", opts))
    assert doc == {
        "kind": "DeleteOptions",
        "apiVersion": "apps/v1",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1"},
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }


def test_managed_fields_hold_json() -> None:
    mf = ld(1, "kubectl") + ld(6, "FieldsV1") + ld(7, ld(1, b'{"f:spec":{}}'))
    doc = decode_k8s_protobuf(envelope("v1", "Namespace", meta("n", ld(17, mf))))
    assert doc["metadata"]["managedFields"] == [
        {"manager": "kubectl", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}
    ]


def test_a_later_field_wins_and_repeated_messages_merge() -> None:
    doc = decode_k8s_protobuf(
        envelope("v1", "Namespace", meta("a") + meta("b", ld(11, ld(1, "k") + ld(2, "v"))))
    )
    assert doc["metadata"] == {"name": "b", "labels": {"k": "v"}}
    cleared = decode_k8s_protobuf(envelope("v1", "Namespace", ld(1, ld(1, "a") + ld(1, ""))))
    assert cleared["metadata"] == {}


def test_endpoint_slice_and_scale() -> None:
    endpoint = ld(1, "10.0.0.1") + ld(2, vint(1, 1) + vint(3, 0)) + ld(6, "n1")
    port = ld(1, "") + ld(2, "TCP") + vint(3, 8080)
    es = meta("s") + ld(4, "IPv4") + ld(2, endpoint) + ld(3, port)
    doc = decode_k8s_protobuf(envelope("discovery.k8s.io/v1", "EndpointSlice", es))
    assert doc["endpoints"] == [
        {
            "addresses": ["10.0.0.1"],
            "conditions": {"ready": True, "terminating": False},
            "nodeName": "n1",
        }
    ]
    assert doc["ports"] == [{"name": "", "protocol": "TCP", "port": 8080}]
    scale = decode_k8s_protobuf(
        envelope("autoscaling/v1", "Scale", meta("d") + ld(2, vint(1, 0)) + ld(3, vint(1, 0)))
    )
    assert scale["spec"] == {} and scale["status"] == {"replicas": 0}


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "prefix"),
        (b'{"kind": "Namespace"}', "prefix"),
        (b"k8s\x00", "no apiVersion and kind"),
        (b"k8s\x00\x0a", "truncated varint"),
        (b"k8s\x00\x0a\x05\x0a\x02v1", "claims 5 bytes"),
        (b"k8s\x00\x0b", "wire type 3"),
        (b"k8s\x00\x00", "field number 0"),
        (b"k8s\x00\x08" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"k8s\x00\x08" + b"\xff" * 9 + b"\x02", "overflows 64 bits"),
        (
            envelope("v1", "ComponentStatus", b""),
            'no kind "ComponentStatus" is registered for version "v1"',
        ),
        (envelope("v2", "Namespace", b""), 'no kind "Namespace"'),
        (envelope("v1", "Namespace", b"", ld(3, "gzip")), 'content encoding "gzip"'),
        (envelope("v1", "Namespace", b"", ld(4, "application/json")), "content type"),
        (envelope("v1", "Namespace", ld(1, vint(1, 5))), "metadata.name: field 1"),
        (envelope("v1", "Namespace", ld(1, ld(1, b"\xff\xfe"))), "metadata.name: string is not"),
        (envelope("v1", "Namespace", meta("n", ld(8, vint(2, -1)))), "nanos -1"),
        (envelope("v1", "Namespace", meta("n", ld(8, vint(1, 2**62)))), "outside years"),
        (envelope("v1", "Namespace", ld(1, b"\x0a\x09abc")), "metadata: field 1"),
        (
            envelope("v1", "Service", ld(2, ld(1, ld(4, vint(1, 2))))),
            "spec.ports[0].targetPort: IntOrString type 2",
        ),
        (
            envelope("v1", "Namespace", meta("n", ld(17, ld(7, ld(1, b"{nope"))))),
            "FieldsV1 does not hold JSON",
        ),
        (envelope("v1", "Pod", ld(2, ld(14, ld(4, b"\x80")))), "truncated varint"),
    ],
    ids=[
        "empty",
        "json",
        "empty-envelope",
        "truncated-tag",
        "truncated-length",
        "group",
        "field-zero",
        "long-varint",
        "varint-overflow",
        "unserved-kind",
        "wrong-version",
        "gzip",
        "content-type",
        "wrong-wire-type",
        "bad-utf8",
        "bad-nanos",
        "time-overflow",
        "nested-truncation",
        "intorstring-type",
        "fieldsv1-json",
        "packed-truncated",
    ],
)
def test_malformed_bodies_raise_protobuf_error(raw: bytes, needle: str) -> None:
    with pytest.raises(ProtobufError) as caught:
        decode_k8s_protobuf(raw)
    assert needle in str(caught.value)


def _decodes_or_refuses(raw: bytes) -> None:
    """Either a JSON-shaped object or a ProtobufError with a message: never anything else."""
    try:
        doc = decode_k8s_protobuf(raw)
    except ProtobufError as e:
        assert str(e)
        return
    assert isinstance(doc["kind"], str) and isinstance(doc["apiVersion"], str)
    json.dumps(doc)  # JSON-representable all the way down


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(tail: bytes) -> None:
    for raw in (
        b"k8s\x00" + tail,
        envelope("v1", "Pod", tail),
        envelope("apps/v1", "Deployment", tail),
    ):
        _decodes_or_refuses(raw)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_kubectl_bodies_never_escape_as_other_errors(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(_golden_names()))
    raw = bytearray((GOLDEN / f"{name}.bin").read_bytes())
    at = data.draw(st.integers(4, len(raw) - 1))
    if data.draw(st.booleans()):
        raw[at] = data.draw(st.integers(0, 255))
    else:
        del raw[at:]
    _decodes_or_refuses(bytes(raw))


# ------------------------------------------------------------------------------ schema


def _referenced(field: schema.Field) -> str:
    return field.map_value if field.map_value is not None else field.type


def test_schema_refers_only_to_known_types() -> None:
    known = set(schema.MESSAGES) | schema.SCALARS | schema.SPECIALS
    for name, fields in schema.MESSAGES.items():
        for number, field in fields.items():
            assert 0 < number < 2**29, (name, number)
            assert _referenced(field) in known, (name, number, field)
            assert field.inline == (field.name == ""), (name, number)
            if field.inline:
                assert field.type in schema.MESSAGES, (name, number)
        names = [f.name for f in fields.values() if not f.inline]
        assert len(names) == len(set(names)), name


def test_schema_has_no_cycles() -> None:
    """Decoding recurses along the schema, so an acyclic schema bounds the depth of any body."""
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        state[name] = "open"
        for field in schema.MESSAGES[name].values():
            ref = _referenced(field)
            if ref in schema.MESSAGES:
                assert state.get(ref) != "open", f"cycle through {name} -> {ref}"
                if ref not in state:
                    visit(ref)
        state[name] = "done"

    for name in schema.MESSAGES:
        if name not in state:
            visit(name)


def test_every_served_kind_is_decodable() -> None:
    for info in registry.RESOURCES:
        assert schema.message_for(info.api_version, info.kind) in schema.MESSAGES, info.kind
        for sub in info.subresources:
            if sub.name in ("status", "scale", "binding"):
                version = f"{sub.group}/{sub.version}" if sub.group else sub.version
                assert schema.message_for(version, sub.kind) in schema.MESSAGES, sub


# ------------------------------------------------------------------------------ the request hook


def test_request_decode_object_accepts_protobuf() -> None:
    info = registry.lookup("", "v1", "namespaces")
    assert info is not None
    raw = (GOLDEN / "namespace.bin").read_bytes()
    doc = req.decode_object(raw, PROTOBUF, info, "Namespace")
    assert doc["metadata"]["name"] == "kt-ns"
    assert req.decode_object(raw, PROTOBUF + "; charset=binary", info, "Namespace") == doc


def test_request_decode_object_refuses_the_wrong_kind() -> None:
    info = registry.lookup("", "v1", "pods")
    assert info is not None
    raw = (GOLDEN / "namespace.bin").read_bytes()
    with pytest.raises(errors.ApiError) as caught:
        req.decode_object(raw, PROTOBUF, info, "Pod")
    assert caught.value.code == 400 and "Namespace" in caught.value.message


@pytest.mark.parametrize(
    "raw", [b"k8s\x00\x0a", b"garbage", envelope("v1", "ComponentStatus", b"")]
)
def test_request_turns_protobuf_errors_into_400(raw: bytes) -> None:
    info = registry.lookup("", "v1", "namespaces")
    assert info is not None
    with pytest.raises(errors.ApiError) as caught:
        req.decode_object(raw, PROTOBUF, info, "Namespace")
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert caught.value.message.startswith("error decoding protobuf: ")


def test_request_decode_document_reads_protobuf_delete_options() -> None:
    raw = (GOLDEN / "drain_delete_options.bin").read_bytes()
    doc: Any = req.decode_document(raw, PROTOBUF)
    assert doc["gracePeriodSeconds"] == 1
