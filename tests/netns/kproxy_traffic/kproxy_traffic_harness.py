"""A one-node "cluster" in scratch namespaces for kproxy's real-traffic tests.

    root namespace:  knet apiserver (TCP on 127.0.0.1 for the tests, unix socket for kproxy)
    kt-<tag>-node:   bridge kbr0 10.244.1.1/24 (pod network), uplink kt-eth0 192.168.77.2/24 with
                     a default route (the node's "uplink"), kproxy running inside
    kt-<tag>-p<...>: pod namespaces on kbr0 (kubelet_lite's sandbox), each running the agent's
                     server, which answers HTTP and UDP with the pod's name

Services and EndpointSlices are written by hand (no controllers). Everything created is named
kt-..., recorded, and removed by ``close()``; processes are killed by their recorded pids.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import IPRoute

from knet import kubeconfig
from knet.netlink import netns as netns_mod
from knet.netlink import nftables, nftsocket
from kubelet_lite.network.conf import NetConf, SandboxSpec
from kubelet_lite.network.pod_network import PodNetwork

AGENT = str(Path(__file__).with_name("kproxy_traffic_agent.py"))
REPO = str(Path(__file__).resolve().parents[3])
POD_SUBNET = "10.244.1.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
NODE_IP = "192.168.77.2"
NODE_NAME = "node1"
HTTP_PORT = 8080
UDP_PORT = 5353
USERSPACE_PORTS = "36000-36999"
T = TypeVar("T")


def netns_argv(ns: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{ns}", "--", *argv]


def agent_argv(ns: str, *args: str) -> list[str]:
    return netns_argv(ns, sys.executable, AGENT, *args)


def wait_until(fn: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# ---------------------------------------------------------------------------------------------
# API objects


class Api:
    """Just enough of the API, over plain HTTP, to write Services and EndpointSlices."""

    def __init__(self, url: str, namespace: str = "default") -> None:
        self.url = url
        self.ns = namespace

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def _svc_path(self, name: str = "") -> str:
        return f"/api/v1/namespaces/{self.ns}/services" + (f"/{name}" if name else "")

    def _slice_path(self, name: str = "") -> str:
        base = f"/apis/discovery.k8s.io/v1/namespaces/{self.ns}/endpointslices"
        return base + (f"/{name}" if name else "")

    def create_service(
        self,
        name: str,
        cluster_ip: str,
        *,
        node_port: int | None = None,
        affinity_seconds: int | None = None,
        extra_spec: dict[str, Any] | None = None,
    ) -> None:
        ports: list[dict[str, Any]] = [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": HTTP_PORT},
            {"name": "udp", "protocol": "UDP", "port": 53, "targetPort": UDP_PORT},
        ]
        spec: dict[str, Any] = {"type": "ClusterIP", "clusterIP": cluster_ip, "ports": ports}
        if node_port is not None:
            spec["type"] = "NodePort"
            ports[0]["nodePort"] = node_port
            ports[1]["nodePort"] = node_port
        if affinity_seconds is not None:
            spec["sessionAffinity"] = "ClientIP"
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": affinity_seconds}}
        spec.update(extra_spec or {})
        self._call("POST", self._svc_path(), {"metadata": {"name": name}, "spec": spec})

    def update_spec(self, name: str, **fields: Any) -> None:
        svc = self._call("GET", self._svc_path(name))
        svc["spec"].update(fields)
        self._call("PUT", self._svc_path(name), svc)

    def set_lb_ingress(self, name: str, ips: Sequence[str]) -> None:
        """What a load-balancer controller would write: status.loadBalancer.ingress."""
        svc = self._call("GET", self._svc_path(name))
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
        self._call("PUT", self._svc_path(name) + "/status", svc)

    def set_affinity(self, name: str, seconds: int | None) -> None:
        svc = self._call("GET", self._svc_path(name))
        if seconds is None:
            svc["spec"]["sessionAffinity"] = "None"
            svc["spec"].pop("sessionAffinityConfig", None)
        else:
            svc["spec"]["sessionAffinity"] = "ClientIP"
            svc["spec"]["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": seconds}}
        self._call("PUT", self._svc_path(name), svc)

    def set_endpoints(self, service: str, ips: Sequence[str]) -> None:
        """Create or replace the service's one EndpointSlice with these ready endpoints."""
        name = f"{service}-kt"
        body: dict[str, Any] = {
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": [ip], "conditions": {"ready": True}, "nodeName": NODE_NAME}
                for ip in ips
            ],
            "ports": [
                {"name": "http", "protocol": "TCP", "port": HTTP_PORT},
                {"name": "udp", "protocol": "UDP", "port": UDP_PORT},
            ],
        }
        try:
            current = self._call("GET", self._slice_path(name))
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            self._call("POST", self._slice_path(), body)
            return
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self._call("PUT", self._slice_path(name), body)

    def delete_service(self, name: str) -> None:
        for path in (self._slice_path(f"{name}-kt"), self._svc_path(name)):
            try:
                self._call("DELETE", path)
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise


# ---------------------------------------------------------------------------------------------
# Pods and the node


@dataclass
class Pod:
    name: str
    spec: SandboxSpec
    netns: str
    ip: str
    server: subprocess.Popen[str]


class Node:
    def __init__(self, tag: str, workdir: Path) -> None:
        self.tag = tag
        self.netns = f"kt-{tag}-node"
        self.workdir = workdir
        self.pods: dict[str, Pod] = {}
        self.processes: list[subprocess.Popen[str]] = []
        self.net = PodNetwork(
            NetConf(
                ipam_dir=workdir / "ipam",
                subnet=POD_SUBNET,
                bridge="kbr0",
                node_netns=self.netns,
                netns_prefix=f"kt-{tag}-p",
                veth_prefix="ktv",
            )
        )
        netns_mod.create(self.netns)
        try:
            self._setup_node()
        except BaseException:
            self.net.close()
            netns_mod.remove(self.netns)
            raise

    def _setup_node(self) -> None:
        self.net.ensure_node()
        with IPRoute(netns=self.netns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            # The uplink is a veth pair inside the node namespace (the kernel here lacks the
            # dummy link type); nothing answers on the far side.
            ipr.link("add", ifname="kt-eth0", kind="veth", peer={"ifname": "kt-up0"})
            idx = ipr.link_lookup(ifname="kt-eth0")[0]
            ipr.addr("add", index=idx, address=NODE_IP, prefixlen=24)
            ipr.link("set", index=idx, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname="kt-up0")[0], state="up")
            # Like a real node's uplink: unknown destinations (a VIP without rules) leave here.
            ipr.route("add", dst="0.0.0.0/0", gateway="192.168.77.1")

    def add_pod(self, name: str) -> Pod:
        spec = SandboxSpec(pod_uid=f"{self.tag}-{name}-{time.monotonic_ns()}", pod_name=name)
        result = self.net.add(spec)
        proc = subprocess.Popen(
            agent_argv(result.netns, "serve", name, str(HTTP_PORT), str(UDP_PORT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        pod = Pod(name, spec, result.netns, str(result.ip), proc)
        self.pods[name] = pod
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            self.delete_pod(name)
            raise RuntimeError(f"server in pod {name} did not start: {line!r}")
        return pod

    def delete_pod(self, name: str) -> None:
        pod = self.pods.pop(name)
        _kill(pod.server)
        self.net.delete(pod.spec)

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> str:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr[-2000:]}")
        return proc.stdout

    def agent(self, ns: str, *args: str) -> Any:
        return json.loads(self.run(agent_argv(ns, *args)))

    def http(self, ns: str, host: str, port: int, count: int, distinct: int = 0) -> list[str]:
        result: list[str] = self.agent(ns, "http", host, str(port), str(count), str(distinct))
        return result

    def udp(self, ns: str, host: str, port: int, count: int, distinct: int = 0) -> list[str]:
        result: list[str] = self.agent(ns, "udp", host, str(port), str(count), str(distinct))
        return result

    def udp_from(self, ns: str, host: str, port: int, count: int) -> list[str]:
        """UDP answers as "NAME@SOURCE_IP:SOURCE_PORT", a new socket each."""
        result: list[str] = self.agent(ns, "udp-from", host, str(port), str(count))
        return result

    def connect(self, ns: str, host: str, port: int) -> str:
        return self.run(agent_argv(ns, "connect", host, str(port))).strip()

    def background(self, ns: str, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            agent_argv(ns, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.processes.append(proc)
        return proc

    def iptables_save(self, variant: str) -> str:
        return self.run(netns_argv(self.netns, f"iptables-{variant}-save"))

    def nft_chains(self, table: str = "knet-proxy") -> set[str]:
        """Chain names of ``table ip <table>`` in the node namespace (empty: no such table)."""
        sock = nftsocket.open_socket(self.netns)
        try:
            chains = sock.dump(nftables.NFPROTO_IPV4, nftables.NFT_MSG_GETCHAIN)
        finally:
            sock.close()
        return {
            str(c.get_attr("NFTA_CHAIN_NAME"))
            for c in chains
            if c.get_attr("NFTA_CHAIN_TABLE") == table
        }

    def close(self) -> None:
        errors = []
        for proc in self.processes:
            _kill(proc)
        for name in list(self.pods):
            try:
                self.delete_pod(name)
            except Exception as e:  # keep cleaning up the rest
                errors.append(f"pod {name}: {e}")
        self.net.close()
        netns_mod.remove(self.netns)
        if errors:
            raise RuntimeError("; ".join(errors))


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


# ---------------------------------------------------------------------------------------------
# kproxy


_SYNCED = re.compile(r"synced (iptables|nftables) rules \(full")


class KProxy:
    """kproxy as a process inside the node namespace, talking to the API over a unix socket."""

    def __init__(
        self, node: Node, socket_path: Path, backend: str, workdir: Path, mode: str = "iptables"
    ) -> None:
        self.node = node
        self.mode = mode
        self.backend = backend
        self.variant = "legacy" if backend == "python-iptables" else "nft"
        self.kubeconfig = kubeconfig.write(workdir / "kproxy.kubeconfig", f"unix://{socket_path}")
        self.log_path = workdir / "kproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, mode: str | None = None) -> None:
        """Start kproxy (in ``mode`` from now on, if given)."""
        self.mode = mode or self.mode
        argv = netns_argv(
            self.node.netns,
            sys.executable,
            "-m",
            "kproxy",
            f"--kubeconfig={self.kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            f"--proxy-mode={self.mode}",
            f"--proxy-port-range={USERSPACE_PORTS}",
            "--udp-timeout=2s",
            f"--cluster-cidr={CLUSTER_CIDR}",
            f"--node-ip={NODE_IP}",
            "--min-sync-period=100ms",
            "--sync-period=5s",
            f"--iptables-backend={self.backend}",
            f"--iptables-variant={self.variant}",
            "--healthz-bind-address=127.0.0.1:10256",
            "--metrics-bind-address=127.0.0.1:10249",
        )
        env = dict(os.environ, PYTHONPATH=REPO)
        before = self._full_syncs()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.starts += 1
        wait_until(
            lambda: self._full_syncs() > before or self._exited(),
            30,
            "kproxy's first full sync",
        )
        if self._exited():
            raise RuntimeError(f"kproxy exited: {self.log_tail()}")

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def _full_syncs(self) -> int:
        try:
            return len(_SYNCED.findall(self.log_path.read_text()))
        except FileNotFoundError:
            return 0

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code, self.proc = self.proc.returncode, None
        return code

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except FileNotFoundError:
            return "(no log)"
