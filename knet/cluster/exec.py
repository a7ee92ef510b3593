"""``knet exec [-n NAMESPACE] POD -- CMD...``: run a command in a pod's network namespace.

The pod is looked up in the API (its UID and node); the namespace is read from that node's
kubelet-lite checkpoint (``<root-dir>/pods/*/checkpoint.json``, field ``sandbox.netns``), which
says what the kubelet really made, and only if there is none is the name derived from the UID
the way the kubelet derives it. A hostNetwork pod shares its node's namespace.

The command keeps this machine's filesystem, so it finds the host's tools (curl, ping, ip); it
does not get the cluster's DNS, because there is none: use a Service's ClusterIP, not its name.

On a real node (a Vagrant VM) ``--kubeconfig`` and ``--root-dir`` name the API server and the
kubelet's state instead of a local cluster; the pod must run on that machine.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from knet.client import ConfigError, load_kubeconfig
from knet.cluster import topology
from knet.cluster.state import ClusterState, cluster_dir
from knet.netlink import names, netns
from knet.netlink.exec import netns_argv


class ExecError(Exception):
    """The pod or its namespace cannot be found; the message says why."""


def get_pod(api_url: str, namespace: str, name: str) -> dict[str, Any]:
    path = f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods/{urllib.parse.quote(name)}"
    try:
        with urllib.request.urlopen(api_url + path, timeout=10) as r:
            pod: dict[str, Any] = json.loads(r.read())
            return pod
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise ExecError(f'pod "{name}" not found in namespace "{namespace}"') from None
        raise ExecError(f"the API server answered {e.code} for pod {namespace}/{name}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise ExecError(f"cannot reach the API server at {api_url}: {e}") from None


def checkpoint_netns(kubelet_root: Path, uid: str) -> str | None:
    """The namespace the kubelet recorded for pod ``uid``, if it recorded one."""
    pods = kubelet_root / "pods"
    if not pods.is_dir():
        return None
    for path in sorted(pods.glob("*/checkpoint.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("uid") == uid:
            sandbox = doc.get("sandbox") or {}
            ns = sandbox.get("netns") if isinstance(sandbox, dict) else None
            return str(ns) if ns else None
    return None


def _label(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def kubelet_pod_netns(pod: dict[str, Any], kubelet_root: Path, prefix: str) -> str:
    """The pod's namespace on a node whose kubelet-lite keeps its state in ``kubelet_root``."""
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    ns = checkpoint_netns(kubelet_root, uid) or names.netns_name(uid, prefix)
    if not netns.exists(ns):
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase", "Pending")
        raise ExecError(
            f"pod {_label(pod)} has no network namespace here (node {node}, phase {phase})"
        )
    return ns


def pod_netns(state: ClusterState, pod: dict[str, Any]) -> str:
    """The pod's namespace in the local cluster ``state``, on whichever node it runs."""
    spec = pod.get("spec") or {}
    node_name = spec.get("nodeName")
    if not node_name:
        raise ExecError(f"pod {_label(pod)} is not scheduled to a node yet")
    topo = topology.build(state.name, state.nodes)
    try:
        node = topo.node(node_name)
    except KeyError:
        raise ExecError(
            f"pod {_label(pod)} runs on {node_name}, not a node of this cluster"
        ) from None
    if spec.get("hostNetwork"):
        return node.netns
    return kubelet_pod_netns(pod, state.node_dir(node_name) / "kubelet", topo.pod_netns_prefix)


def exec_argv(
    cluster: str, state_root: Path, namespace: str, pod_name: str, cmd: list[str]
) -> list[str]:
    """The argv that runs ``cmd`` in the pod's network namespace (local cluster)."""
    if not cmd:
        raise ExecError("no command given: knet exec POD -- CMD...")
    state = ClusterState.load(cluster_dir(state_root, cluster))
    if state is None:
        raise ExecError(f"no cluster named {cluster} (run: knet cluster up --name {cluster})")
    pod = get_pod(state.api_url, namespace, pod_name)
    return netns_argv(pod_netns(state, pod), cmd)


def node_exec_argv(
    kubeconfig: Path,
    kubelet_root: Path,
    prefix: str,
    namespace: str,
    pod_name: str,
    cmd: list[str],
) -> list[str]:
    """The argv that runs ``cmd`` in a pod on *this* machine (a real node, e.g. a Vagrant VM,
    whose kubelet-lite keeps its state in ``kubelet_root``)."""
    if not cmd:
        raise ExecError("no command given: knet exec POD -- CMD...")
    try:
        config = load_kubeconfig(kubeconfig)
    except ConfigError as e:
        raise ExecError(str(e)) from None
    if config.unix_socket is not None:
        raise ExecError(f"{kubeconfig}: knet exec needs an http:// server URL")
    pod = get_pod(config.base_url, namespace, pod_name)
    spec = pod.get("spec") or {}
    if not spec.get("nodeName"):
        raise ExecError(f"pod {_label(pod)} is not scheduled to a node yet")
    if spec.get("hostNetwork"):
        return list(cmd)  # this machine's own namespace
    return netns_argv(kubelet_pod_netns(pod, kubelet_root, prefix), cmd)
