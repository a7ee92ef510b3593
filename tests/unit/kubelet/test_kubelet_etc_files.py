"""The kubelet-written resolv.conf and hosts (pure), and the container mount plan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knet.api.base import from_wire
from knet.api.core import Container
from kubelet_lite.pods import etc_files
from kubelet_lite.pods.container_spec import ContainerConfigError
from kubelet_lite.pods.mount_plan import VolumeSource, container_mounts, volume_sources
from kubelet_lite.runtime.mounts import Bind, MountPlan, plan_from_wire
from kubelet_lite.runtime.namespaces import NamespacePlan
from kubelet_lite.runtime.namespaces import plan_from_wire as ns_from_wire

NODE = etc_files.parse_resolv_conf(
    "# comment\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch a.test b.test.\n"
    "options timeout:2\noptions ndots:1\n"
)


def resolver(policy: str | None, host_network: bool = False, cfg: dict | None = None) -> str:
    r = etc_files.pod_resolver(
        policy, host_network, cfg, "prod", ["10.96.0.10"], "cluster.local", NODE
    )
    return r.render()


def test_node_resolv_conf_is_parsed() -> None:
    assert NODE.nameservers == ("192.0.2.53", "192.0.2.54")
    assert NODE.searches == ("a.test", "b.test")
    assert NODE.options == ("timeout:2", "ndots:1")


def test_cluster_first() -> None:
    assert resolver(None) == (
        "search prod.svc.cluster.local svc.cluster.local cluster.local a.test b.test\n"
        "nameserver 10.96.0.10\noptions ndots:5\n"
    )
    assert resolver("ClusterFirstWithHostNet", host_network=True) == resolver("ClusterFirst")


def test_cluster_first_on_host_network_is_default() -> None:
    expected = (
        "search a.test b.test\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
        "options timeout:2 ndots:1\n"
    )
    assert resolver("ClusterFirst", host_network=True) == expected
    assert resolver("Default") == expected


def test_dns_config_merges() -> None:
    cfg = {
        "nameservers": ["10.96.0.10", "192.0.2.1"],
        "searches": ["x.test"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    assert resolver("ClusterFirst", cfg=cfg) == (
        "search prod.svc.cluster.local svc.cluster.local cluster.local a.test b.test x.test\n"
        "nameserver 10.96.0.10\nnameserver 192.0.2.1\noptions ndots:2 edns0\n"
    )
    assert resolver("None", cfg={"nameservers": ["192.0.2.1"]}) == "nameserver 192.0.2.1\n"


def test_hosts_file() -> None:
    text = etc_files.hosts_file("10.244.1.5", "web-0", None, "prod", "cluster.local", [])
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert text.endswith("fe00::2\tip6-allrouters\n10.244.1.5\tweb-0\n")
    fq = etc_files.hosts_file(
        "10.244.1.5",
        "web-0",
        "web",
        "prod",
        "cluster.local",
        [{"ip": "1.2.3.4", "hostnames": ["a", "b"]}],
    )
    assert "10.244.1.5\tweb-0.web.prod.svc.cluster.local\tweb-0\n" in fq
    assert fq.endswith("\n# Entries added by HostAliases.\n1.2.3.4\ta\tb\n")
    host = etc_files.hosts_file(None, "node", None, "prod", "cluster.local", [], "127.0.0.1 lh")
    assert host == "# Kubernetes-managed hosts file (host network).\n127.0.0.1 lh\n"


def test_mount_plan_volumes(tmp_path: Path) -> None:
    vols = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/srv//x/"}},
        {"name": "cfg", "configMap": {"name": "app"}},
    ]
    sources = volume_sources(vols, tmp_path)
    cfg_dir = str(tmp_path / "kubernetes.io~configmap" / "cfg")
    assert sources == {
        "scratch": VolumeSource(str(tmp_path / "empty-dir" / "scratch")),
        "host": VolumeSource("/srv/x"),
        "cfg": VolumeSource(cfg_dir, read_only=True),
    }
    c = from_wire(
        Container,
        {
            "name": "c",
            "volumeMounts": [
                {"name": "scratch", "mountPath": "/tmp/s"},
                {"name": "host", "mountPath": "/data", "subPath": "sub", "readOnly": True},
                {"name": "cfg", "mountPath": "/etc/app", "readOnly": False},
                {"name": "cfg", "mountPath": "/etc/one.conf", "subPath": "one.conf"},
            ],
        },
    )
    plan = container_mounts(c, sources, tmp_path / "etc")
    assert plan.binds[:3] == tuple(
        Bind(str(tmp_path / "etc" / f), f"/etc/{f}") for f in ("hosts", "hostname", "resolv.conf")
    )
    assert plan.binds[3:] == (
        Bind(str(tmp_path / "empty-dir" / "scratch"), "/tmp/s"),
        Bind("/srv/x/sub", "/data", True),
        # The kubelet's API volumes are read-only whatever the mount says.
        Bind(cfg_dir, "/etc/app", True),
        Bind(cfg_dir + "/one.conf", "/etc/one.conf", True),
    )
    assert plan_from_wire(plan.to_wire()) == plan


@pytest.mark.parametrize(
    ("vols", "mounts", "field"),
    [
        ([{"name": "c", "nfs": {"server": "x"}}], [], "spec.volumes[0].nfs"),
        (
            [{"name": "m", "emptyDir": {"medium": "HugePages"}}],
            [],
            "spec.volumes[0].emptyDir.medium",
        ),
        ([], [{"name": "nope", "mountPath": "/x"}], "no volume named 'nope'"),
        (
            [{"name": "e", "emptyDir": {}}],
            [{"name": "e", "mountPath": "/x", "subPath": "../up"}],
            "subPath",
        ),
    ],
)
def test_mount_plan_refuses(tmp_path: Path, vols: list, mounts: list, field: str) -> None:
    c = from_wire(Container, {"name": "c", "volumeMounts": mounts})
    with pytest.raises(ContainerConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        container_mounts(c, volume_sources(vols, tmp_path), tmp_path)


def test_namespace_plan_wire() -> None:
    plan = NamespacePlan(holder=42, pid="pod", mount=True)
    assert ns_from_wire(plan.to_wire()) == plan
    assert ns_from_wire(None) is None
    for bad in ({"holder": -1}, {"pid": "node"}, []):
        with pytest.raises(ValueError):
            ns_from_wire(bad)


def test_sub_path_may_not_leave_its_volume(tmp_path: Path) -> None:
    vols = [{"name": "e", "emptyDir": {}}]
    sources = volume_sources(vols, tmp_path)
    vol = Path(sources["e"].path)
    vol.mkdir(parents=True)
    (vol / "ok").write_text("x")
    (vol / "inner").symlink_to("ok")
    (vol / "escape").symlink_to("/etc/hostname")  # planted by an earlier container

    def mounts(sub: str) -> MountPlan:
        c = from_wire(
            Container,
            {"name": "c", "volumeMounts": [{"name": "e", "mountPath": "/x", "subPath": sub}]},
        )
        return container_mounts(c, sources, tmp_path / "etc", os.path.realpath)

    assert mounts("inner").binds[-1] == Bind(str(vol / "ok"), "/x")  # pinned to the real path
    with pytest.raises(ContainerConfigError) as info:
        mounts("escape")
    assert str(info.value) == 'failed to prepare subPath for volumeMount "e" of container "c"'
