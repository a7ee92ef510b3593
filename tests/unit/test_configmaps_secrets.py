"""ConfigMaps and Secrets in the API server: validation (rule, field path, message), the
stringData merge, defaulting, printing, field selectors, strategic merge, and protobuf both ways."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from knet.api import registry
from knet.api.config import base64_error
from knet.apiserver import discovery, errors, openapi, strategy
from knet.apiserver.configvalidation import MAX_SIZE, config_key_errors, go_json_error
from knet.apiserver.patch import apply_strategic_merge_patch
from knet.apiserver.printers import build_table, column_definitions, row_cells
from knet.apiserver.protobuf import ProtobufError, decode_k8s_protobuf, encode_k8s_protobuf
from knet.apiserver.resources import Resources, object_fields
from knet.apiserver.validation import validate_object
from knet.controllers.namespace import content_kinds

Obj = dict[str, Any]
NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
IMMUTABLE = "Forbidden: field is immutable when `immutable` is set"
KEY_REGEX_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def configmap(**fields: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default"},
        **fields,
    }


def secret(**fields: Any) -> Obj:
    fields.setdefault("type", "Opaque")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"},
        **fields,
    }


def causes(kind: str, obj: Obj, old: Obj | None = None) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in validate_object(kind, obj, old=old)]


# ------------------------------------------------------------------------------ key names


@pytest.mark.parametrize(
    ("key", "messages"),
    [
        ("a", []),
        ("key.name_1-x", []),
        (".hidden", []),
        ("a" * 253, []),
        ("a" * 254, ["must be no more than 253 characters"]),
        ("a b", [KEY_REGEX_MSG]),
        ("a/b", [KEY_REGEX_MSG]),
        ("", [KEY_REGEX_MSG]),
        ("ok\n", [KEY_REGEX_MSG]),  # Go's `$` is the end of the text, not before a newline
        (".", ["must not be '.'"]),
        ("..", ["must not be '..'"]),
        ("..data", ["must not start with '..'"]),
    ],
)
def test_config_key_rules(key: str, messages: list[str]) -> None:
    assert config_key_errors(key) == messages


# ------------------------------------------------------------------------------ ConfigMap


def test_valid_configmap_has_no_causes() -> None:
    obj = configmap(data={"a": "1", "f.txt": "x\n"}, binaryData={"bin": b64(b"\x00\x01")})
    assert causes("ConfigMap", obj) == []


def test_configmap_invalid_keys_name_their_path() -> None:
    obj = configmap(data={"a b": "1"}, binaryData={"..x": b64("y")})
    assert causes("ConfigMap", obj) == [
        ("data[a b]", f'Invalid value: "a b": {KEY_REGEX_MSG}'),
        ("binaryData[..x]", "Invalid value: \"..x\": must not start with '..'"),
    ]


def test_configmap_key_in_both_bags_is_invalid_in_each() -> None:
    obj = configmap(data={"k": "1"}, binaryData={"k": b64("1")})
    assert causes("ConfigMap", obj) == [
        ("data[k]", 'Invalid value: "k": duplicate of key present in binaryData'),
        ("binaryData[k]", 'Invalid value: "k": duplicate of key present in data'),
    ]


def test_configmap_size_counts_decoded_bytes_of_both_bags() -> None:
    half = MAX_SIZE // 2
    at_limit = configmap(data={"a": "x" * half}, binaryData={"b": b64(b"\x00" * half)})
    assert causes("ConfigMap", at_limit) == []
    over = configmap(data={"a": "x" * half}, binaryData={"b": b64(b"\x00" * (half + 1))})
    assert causes("ConfigMap", over) == [
        ("[]", "Too long: may not be more than 1048576 bytes"),
    ]
    # Characters outside ASCII count as their UTF-8 bytes, as Go's len(string).
    assert causes("ConfigMap", configmap(data={"a": "é" * (half + 1)})) == [
        ("[]", "Too long: may not be more than 1048576 bytes"),
    ]


def test_immutable_configmap_refuses_changes_to_data_binary_data_and_the_flag() -> None:
    old = configmap(data={"a": "1"}, binaryData={"b": b64("2")}, immutable=True)
    changed = configmap(data={"a": "9"}, binaryData={}, immutable=False)
    assert causes("ConfigMap", changed, old) == [
        ("immutable", IMMUTABLE),
        ("data", IMMUTABLE),
        ("binaryData", IMMUTABLE),
    ]
    dropped = configmap(data={"a": "1"}, binaryData={"b": b64("2")})
    assert causes("ConfigMap", dropped, old) == [("immutable", IMMUTABLE)]


def test_immutable_configmap_still_takes_metadata_changes() -> None:
    old = configmap(data={"a": "1"}, immutable=True)
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"app": "web"}
    assert causes("ConfigMap", new, old) == []


def test_mutable_configmap_may_change_and_become_immutable() -> None:
    old = configmap(data={"a": "1"})
    assert causes("ConfigMap", configmap(data={"a": "2"}, immutable=True), old) == []


def test_configmap_name_is_a_dns1123_subdomain() -> None:
    obj = configmap()
    obj["metadata"]["name"] = "Bad_Name"
    assert [f for f, _ in causes("ConfigMap", obj)] == ["metadata.name"]


# ------------------------------------------------------------------------------ Secret


def test_valid_opaque_secret_has_no_causes() -> None:
    assert causes("Secret", secret(data={"u": b64("admin"), "empty": ""})) == []


def test_secret_invalid_key_and_size_name_their_path() -> None:
    assert causes("Secret", secret(data={"a b": b64("x")})) == [
        ("data[a b]", f'Invalid value: "a b": {KEY_REGEX_MSG}'),
    ]
    big = secret(data={"a": b64(b"\x00" * MAX_SIZE), "b": b64(b"\x00")})
    assert causes("Secret", big) == [("data", "Too long: may not be more than 1048576 bytes")]


def test_secret_type_is_immutable() -> None:
    old = secret(data={"a": b64("1")})
    new = secret(data={"a": b64("1")}, type="kubernetes.io/basic-auth")
    new["data"]["username"] = b64("u")
    assert causes("Secret", new, old) == [
        ("type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable'),
    ]


def test_immutable_secret_refuses_data_and_flag_changes() -> None:
    old = secret(data={"a": b64("1")}, immutable=True)
    assert causes("Secret", secret(data={"a": b64("2")}, immutable=True), old) == [
        ("data", IMMUTABLE),
    ]
    assert causes("Secret", secret(data={"a": b64("1")}), old) == [("immutable", IMMUTABLE)]
    assert causes("Secret", secret(data={"a": b64("1")}, immutable=True), old) == []


@pytest.mark.parametrize(
    ("type_", "data", "annotations", "expected"),
    [
        pytest.param(
            "kubernetes.io/tls",
            {},
            None,
            [("data[tls.crt]", "Required value"), ("data[tls.key]", "Required value")],
            id="tls-needs-both",
        ),
        pytest.param(
            "kubernetes.io/tls",
            {"tls.crt": b64("c")},
            None,
            [("data[tls.key]", "Required value")],
            id="tls-needs-key",
        ),
        pytest.param(
            "kubernetes.io/tls", {"tls.crt": "", "tls.key": ""}, None, [], id="tls-empty-ok"
        ),
        pytest.param(
            "kubernetes.io/dockerconfigjson",
            {},
            None,
            [("data[.dockerconfigjson]", "Required value")],
            id="dockerconfigjson-missing",
        ),
        pytest.param(
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": b64("{nope")},
            None,
            [
                (
                    "data[.dockerconfigjson]",
                    'Invalid value: "<secret contents redacted>": '
                    "invalid character 'n' looking for beginning of value",
                )
            ],
            id="dockerconfigjson-not-json",
        ),
        pytest.param(
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": b64('{"auths": {}}')},
            None,
            [],
            id="dockerconfigjson-ok",
        ),
        pytest.param(
            "kubernetes.io/dockercfg",
            {".dockerconfigjson": b64("{}")},
            None,
            [("data[.dockercfg]", "Required value")],
            id="dockercfg-missing",
        ),
        pytest.param(
            "kubernetes.io/dockercfg",
            {".dockercfg": b64("[1]")},
            None,
            [
                (
                    "data[.dockercfg]",
                    'Invalid value: "<secret contents redacted>": json: cannot unmarshal '
                    "array into Go value of type map[string]interface {}",
                )
            ],
            id="dockercfg-not-an-object",
        ),
        pytest.param(
            "kubernetes.io/basic-auth",
            {},
            None,
            [("data[username]", "Required value"), ("data[password]", "Required value")],
            id="basic-auth-needs-one",
        ),
        pytest.param(
            "kubernetes.io/basic-auth", {"password": ""}, None, [], id="basic-auth-password-only"
        ),
        pytest.param(
            "kubernetes.io/ssh-auth",
            {"ssh-privatekey": ""},
            None,
            [("data[ssh-privatekey]", "Required value")],
            id="ssh-auth-empty-key",
        ),
        pytest.param(
            "kubernetes.io/ssh-auth", {"ssh-privatekey": b64("k")}, None, [], id="ssh-auth-ok"
        ),
        pytest.param(
            "kubernetes.io/service-account-token",
            {},
            None,
            [("metadata.annotations[kubernetes.io/service-account.name]", "Required value")],
            id="sa-token-needs-annotation",
        ),
        pytest.param(
            "kubernetes.io/service-account-token",
            {},
            {"kubernetes.io/service-account.name": "default"},
            [],
            id="sa-token-ok",
        ),
        pytest.param("example.com/custom", {}, None, [], id="other-types-unchecked"),
    ],
)
def test_secret_type_rules(
    type_: str, data: Obj, annotations: dict[str, str] | None, expected: list[tuple[str, str]]
) -> None:
    obj = secret(type=type_, data=data)
    if annotations is not None:
        obj["metadata"]["annotations"] = annotations
    assert causes("Secret", obj) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 1}', None),
        (b"null", None),
        (b"", "unexpected end of JSON input"),
        (b'{"a": ', "unexpected end of JSON input"),
        (b'"text"', "json: cannot unmarshal string into Go value of type map[string]interface {}"),
        (b"7", "json: cannot unmarshal number into Go value of type map[string]interface {}"),
        (b'{"a": NaN}', "invalid character 'N' looking for beginning of value"),
        (b"-Infinity", "invalid character 'I' looking for beginning of value"),
    ],
)
def test_go_json_error(raw: bytes, expected: str | None) -> None:
    assert go_json_error(raw) == expected


# ------------------------------------------------------------------------------ defaulting


def _created(kind: str, obj: Obj) -> Obj:
    strategy.prepare_for_create(registry.by_kind(kind), obj, "default")
    return obj


def test_string_data_is_merged_into_data_and_never_kept() -> None:
    obj = _created(
        "Secret",
        secret(data={"a": b64("old"), "b": b64("kept")}, stringData={"a": "new", "c": "é"}),
    )
    assert obj["data"] == {"a": b64("new"), "b": b64("kept"), "c": b64("é")}
    assert "stringData" not in obj


def test_string_data_alone_creates_data() -> None:
    obj = secret(stringData={"x": "1"})
    del obj["type"]
    _created("Secret", obj)
    assert obj["data"] == {"x": b64("1")}
    assert obj["type"] == "Opaque"
    assert "generation" not in obj["metadata"]


def test_string_data_is_merged_on_update_before_the_immutability_check() -> None:
    info = registry.by_kind("Secret")
    old = _created("Secret", secret(data={"a": b64("1")}, immutable=True))
    same = secret(stringData={"a": "1"}, immutable=True)
    strategy.prepare_for_update(info, same, old, None)
    assert same["data"] == {"a": b64("1")} and "stringData" not in same
    assert causes("Secret", same, old) == []
    changed = secret(stringData={"a": "2"}, immutable=True)
    strategy.prepare_for_update(info, changed, old, None)
    assert causes("Secret", changed, old) == [("data", IMMUTABLE)]


def test_string_data_keys_are_validated_as_data_keys() -> None:
    obj = _created("Secret", secret(stringData={"bad key": "v"}))
    assert [f for f, _ in causes("Secret", obj)] == ["data[bad key]"]


def test_line_broken_base64_is_stored_canonical() -> None:
    value = b64(b"\x00" * 60)
    wrapped = value[:40] + "\n" + value[40:]
    assert _created("Secret", secret(data={"a": wrapped}))["data"] == {"a": value}
    cm = _created("ConfigMap", configmap(binaryData={"a": wrapped}))
    assert cm["binaryData"] == {"a": value}


# ------------------------------------------------------------------------------ base64 at the wire


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("YWJj", None),
        ("YQ==", None),
        ("", None),
        ("YWJj\nZGVm", None),  # Go skips line breaks
        ("YW!j", "illegal base64 data at input byte 2"),
        ("é", "illegal base64 data at input byte 0"),
        ("YQ", "illegal base64 data at input byte 0"),  # padding is required
        ("YWJjZ", "illegal base64 data at input byte 4"),
        ("Y=Qz", "illegal base64 data at input byte 1"),
    ],
)
def test_base64_error(text: str, expected: str | None) -> None:
    assert base64_error(text) == expected


@pytest.mark.parametrize(
    ("kind", "obj", "detail"),
    [
        (
            "Secret",
            secret(data={"a": "not base64!"}),
            "data.a: illegal base64 data at input byte 3",
        ),
        (
            "ConfigMap",
            configmap(binaryData={"b": "%%%%"}),
            "binaryData.b: illegal base64 data at input byte 0",
        ),
        ("ConfigMap", configmap(data={"a": 1}), "data.a: Input should be a valid string"),
        ("Secret", secret(stringData={"a": True}), "stringData.a: Input should be a valid string"),
        ("ConfigMap", configmap(immutable="yes"), "immutable: Input should be a valid boolean"),
    ],
)
def test_wrong_wire_values_are_a_400(kind: str, obj: Obj, detail: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        Resources.typecheck(registry.by_kind(kind), obj)
    assert caught.value.code == 400
    assert caught.value.message == (
        f'{kind} in version "v1" cannot be handled as a {kind}: {detail}'
    )


# ------------------------------------------------------------------------------ printing


def test_configmap_row_counts_both_bags() -> None:
    obj = configmap(data={"a": "1", "b": "2"}, binaryData={"c": b64("3")})
    obj["metadata"]["creationTimestamp"] = "2026-12-07T11:55:00Z"
    assert row_cells("configmaps", obj, NOW) == ["cfg", 3, "5m"]
    assert row_cells("configmaps", {"metadata": {"name": "e"}}, NOW) == ["e", 0, "<unknown>"]


def test_secret_row_shows_type_and_data_count() -> None:
    obj = secret(type="kubernetes.io/tls", data={"tls.crt": "", "tls.key": ""})
    obj["metadata"]["creationTimestamp"] = "2026-12-07T10:00:00Z"
    assert row_cells("secrets", obj, NOW) == ["s", "kubernetes.io/tls", 2, "120m"]


def test_tables_have_kubectls_columns() -> None:
    assert [c["name"] for c in column_definitions("configmaps")] == ["Name", "Data", "Age"]
    assert [c["name"] for c in column_definitions("secrets")] == ["Name", "Type", "Data", "Age"]
    table = build_table("secrets", [secret(data={})], now=NOW, resource_version="9")
    assert table["rows"][0]["cells"][:3] == ["s", "Opaque", 0]
    assert table["rows"][0]["object"]["metadata"]["name"] == "s"


# ------------------------------------------------------------------------------ registry


def test_registry_entries() -> None:
    cm = registry.lookup("", "v1", "configmaps")
    sec = registry.lookup("", "v1", "secrets")
    assert cm is not None and sec is not None
    assert (cm.kind, cm.short_names, cm.namespaced, cm.has_status) == (
        "ConfigMap",
        ("cm",),
        True,
        False,
    )
    assert sec.selectable_fields == ("metadata.name", "metadata.namespace", "type")
    assert cm.selectable_fields == ("metadata.name", "metadata.namespace")
    assert object_fields(sec, secret(type="kubernetes.io/tls"))["type"] == "kubernetes.io/tls"


def test_strategic_merge_merges_data_maps_key_by_key() -> None:
    live = configmap(data={"a": "1", "b": "2"})
    out = apply_strategic_merge_patch(live, {"data": {"b": None, "c": "3"}}, "ConfigMap")
    assert out["data"] == {"a": "1", "c": "3"}
    live_s = secret(data={"a": b64("1")})
    out_s = apply_strategic_merge_patch(live_s, {"stringData": {"x": "y"}}, "Secret")
    assert out_s["data"] == {"a": b64("1")} and out_s["stringData"] == {"x": "y"}


# ------------------------------------------------------------------------------ protobuf


def test_configmap_protobuf_round_trip() -> None:
    doc = configmap(
        data={"a": "1", "empty": "", "f.txt": "hé\n"},
        binaryData={"bin": b64(b"\x00\xff")},
        immutable=False,
    )
    raw = encode_k8s_protobuf(doc)
    assert raw.startswith(b"k8s\x00")
    assert decode_k8s_protobuf(raw) == doc
    assert encode_k8s_protobuf(decode_k8s_protobuf(raw)) == raw


def test_secret_protobuf_round_trip() -> None:
    doc = secret(
        data={"tls.crt": b64(b"\x01\x02"), "nothing": ""},
        stringData={"plain": "text"},
        type="kubernetes.io/tls",
        immutable=True,
    )
    raw = encode_k8s_protobuf(doc)
    assert decode_k8s_protobuf(raw) == doc
    assert encode_k8s_protobuf(decode_k8s_protobuf(raw)) == raw


def _ld(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_secret_protobuf_uses_upstreams_field_numbers() -> None:
    """Hand-built as Go writes a v1.Secret: metadata=1, data=2 (bytes values), type=3,
    stringData=4, immutable=5; an entry without a value is an empty value."""
    meta = _ld(1, _ld(1, b"s"))
    data = _ld(2, _ld(1, b"k") + _ld(2, b"\x00v")) + _ld(2, _ld(1, b"e"))
    body = meta + data + _ld(3, b"Opaque") + _ld(4, _ld(1, b"p") + _ld(2, b"w")) + b"\x28\x01"
    raw = b"k8s\x00" + _ld(1, _ld(1, b"v1") + _ld(2, b"Secret")) + _ld(2, body)
    assert decode_k8s_protobuf(raw) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": b64(b"\x00v"), "e": ""},
        "type": "Opaque",
        "stringData": {"p": "w"},
        "immutable": True,
    }


def test_configmap_protobuf_uses_upstreams_field_numbers() -> None:
    """metadata=1, data=2 (strings), binaryData=3 (bytes), immutable=4."""
    body = (
        _ld(1, _ld(1, b"c"))
        + _ld(2, _ld(1, b"a") + _ld(2, b"1"))
        + _ld(3, _ld(1, b"b") + _ld(2, b"\xff"))
        + b"\x20\x01"
    )
    raw = b"k8s\x00" + _ld(1, _ld(1, b"v1") + _ld(2, b"ConfigMap")) + _ld(2, body)
    assert decode_k8s_protobuf(raw) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
        "binaryData": {"b": b64(b"\xff")},
        "immutable": True,
    }


GOLDEN = Path(__file__).parent / "protobuf_golden"


def test_kubectl_configmap_and_secret_bodies_decode() -> None:
    """kubectl 1.32's own bodies (the golden test decodes every one against its dry-run JSON)."""
    cm = decode_k8s_protobuf((GOLDEN / "configmap.bin").read_bytes())
    assert cm["data"] == {"a": "1", "app.conf": "listen 80\n"}
    assert cm["binaryData"] == {"blob.bin": b64(b"\x00\xff\xfe\x01")}
    generic = decode_k8s_protobuf((GOLDEN / "secret_generic.bin").read_bytes())
    assert generic["data"] == {"user": b64("admin"), "empty": ""}
    assert "type" not in generic  # kubectl sends an empty type: the server defaults it
    docker = decode_k8s_protobuf((GOLDEN / "secret_docker_registry.bin").read_bytes())
    assert docker["type"] == "kubernetes.io/dockerconfigjson"
    assert causes("Secret", _created("Secret", docker)) == []


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.bin")))
def test_encoder_is_the_decoders_inverse_on_kubectl_bodies(name: str) -> None:
    doc = decode_k8s_protobuf((GOLDEN / f"{name}.bin").read_bytes())
    assert decode_k8s_protobuf(encode_k8s_protobuf(doc)) == doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "ConfigMap"}, "names no apiVersion and kind"),
        ({"apiVersion": "v1", "kind": "ComponentStatus"}, 'no kind "ComponentStatus"'),
        (configmap(data={"a": 1}), "data: expected a string"),
        (secret(data={"a": "!!"}), "data: not valid base64"),
        (configmap(immutable="yes"), "immutable: expected a boolean"),
        (configmap(data=["a"]), "data: expected an object"),
    ],
)
def test_encoder_refuses_what_it_cannot_write(doc: Obj, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        encode_k8s_protobuf(doc)


def test_discovery_and_openapi_list_both_kinds() -> None:
    listing = discovery.api_resource_list("", "v1")
    assert listing is not None
    by_name = {r["name"]: r for r in listing["resources"]}
    assert by_name["configmaps"]["shortNames"] == ["cm"]
    assert by_name["configmaps"]["kind"] == "ConfigMap"
    assert "shortNames" not in by_name["secrets"]
    for res in ("configmaps", "secrets"):
        assert by_name[res]["namespaced"] is True
        assert set(by_name[res]["verbs"]) == set(registry.ALL_VERBS)
        assert not any(name.startswith(f"{res}/") for name in by_name)  # no subresources
    doc = openapi.group_version_document("", "v1")
    assert doc is not None
    for res, kind in (("configmaps", "ConfigMap"), ("secrets", "Secret")):
        op = doc["paths"][f"/api/v1/namespaces/{{namespace}}/{res}/{{name}}"]["patch"]
        assert op["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": kind}


def test_namespace_controller_deletes_both_kinds() -> None:
    assert {"ConfigMap", "Secret"} <= set(content_kinds())
