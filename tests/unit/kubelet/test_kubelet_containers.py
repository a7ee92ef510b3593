"""Container inputs: hostname, environment with fieldRef and $(VAR), command expansion, ids."""

from __future__ import annotations

from typing import Any

import pytest

from knet.api.base import from_wire
from knet.api.core import Container
from kubelet_lite.pods.container_spec import (
    DEFAULT_PATH,
    ContainerConfigError,
    PodFields,
    container_env,
    container_id,
    expand,
    expanded_command,
    pod_hostname,
    spec_hash,
)

FIELDS = PodFields(
    name="web-1",
    namespace="prod",
    uid="u-1",
    node_name="node-a",
    host_ip="10.0.0.1",
    pod_ip="10.244.1.7",
    service_account="default",
    labels={"app": "web"},
    annotations={"note": "x"},
)


def container(**spec: Any) -> Container:
    return from_wire(Container, {"name": "c", **spec})


def test_hostname_truncation() -> None:
    assert pod_hostname("web-1") == "web-1"
    assert pod_hostname("a" * 62 + "-b" * 10) == "a" * 62
    assert pod_hostname("x" * 62 + ".y") == "x" * 62
    assert pod_hostname("long" * 30, spec_hostname="short") == "short"


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)", "x1y2"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("cost $5", "cost $5"),
        ("$(A", "$(A"),
        ("end$", "end$"),
    ],
)
def test_expand(text: str, out: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == out


def test_env_defaults_order_and_references() -> None:
    c = container(
        env=[
            {"name": "GREETING", "value": "hi"},
            {"name": "MSG", "value": "$(GREETING) from $(HOSTNAME)"},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ]
    )
    env = container_env(c, FIELDS, "web-1")
    assert env["PATH"] == DEFAULT_PATH and env["HOSTNAME"] == "web-1"
    assert env["MSG"] == "hi from web-1"
    assert (env["IP"], env["APP"], env["NODE"]) == ("10.244.1.7", "web", "node-a")


def test_command_and_args_expand_from_env() -> None:
    c = container(command=["echo", "$(A)"], args=["$(B)", "$$(B)"])
    assert expanded_command(c, {"A": "1", "B": "2"}) == (["echo", "1"], ["2", "$(B)"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
            'secret "s" not found',
        ),
        (
            {"env": [{"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]},
            "fieldRef 'spec.bogus' is not supported",
        ),
        ({"envFrom": [{"configMapRef": {"name": "cm"}}]}, 'configmap "cm" not found'),
        (
            {"env": [{"name": "X", "valueFrom": {"somethingElse": {}}}]},
            "valueFrom somethingElse is not supported",
        ),
    ],
)
def test_missing_or_unsupported_env_sources_are_config_errors(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ContainerConfigError, match=message) as info:
        container_env(container(**spec), FIELDS, "h")
    assert info.value.reason == "CreateContainerConfigError"


def test_ids_and_hashes() -> None:
    a, b = container_id("u", "c", 0), container_id("u", "c", 1)
    assert a.startswith("knet://") and len(a) == len("knet://") + 64 and a != b
    assert spec_hash(container(image="x:1")) == spec_hash(container(image="x:1"))
    assert spec_hash(container(image="x:1")) != spec_hash(container(image="x:2"))
