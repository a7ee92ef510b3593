"""A pod's volumes and volumeMounts refused with upstream's field paths and words (422)."""

from __future__ import annotations

from typing import Any

import pytest

from knet.apiserver.validation import validate_object


def pod(volumes: list[Any], mounts: list[Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox", "volumeMounts": mounts}],
            "volumes": volumes,
        },
    }


def causes(volumes: list[Any], mounts: list[Any] | None = None) -> list[str]:
    return [str(c) for c in validate_object("Pod", pod(volumes, mounts or []))]


def test_a_good_pod_passes() -> None:
    volumes = [
        {
            "name": "cfg",
            "configMap": {
                "name": "app",
                "defaultMode": 0o440,
                "items": [{"key": "k", "path": "d/k"}],
            },
        },
        {"name": "sec", "secret": {"secretName": "s"}},
        {"name": "host", "hostPath": {"path": "/srv", "type": "DirectoryOrCreate"}},
        {"name": "mem", "emptyDir": {"medium": "Memory"}},
    ]
    mounts = [
        {"name": "cfg", "mountPath": "/etc/app"},
        {"name": "cfg", "mountPath": "/etc/one", "subPath": "d/k"},
        {"name": "host", "mountPath": "/srv"},
    ]
    assert causes(volumes, mounts) == []


@pytest.mark.parametrize(
    ("volumes", "mounts", "cause"),
    [
        ([{"name": "a"}], [], "spec.volumes[0]: Required value: must specify a volume type"),
        (
            [{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}}],
            [],
            "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
        ),
        (
            [{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}],
            [],
            'spec.volumes[1].name: Duplicate value: "a"',
        ),
        ([{"emptyDir": {}}], [], "spec.volumes[0].name: Required value"),
        (
            [{"name": "a", "configMap": {"name": "x", "defaultMode": 1024}}],
            [],
            "spec.volumes[0].configMap.defaultMode: Invalid value: 1024: "
            "must be a number between 0 and 0777 (octal), both inclusive",
        ),
        (
            [
                {
                    "name": "a",
                    "secret": {"secretName": "x", "items": [{"key": "k", "path": "../up"}]},
                }
            ],
            [],
            "spec.volumes[0].secret.items[0].path: Invalid value: \"../up\": must not contain '..'",
        ),
        (
            [{"name": "a", "configMap": {"name": "x", "items": [{"key": "k", "path": "/abs"}]}}],
            [],
            'spec.volumes[0].configMap.items[0].path: Invalid value: "/abs": '
            "must be a relative path",
        ),
        ([{"name": "a", "configMap": {}}], [], "spec.volumes[0].configMap.name: Required value"),
        (
            [{"name": "a", "hostPath": {"path": "/x", "type": "Weird"}}],
            [],
            'spec.volumes[0].hostPath.type: Unsupported value: "Weird": supported values: "", '
            '"BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", '
            '"FileOrCreate", "Socket"',
        ),
        (
            [],
            [{"name": "nope", "mountPath": "/x"}],
            'spec.containers[0].volumeMounts[0].name: Not found: "nope"',
        ),
        (
            [{"name": "a", "emptyDir": {}}],
            [{"name": "a"}],
            "spec.containers[0].volumeMounts[0].mountPath: Required value",
        ),
        (
            [{"name": "a", "emptyDir": {}}],
            [{"name": "a", "mountPath": "/x"}, {"name": "a", "mountPath": "/x/"}],
            'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/x/": must be unique',
        ),
        (
            [{"name": "a", "emptyDir": {}}],
            [{"name": "a", "mountPath": "/x", "subPath": "a/../../b"}],
            'spec.containers[0].volumeMounts[0].subPath: Invalid value: "a/../../b": '
            "must not contain '..'",
        ),
    ],
)
def test_bad_volumes_and_mounts(volumes: list[Any], mounts: list[Any], cause: str) -> None:
    assert cause in causes(volumes, mounts)
