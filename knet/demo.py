"""`knet demo`: the API server, driven by the real kubectl, step by step.

Until the local cluster lands this shows the control-plane half: the objects users create and how
the server answers. It starts its own API server on 127.0.0.1 and stops it at the end unless
`--keep` is given.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from knet.testing.apiserver import ApiServerProcess, free_port

DEPLOYMENT = textwrap.dedent(
    """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 3
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: netexec
            image: registry.k8s.io/e2e-test-images/agnhost:2.47
            args: ["netexec", "--http-port=8080", "--udp-port=8081"]
            ports:
            - {containerPort: 8080, protocol: TCP}
            - {containerPort: 8081, protocol: UDP}
    """
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", type=Path, default=None, help="where to keep data and logs")
    p.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    p.add_argument("--keep", action="store_true", help="leave the API server running at the end")


def _step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> int:
    print("$ kubectl " + " ".join(args), flush=True)
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        input=stdin.encode() if stdin else None,
        check=False,
    )
    return done.returncode


def run(args: argparse.Namespace) -> int:
    if shutil.which("kubectl") is None:
        print("knet demo: kubectl is not installed (any 1.30-1.33 client will do)", file=sys.stderr)
        return 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="knet-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = ApiServerProcess(
        data_dir=workdir / "data", port=args.port or free_port(), log_path=workdir / "apiserver.log"
    )
    _step(f"Starting the API server on {server.url} (data in {server.data_dir})")
    try:
        server.start()
    except RuntimeError as e:
        print(f"knet demo: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    kc = server.kubeconfig
    manifest = workdir / "web.yaml"
    manifest.write_text(DEPLOYMENT)
    failed = 0
    try:
        steps: list[tuple[str, list[str]]] = [
            (
                "The server reports Kubernetes 1.32, so the kubectl dispatcher picks a 1.32 client",
                ["version"],
            ),
            ("Discovery: the resources this server serves", ["api-resources"]),
            (
                "Apply a Deployment of the agnhost netexec test server",
                ["apply", "-f", str(manifest)],
            ),
            (
                "Apply it again: nothing changed, so nothing is written",
                ["apply", "-f", str(manifest)],
            ),
            (
                "Server-side printing: the usual columns, and more with -o wide",
                ["get", "deployments", "-o", "wide"],
            ),
            (
                "Expose it: the server allocates a ClusterIP and a NodePort",
                [
                    "expose",
                    "deployment",
                    "web",
                    "--port=80",
                    "--target-port=8080",
                    "--type=NodePort",
                ],
            ),
            ("The Service", ["get", "svc", "web", "-o", "wide"]),
            ("Scale through the scale subresource", ["scale", "deployment", "web", "--replicas=5"]),
            ("Label it and select by label", ["label", "deployment", "web", "tier=frontend"]),
            ("", ["get", "deploy", "-l", "tier=frontend", "--show-labels"]),
            (
                "Every namespace, including the system ones the server creates",
                ["get", "namespaces"],
            ),
            ("Errors come back as Kubernetes Status objects", ["get", "pod", "nothere"]),
        ]
        for title, kargs in steps:
            if title:
                _step(title)
            rc = _kubectl(kc, *kargs)
            if rc != 0 and "nothere" not in kargs:
                failed += 1
        _step("Describe shows the Deployment as kubectl always does")
        failed += _kubectl(kc, "describe", "deployment", "web") != 0
        print(
            textwrap.dedent(
                f"""
                Pods and their packets come with kubelet-lite and kproxy (see the issues); today
                the control plane is here to explore:

                    export KUBECONFIG={kc}
                    kubectl get all
                """
            )
        )
    finally:
        if args.keep:
            print(
                f"The API server keeps running (pid {server.proc.pid if server.proc else '?'}); "
                f"logs in {server.log_path}."
            )
        else:
            server.stop()
            _step("Stopped the API server")
    return 1 if failed else 0
