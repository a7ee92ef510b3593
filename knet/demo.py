"""``knet demo``: a local multi-node cluster, a Service, and real packets, step by step.

1. ``knet cluster up`` (3 nodes, each a network namespace; an existing healthy cluster of the
   same name is reused, since `up` only makes what is missing);
2. with the real kubectl: a Deployment of 3 agnhost netexec servers (app=web), a NodePort
   Service ``web`` (80 -> 8080) and a headless Service ``web-pods``, then a client pod pinned
   to node 1;
3. from the client pod (``kubectl exec``): ping a pod on another node; cluster DNS (its
   resolv.conf, ``web`` and ``web.default.svc.cluster.local`` resolving to the ClusterIP, the
   headless Service to the pods); ``curl http://web/hostname`` ten times (answered by pods on
   different nodes), curl the NodePort on every node IP; then the
   KUBE-SVC/KUBE-SEP chains kproxy wrote (read-only iptables-save inside node 1's namespace)
   and kubectl's view of pods, Services and EndpointSlices;
4. leave the cluster up with instructions, or remove it with ``--down``.

Every step prints a heading, the real command and its output. Every wait is bounded. A failure
is one line naming the step and where the component logs are; the cluster is then kept so that
those logs can be read (``knet cluster down`` removes it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from knet.cluster import node_bootstrap, topology
from knet.cluster.state import cluster_dir, state_root
from knet.netlink.exec import netns_argv

T = TypeVar("T")

APP = "web"
HEADLESS = "web-pods"
ZONE = "cluster.local"
NAMESPACE = "default"
CLIENT = "client"
REPLICAS = 3
SERVICE_PORT = 80
TARGET_PORT = 8080
REQUESTS = 10
DEFAULT_TIMEOUT = 120.0  # seconds, for each wait (as `knet cluster up`'s --timeout)
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47"
IPTABLES_SAVES = ("iptables-save", "iptables-nft-save", "iptables-legacy-save")
# Chains kube-proxy makes per Service (port) and per endpoint.
SERVICE_CHAIN = re.compile(r"^KUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z0-9]+$")


class DemoError(Exception):
    """A step failed; ``str()`` is one line for the user."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}" if step else message)
        self.step = step


# ---------------------------------------------------------------------------- manifests (pure)


def web_manifest() -> list[dict[str, Any]]:
    """The Deployment (netexec test servers) and the NodePort Service in front of it."""
    container = {
        "name": "netexec",
        "image": AGNHOST,
        "args": ["netexec", f"--http-port={TARGET_PORT}", "--udp-port=8081"],
        "ports": [{"containerPort": TARGET_PORT, "protocol": "TCP"}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": APP}},
            "template": {"metadata": {"labels": {"app": APP}}, "spec": {"containers": [container]}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": {
            "type": "NodePort",
            "selector": {"app": APP},
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": TARGET_PORT, "protocol": "TCP"}
            ],
        },
    }
    return [deployment, service]


def headless_manifest() -> dict[str, Any]:
    """A headless Service over the same pods: its name resolves to the pods' own IPs."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": HEADLESS, "labels": {"app": APP}},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": APP},
            "ports": [{"name": "http", "port": TARGET_PORT, "protocol": "TCP"}],
        },
    }


def client_manifest(node: str) -> dict[str, Any]:
    """A pod that only sleeps, pinned to ``node``: commands run in its namespace by knet exec."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": CLIENT, "labels": {"app": CLIENT}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "client", "image": AGNHOST, "args": ["pause"]}],
        },
    }


# ---------------------------------------------------------------------------- API answers (pure)


@dataclass(frozen=True)
class Pod:
    name: str
    ip: str
    node: str


def running_pods(doc: dict[str, Any]) -> list[Pod]:
    """The Running pods with an IP in a ``kubectl get pods -o json`` answer, by name."""
    out = []
    for p in doc.get("items") or []:
        status, spec = p.get("status") or {}, p.get("spec") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            out.append(Pod(p["metadata"]["name"], status["podIP"], spec.get("nodeName", "")))
    return sorted(out, key=lambda p: p.name)


def ready_endpoints(doc: dict[str, Any]) -> list[str]:
    """``ip:port`` of every ready endpoint in a ``kubectl get endpointslices -o json`` answer."""
    out = []
    for s in doc.get("items") or []:
        ports = [p.get("port") for p in s.get("ports") or [] if p.get("port")]
        for ep in s.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            out += [f"{a}:{port}" for a in ep.get("addresses") or [] for port in ports]
    return sorted(out)


def service_address(doc: dict[str, Any]) -> tuple[str, int]:
    """(ClusterIP, nodePort) of a NodePort Service's JSON."""
    spec = doc.get("spec") or {}
    ports = spec.get("ports") or [{}]
    ip, node_port = spec.get("clusterIP"), ports[0].get("nodePort")
    if not ip or not node_port:
        raise ValueError("the Service has no ClusterIP or no nodePort")
    return str(ip), int(node_port)


def ping_target(pods: Sequence[Pod], client_node: str, nodes: Sequence[str]) -> Pod:
    """A backend on another node than the client's, the farthest one in node order."""
    others = [p for p in pods if p.node != client_node and p.node in nodes]
    if not others:
        raise ValueError(f"no {APP} pod runs on a node other than {client_node}")
    return max(others, key=lambda p: (nodes.index(p.node), p.name))


# ---------------------------------------------------------------------------- iptables (pure)

_COMMENT = re.compile(r'--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))')
_JUMP = re.compile(r"(?:^| )-[jg] (\S+)")


def _mentions(rule: str, service: str) -> bool:
    """Whether a rule's comment names ``service`` ("ns/name", optionally ":port")."""
    pattern = re.compile(rf"(?<![\w./-]){re.escape(service)}(?=[: ]|$)")
    return any(pattern.search(a or b) for a, b in _COMMENT.findall(rule))


def service_rules(save: str, service: str) -> list[str]:
    """From ``iptables-save`` text, the rules that are about ``service`` ("namespace/name"):
    the rules of shared chains (KUBE-SERVICES, KUBE-NODEPORTS...) whose comment names it, then
    every rule of the per-service chains they lead to (KUBE-SVC-, KUBE-EXT-, KUBE-SEP-...),
    following jumps, each chain once. Lines are returned as iptables-save printed them."""
    table = ""
    chains: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str, str]] = []  # (table, chain, line)
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A "):
            chain = line.split()[1]
            chains.setdefault((table, chain), []).append(line)
            order.append((table, chain, line))
    seeds = [
        (t, line)
        for t, chain, line in order
        if not SERVICE_CHAIN.match(chain) and _mentions(line, service)
    ]
    out = [line for _, line in seeds]
    queue = [(t, j) for t, line in seeds for j in _JUMP.findall(line) if SERVICE_CHAIN.match(j)]
    seen: set[tuple[str, str]] = set()
    while queue:
        key = queue.pop(0)
        if key in seen:
            continue
        seen.add(key)
        for line in chains.get(key, []):
            out.append(line)
            queue += [(key[0], j) for j in _JUMP.findall(line) if SERVICE_CHAIN.match(j)]
    return out


def answers_summary(answers: Sequence[str], where: dict[str, str]) -> str:
    """One line: how many requests were answered, by how many pods on how many nodes."""
    got = [a for a in answers if a]
    pods = sorted(set(got))
    nodes = sorted({where[p] for p in pods if p in where})
    return (
        f"{len(got)} of {len(answers)} requests answered, by {len(pods)} different pods "
        f"on {len(nodes)} nodes: {', '.join(pods) or 'none'}"
    )


# ---------------------------------------------------------------------------- output


class Out:
    """Headings, commands and their output, on stdout as they happen."""

    def __init__(self, total: int, bold: bool) -> None:
        self.total, self.n, self.bold = total, 0, bold

    def heading(self, text: str) -> None:
        self.n += 1
        line = f"[{self.n}/{self.total}] {text}"
        print(f"\n\033[1m{line}\033[0m" if self.bold else f"\n{line}", flush=True)

    def say(self, text: str) -> None:
        print(text, flush=True)

    def command(self, argv: Sequence[str], note: str = "") -> None:
        shown = shlex.join(display(argv))
        print(f"$ {shown}" + (f"    # {note}" if note else ""), flush=True)

    def output(self, text: str) -> None:
        text = text.rstrip("\n")
        if text:
            print(text, flush=True)


def display(argv: Sequence[str]) -> list[str]:
    """argv as a user would type it: the program by a short path when it is under the cwd."""
    if not argv:
        return []
    prog = argv[0]
    if os.path.isabs(prog) and prog.startswith(os.getcwd() + os.sep):
        prog = os.path.relpath(prog)
    return [prog, *argv[1:]]


def knet_program() -> list[str]:
    """How to run `knet` with this interpreter: its console script, else ``-m knet.cli``."""
    script = Path(sys.executable).parent / "knet"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "knet.cli"]


# ---------------------------------------------------------------------------- running things


def wait_until(step: str, what: str, fn: Callable[[], T | None], timeout: float) -> T:
    """Poll ``fn`` until it returns something truthy; DemoError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise DemoError(step, f"{what} not after {timeout:.0f}s")
        time.sleep(0.5)


@dataclass
class DemoShell:
    """The demo's plumbing: where the cluster lives, and running a command while showing it."""

    name: str
    nodes: int
    proxy_mode: str
    root: Path
    explicit_root: bool  # whether to pass --state-dir to the knet commands we show
    timeout: float
    out: Out
    is_up: bool = False

    @property
    def directory(self) -> Path:
        return cluster_dir(self.root, self.name)

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def topo(self) -> topology.Topology:
        return topology.build(self.name, self.nodes)

    # ------------------------------------------------------------ commands

    def cluster_flags(self) -> list[str]:
        flags = [] if self.name == topology.DEFAULT_NAME else ["--name", self.name]
        return flags + (["--state-dir", str(self.root)] if self.explicit_root else [])

    def kube_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def exec_argv(self, pod: str, cmd: Sequence[str]) -> list[str]:
        """``kubectl exec`` (the API server relays it to the pod's kubelet); run with kube=True."""
        return ["kubectl", "exec", pod, "--", *cmd]

    def run(
        self, step: str, argv: Sequence[str], timeout: float = 60, kube: bool = False
    ) -> subprocess.CompletedProcess[str]:
        env = self.kube_env() if kube else None
        try:
            return subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise DemoError(
                step, f"`{shlex.join(display(argv))}` took over {timeout:.0f}s"
            ) from None
        except OSError as e:
            raise DemoError(step, f"cannot run {argv[0]}: {e.strerror}") from None

    def show(
        self, step: str, argv: Sequence[str], timeout: float = 60, kube: bool = False
    ) -> list[str]:
        """Print the command, run it printing its output as it comes, return the output's
        lines; DemoError if it fails or outlives ``timeout``."""
        self.out.command(argv)
        env = self.kube_env() if kube else None
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        except OSError as e:
            raise DemoError(step, f"cannot run {argv[0]}: {e.strerror}") from None
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                self.out.say(lines[-1])
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:  # interrupted: do not leave it running
                proc.kill()
                proc.wait()
        command = shlex.join(display(argv))
        if expired.is_set():
            raise DemoError(step, f"`{command}` took over {timeout:.0f}s")
        if rc != 0:
            last = [line for line in lines if line.strip()][-1:] or ["(no output)"]
            raise DemoError(step, f"`{command}` exited {rc}: {last[0].strip()}")
        return lines

    def kubectl(self, step: str, *args: str, timeout: float = 60) -> Any:
        """``kubectl ARGS -o json``, quietly, parsed."""
        done = self.run(step, ["kubectl", *args, "-o", "json"], timeout, kube=True)
        if done.returncode != 0:
            raise DemoError(step, f"kubectl {' '.join(args)}: {done.stderr.strip()[:200]}")
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise DemoError(step, f"kubectl {' '.join(args)} printed no JSON") from None

    def curl(self, step: str, url: str) -> subprocess.CompletedProcess[str]:
        argv = self.exec_argv(CLIENT, ["curl", "-sS", "--max-time", "3", url])
        return self.run(step, argv, timeout=20, kube=True)

    def wait_answer(self, step: str, url: str, what: str) -> None:
        wait_until(step, what, lambda: self.curl(step, url).returncode == 0, self.timeout)


class Demo(DemoShell):
    """The walkthrough, one method a step."""

    def bring_up(self) -> None:
        self.out.heading(
            f"Bring up cluster {self.name!r}: {self.nodes} nodes, each a network namespace"
        )
        argv = [*knet_program(), "cluster", "up", *self.cluster_flags()]
        if self.nodes != 3:
            argv += ["--nodes", str(self.nodes)]
        if self.proxy_mode != "iptables":
            argv += ["--proxy-mode", self.proxy_mode]
        if self.timeout != DEFAULT_TIMEOUT:
            argv += ["--timeout", f"{self.timeout:g}"]
        # `up` bounds each of its waits by --timeout: the API server, then the nodes.
        self.show("cluster up", argv, timeout=3 * self.timeout + 60)
        self.is_up = True
        self.out.say(f"kubectl below uses KUBECONFIG={self.kubeconfig}")
        self.show("cluster up", ["kubectl", "get", "nodes", "-o", "wide"], kube=True)

    def deploy(self) -> Pod:
        step = "deploy"
        self.out.heading(
            f"Run {REPLICAS} replicas of the netexec test server (app={APP}) behind the "
            f"NodePort Service {APP!r} ({SERVICE_PORT} -> {TARGET_PORT})"
        )
        web = self.directory / "demo-web.yaml"
        manifests = [*web_manifest(), headless_manifest()]
        web.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
        self.show(step, ["kubectl", "apply", "-f", str(web)], kube=True)
        t = f"{self.timeout:.0f}s"
        self.show(
            "rollout",
            ["kubectl", "rollout", "status", f"deployment/{APP}", f"--timeout={t}"],
            timeout=self.timeout + 30,
            kube=True,
        )
        selector = f"kubernetes.io/service-name={APP}"

        def endpoints() -> list[str] | None:
            got = ready_endpoints(
                self.kubectl("endpoints", "get", "endpointslices", "-l", selector)
            )
            return got if len(got) >= REPLICAS else None

        eps = wait_until(
            "endpoints", f"{REPLICAS} ready endpoints of {APP}", endpoints, self.timeout
        )
        self.out.say(f"Service {APP} has endpoints {', '.join(eps)}")
        client_node = self.topo.nodes[0].name
        self.out.say(f"\nAnd a client pod on {client_node} to run commands from:")
        client = self.directory / "demo-client.yaml"
        client.write_text(yaml.safe_dump(client_manifest(client_node), sort_keys=False))
        self.show("client pod", ["kubectl", "apply", "-f", str(client)], kube=True)
        self.show(
            "client pod",
            ["kubectl", "wait", "--for=condition=Ready", f"pod/{CLIENT}", f"--timeout={t}"],
            timeout=self.timeout + 30,
            kube=True,
        )
        pods = running_pods(self.kubectl("client pod", "get", "pods", "-l", f"app={CLIENT}"))
        if not pods:
            raise DemoError("client pod", f"pod {CLIENT} is not running")
        return pods[0]

    def web_pods(self, step: str) -> list[Pod]:
        return running_pods(self.kubectl(step, "get", "pods", "-l", f"app={APP}"))

    def ping(self, client: Pod) -> None:
        step = "ping"
        names = [n.name for n in self.topo.nodes]
        try:
            target = ping_target(self.web_pods(step), client.node, names)
        except ValueError as e:
            raise DemoError(step, str(e)) from None
        self.out.heading(
            f"Pod {client.name} ({client.ip} on {client.node}) pings pod {target.name} "
            f"({target.ip} on {target.node}): routed node to node, no NAT"
        )
        quick = self.exec_argv(CLIENT, ["ping", "-c", "1", "-W", "1", target.ip])
        wait_until(
            step,
            f"a route from {client.node} to {target.node}",
            lambda: self.run(step, quick, timeout=15, kube=True).returncode == 0,
            self.timeout,
        )
        ping = self.exec_argv(CLIENT, ["ping", "-c", "3", "-W", "2", target.ip])
        self.show(step, ping, kube=True)

    def dns(self, cluster_ip: str) -> None:
        step = "DNS"
        self.out.heading(
            f"Cluster DNS: {CLIENT}'s resolv.conf names the kube-dns Service; {APP} resolves to "
            f"its ClusterIP {cluster_ip}, the headless {HEADLESS} to the pods themselves"
        )
        self.show(step, self.exec_argv(CLIENT, ["cat", "/etc/resolv.conf"]), kube=True)
        lookup = self.exec_argv(CLIENT, ["getent", "hosts", APP])
        wait_until(
            step,
            f"{APP} to resolve from {CLIENT}",
            lambda: self.run(step, lookup, timeout=15, kube=True).returncode == 0,
            self.timeout,
        )
        self.show(step, lookup, kube=True)
        self.show(
            step,
            self.exec_argv(CLIENT, ["getent", "hosts", f"{APP}.{NAMESPACE}.svc.{ZONE}"]),
            kube=True,
        )
        argv = self.exec_argv(CLIENT, ["getent", "ahostsv4", HEADLESS])
        self.out.command(argv, note="one line per address shown")
        done = self.run(step, argv, timeout=15, kube=True)
        if done.returncode != 0:
            raise DemoError(step, f"{HEADLESS} does not resolve: {done.stderr.strip()[:200]}")
        self.out.output(
            "\n".join(ln.rstrip() for ln in done.stdout.splitlines() if " STREAM" in ln)
        )

    def by_name(self, cluster_ip: str) -> None:
        step = "Service name"
        url = f"http://{APP}/hostname"
        self.out.heading(
            f"curl {url} from {CLIENT}, {REQUESTS} times: DNS gives the ClusterIP "
            f"{cluster_ip}, kproxy's rules pick a backend pod at random, on any node"
        )
        self.wait_answer(step, url, "an answer from the Service by name (kproxy's rules)")
        where = {p.name: p.node for p in self.web_pods(step)}
        argv = self.exec_argv(CLIENT, ["curl", "-sS", "--max-time", "3", url])
        self.out.command(argv, note=f"{REQUESTS} times")
        answers = []
        for i in range(1, REQUESTS + 1):
            done = self.curl(step, url)
            answer = done.stdout.strip() if done.returncode == 0 else ""
            answers.append(answer)
            shown = f"{answer}  (on {where.get(answer, '?')})" if answer else done.stderr.strip()
            self.out.say(f"{i:>3}  {shown}")
        self.out.say(answers_summary(answers, where))
        if not any(answers):
            raise DemoError(step, f"no answer from {url}")

    def node_port(self, node_port: int) -> None:
        step = "NodePort"
        self.out.heading(
            f"curl the NodePort {node_port} on each node's IP: any node forwards to a backend"
        )
        for node in self.topo.nodes:
            url = f"http://{node.address}:{node_port}/hostname"
            self.wait_answer(step, url, f"an answer on {node.address}:{node_port} ({node.name})")
            argv = self.exec_argv(CLIENT, ["curl", "-sS", "--max-time", "3", url])
            self.show(step, argv, kube=True)

    def nat_rules(self, netns: str) -> tuple[list[str], list[str]] | None:
        """(argv, the service's rules) from the first iptables-save that sees kproxy's rules."""
        for tool in IPTABLES_SAVES:
            if shutil.which(tool) is None:
                continue
            argv = netns_argv(netns, [tool, "-t", "nat"])
            done = self.run("iptables", argv, timeout=30)
            rules = service_rules(done.stdout, f"{NAMESPACE}/{APP}")
            if done.returncode == 0 and any(" -j KUBE-SEP-" in r for r in rules):
                return argv, rules
        return None

    def chains(self) -> None:
        node = self.topo.nodes[0]
        self.out.heading(
            f"The rules kproxy wrote for {NAMESPACE}/{APP} in {node.name}'s nat table "
            "(KUBE-SERVICES -> KUBE-SVC-* picks one KUBE-SEP-* at random -> DNAT to a pod)"
        )
        argv, rules = wait_until(
            "iptables",
            f"KUBE-SVC/KUBE-SEP chains for {NAMESPACE}/{APP} in {node.netns}",
            lambda: self.nat_rules(node.netns),
            self.timeout,
        )
        self.out.command(argv, note=f"read-only; only the lines about {NAMESPACE}/{APP}")
        self.out.output("\n".join(rules))

    def kubectl_views(self) -> None:
        self.out.heading("What kubectl shows: pods and their nodes, the Service, its endpoints")
        for args in (["get", "pods", "-o", "wide"], ["get", "svc"], ["get", "endpointslices"]):
            self.show("kubectl get", ["kubectl", *args], kube=True)

    def explore(self, target_ip: str) -> None:
        knet = shlex.join(display(knet_program()))
        flags = shlex.join(self.cluster_flags())
        flags = f" {flags}" if flags else ""
        ns = self.topo.nodes[0].netns
        self.out.say(
            textwrap.dedent(
                f"""
                The cluster {self.name!r} is up; explore it:

                    export KUBECONFIG={self.kubeconfig}
                    kubectl get pods -o wide
                    kubectl exec {CLIENT} -- curl -s http://{APP}/hostname
                    kubectl exec {CLIENT} -- getent hosts {APP} {HEADLESS}
                    kubectl exec {CLIENT} -- cat /etc/resolv.conf
                    kubectl exec {CLIENT} -- ping -c 1 {target_ip}
                    kubectl logs {CLIENT}
                    nsenter --net=/run/netns/{ns} -- iptables-save -t nat
                    {knet} cluster status{flags}

                Component logs: {self.logs}
                Remove it:      {knet} cluster down{flags}"""
            )
        )

    def kept(self) -> str:
        """What to say after a failure: the cluster stays, for its logs."""
        if not self.is_up or not self.directory.exists():
            return ""  # `up` failed: its message says what to do
        down = shlex.join([*display(knet_program()), "cluster", "down", *self.cluster_flags()])
        return f" (component logs: {self.logs}; the cluster is kept for a look: {down} removes it)"

    def tear_down(self) -> None:
        self.out.heading(f"Remove cluster {self.name!r} (--down)")
        self.show("cluster down", [*knet_program(), "cluster", "down", *self.cluster_flags()])
        self.is_up = False

    def main(self, remove: bool) -> int:
        self.bring_up()
        client = self.deploy()
        self.ping(client)
        try:
            cluster_ip, node_port = service_address(self.kubectl("service", "get", "svc", APP))
        except ValueError as e:
            raise DemoError("service", str(e)) from None
        self.dns(cluster_ip)
        self.by_name(cluster_ip)
        self.node_port(node_port)
        self.chains()
        self.kubectl_views()
        if remove:
            self.tear_down()
            return 0
        target = ping_target(
            self.web_pods("explore"), client.node, [n.name for n in self.topo.nodes]
        )
        self.explore(target.ip)
        return 0


# ---------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="demo", help="cluster name (default: %(default)s)")
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default: 3)")
    p.add_argument(
        "--proxy-mode", choices=node_bootstrap.PROXY_MODES, default="iptables", help="for kproxy"
    )
    p.add_argument("--down", action="store_true", help="remove the cluster at the end")
    p.add_argument(
        "--state-dir", type=Path, default=None, help="where clusters are recorded (see cluster up)"
    )
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for each wait (%(default)s)"
    )


def check_args(name: str, nodes: int, timeout: float) -> None:
    """ValueError (one line) for arguments the demo cannot use."""
    topology.validate_name(name)  # a TopologyError is a ValueError
    if not 2 <= nodes <= topology.MAX_NODES:
        raise ValueError(
            f"--nodes must be 2..{topology.MAX_NODES}: the demo shows traffic between nodes"
        )
    if not timeout > 0:
        raise ValueError("--timeout must be a positive number of seconds")


def preflight(
    which: Callable[[str], str | None] = shutil.which,
    euid: int | None = None,
    module_available: Callable[[str], bool] = node_bootstrap.module_available,
) -> None:
    """DemoError (one line) for what this machine lacks; `cluster up` checks the rest
    (nsenter, iptables, br_netfilter)."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise DemoError("", "knet demo must run as root (its nodes are network namespaces)")
    if which("kubectl") is None:
        raise DemoError(
            "",
            "kubectl is not installed: the demo drives the cluster with the real kubectl "
            "(./scripts/setup puts one in .venv/bin on machines without one)",
        )
    missing = [tool for tool in ("curl", "ping") if which(tool) is None]
    if missing:
        raise DemoError(
            "", f"missing {', '.join(missing)}: apt-get install curl iputils-ping (./scripts/setup)"
        )
    if not module_available("kproxy"):
        raise DemoError("", "kproxy is not installed (python -m kproxy): Services cannot work")


def with_venv_on_path(path: str, venv_bin: str) -> str:
    """PATH with the venv's bin last: scripts/setup puts kubectl there on machines without
    one, and a machine's own kubectl (earlier on PATH) still wins."""
    parts = [p for p in path.split(os.pathsep) if p]
    return os.pathsep.join(parts if venv_bin in parts else [*parts, venv_bin])


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    os.environ["PATH"] = with_venv_on_path(
        os.environ.get("PATH", ""), str(Path(sys.executable).parent)
    )
    try:
        check_args(args.name, args.nodes, args.timeout)
    except ValueError as e:
        print(f"knet demo: {e}", file=sys.stderr)
        return 2
    demo = Demo(
        name=args.name,
        nodes=args.nodes,
        proxy_mode=args.proxy_mode,
        root=state_root(args.state_dir),
        explicit_root=args.state_dir is not None,
        timeout=args.timeout,
        out=Out(total=8 + int(args.down), bold=sys.stdout.isatty()),
    )
    try:
        preflight()
        code = demo.main(remove=args.down)
    except DemoError as e:
        print(f"knet demo: {e}{demo.kept()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"knet demo: interrupted{demo.kept()}", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or a machine problem: still one line, not a traceback
        print(f"knet demo: {type(e).__name__}: {e}{demo.kept()}", file=sys.stderr)
        return 1
    print(f"\nknet demo took {time.monotonic() - started:.0f}s", flush=True)
    return code
