"""The machine's real kubectl against a real `knet apiserver` (issue 2, "Tests that must exist").

Every assertion is on what kubectl printed or on what the server stored afterwards, so a server
that kubectl cannot understand (discovery, Table, openapi, strategic merge, Status) fails here.
"""

from __future__ import annotations

import ipaddress
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _apiserver_http import (
    Kubectl,
    deployment,
    event_for,
    node,
    ok,
    pod,
    service,
    table_header,
    table_rows,
    write_manifest,
)

from knet.testing.apiserver import ApiServerProcess, running_apiserver

pytestmark = pytest.mark.kubectl

SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
# Upstream's message for a bad DNS-1123 subdomain, which kubectl prints verbatim.
DNS1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    r"for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def test_version(kubectl: Kubectl) -> None:
    out = kubectl.ok("version")
    assert re.search(r"^Server Version: v1\.32\.\d+", out, re.M), out
    assert "WARNING" not in out
    info = kubectl.json("version")["serverVersion"]
    assert (info["major"], info["minor"]) == ("1", "32")


# ------------------------------------------------------------------------------ get


# Upstream's 1.32 columns, as kubectl prints them (upper-cased), default and -o wide.
DEFAULT = {
    "pods": ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    "svc": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
    "deploy": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
    "nodes": ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
    "events": ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
    "endpoints": ["NAME", "ENDPOINTS", "AGE"],
}
WIDE = {
    "pods": [*DEFAULT["pods"], "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
    "svc": [*DEFAULT["svc"], "SELECTOR"],
    "deploy": [*DEFAULT["deploy"], "CONTAINERS", "IMAGES", "SELECTOR"],
    "nodes": [
        *DEFAULT["nodes"],
        *("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"),
    ],
    # events interleave their wide columns
    "events": [
        *("LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE"),
        *("FIRST SEEN", "COUNT", "NAME"),
    ],
    "endpoints": DEFAULT["endpoints"],
}
KIND = {
    "pods": "Pod",
    "svc": "Service",
    "deploy": "Deployment",
    "nodes": "Node",
    "events": "Event",
    "endpoints": "Endpoints",
}
NAMESPACED = {"pods", "svc", "deploy", "events", "endpoints"}
COLLECTION = {
    "pods": "/api/v1/namespaces/{ns}/pods",
    "svc": "/api/v1/namespaces/{ns}/services",
    "deploy": "/apis/apps/v1/namespaces/{ns}/deployments",
    "nodes": "/api/v1/nodes",
    "events": "/api/v1/namespaces/{ns}/events",
    "endpoints": "/api/v1/namespaces/{ns}/endpoints",
}


def _labelled(obj: dict[str, Any], name: str, namespace: str | None, tag: str) -> dict[str, Any]:
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"] = {"kt": tag, "app": name}
    if namespace is not None:
        obj["metadata"]["namespace"] = namespace
    return obj


def _populate(url: str) -> None:
    """Per resource: `kt-yes-*` (label kt=yes), `kt-no-*` (kt=no) in default, and a kt=yes
    `kt-sys-*` in kube-system for the namespaced ones."""
    pods: dict[str, dict[str, Any]] = {}
    for ns, prefix, tag in (
        ("default", "kt-yes", "yes"),
        ("default", "kt-no", "no"),
        ("kube-system", "kt-sys", "yes"),
    ):
        path = COLLECTION["pods"].format(ns=ns)
        pods[prefix] = ok(url, "POST", path, _labelled(pod("x"), f"{prefix}-pod", ns, tag))
        for res, make in (("svc", service), ("deploy", deployment)):
            body = _labelled(make(f"{prefix}-{res}"), f"{prefix}-{res}", ns, tag)
            ok(url, "POST", COLLECTION[res].format(ns=ns), body)
        ev = _labelled(
            event_for(pods[prefix], reason="KtStarted", message="kt message"),
            f"{prefix}-event",
            ns,
            tag,
        )
        ok(url, "POST", COLLECTION["events"].format(ns=ns), ev)
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {},
            "subsets": [
                {"addresses": [{"ip": "10.244.1.5"}], "ports": [{"port": 8080, "protocol": "TCP"}]}
            ],
        }
        body = _labelled(endpoints, f"{prefix}-endpoints", ns, tag)
        ok(url, "POST", COLLECTION["endpoints"].format(ns=ns), body)
    for prefix, tag in (("kt-yes", "yes"), ("kt-no", "no")):
        body = _labelled(node("x"), f"{prefix}-node", None, tag)
        body["metadata"]["labels"]["kubernetes.io/hostname"] = f"{prefix}-node"
        ok(url, "POST", COLLECTION["nodes"], body)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    """One server for the read-only `get` matrix (its objects never change)."""
    with running_apiserver(tmp_path_factory.mktemp("kt-get")) as server:
        _populate(server.url)
        yield server


@pytest.fixture
def reader(populated: ApiServerProcess, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig=populated.kubeconfig, home=tmp_path)


def _suffix(res: str) -> str:
    return {"pods": "pod", "nodes": "node", "events": "event"}.get(res, res)


def _names(res: str, prefixes: tuple[str, ...]) -> set[str]:
    return {f"{p}-{_suffix(res)}" for p in prefixes}


RESOURCES = list(WIDE)


@pytest.mark.parametrize("res", RESOURCES)
def test_get_default_columns(reader: Kubectl, res: str) -> None:
    out = reader.ok("get", res)
    assert table_header(out) == DEFAULT[res], out
    lines = out.splitlines()[1:]
    assert len(lines) == 2, out  # kt-yes and kt-no, nothing from kube-system
    if res == "events":
        assert any(
            "pod/kt-yes-pod" in ln and "KtStarted" in ln and "kt message" in ln for ln in lines
        )
    else:
        assert sorted(r[0] for r in table_rows(out)) == sorted(_names(res, ("kt-no", "kt-yes")))
    assert "kt-sys" not in out


@pytest.mark.parametrize("res", RESOURCES)
def test_get_wide(reader: Kubectl, res: str) -> None:
    out = reader.ok("get", res, "-o", "wide")
    assert table_header(out) == WIDE[res], out
    text = "\n".join(out.splitlines()[1:])
    if res == "svc":
        assert "app=kt-yes-svc" in text  # the selector column
    if res == "deploy":
        assert "nginx:1.27" in text and "app=kt-yes-deploy" in text
    if res == "nodes":
        assert "192.0.2.10" in text and "knet://0.1.0" in text and "6.1.0-kt" in text
    if res == "endpoints":
        assert "10.244.1.5:8080" in text
    if res == "events":
        assert "kt-yes-event" in text and "kt-test" in text


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("res", RESOURCES)
def test_get_structured(reader: Kubectl, res: str, fmt: str) -> None:
    out = reader.ok("get", res, "-o", fmt)
    doc = yaml.safe_load(out)  # YAML is a superset of JSON
    assert doc["kind"] == "List"
    assert {i["metadata"]["name"] for i in doc["items"]} == _names(res, ("kt-no", "kt-yes"))
    for item in doc["items"]:
        assert item["kind"] == KIND[res]
        assert int(item["metadata"]["resourceVersion"]) > 0
        assert item["metadata"]["uid"]
    one = yaml.safe_load(reader.ok("get", res, f"kt-yes-{_suffix(res)}", "-o", fmt))
    assert one["kind"] == KIND[res]
    assert one["metadata"]["labels"]["kt"] == "yes"


@pytest.mark.parametrize("res", RESOURCES)
def test_get_all_namespaces(reader: Kubectl, res: str) -> None:
    out = reader.ok("get", res, "-A")
    header = table_header(out)
    if res in NAMESPACED:
        assert header == ["NAMESPACE", *DEFAULT[res]], out
        rows = table_rows(out)
        where = {r[0] for r in rows}
        assert where == {"default", "kube-system"}, out
        if res != "events":
            assert ["kube-system", f"kt-sys-{_suffix(res)}"] in [r[:2] for r in rows], out
    else:
        assert header == DEFAULT[res], out
        assert len(table_rows(out)) == 2


@pytest.mark.parametrize("res", RESOURCES)
def test_get_label_selector(reader: Kubectl, res: str) -> None:
    out = reader.ok("get", res, "-l", "kt=yes")
    assert "kt-no" not in out
    assert len(out.splitlines()) == 2, out  # header + one row
    assert "kt-yes" in out
    out = reader.ok("get", res, "-l", "kt notin (yes),app", "-A")
    assert "kt-yes" not in out and "kt-sys" not in out
    assert "kt-no" in out
    done = reader.run("get", res, "-l", "kt=nothing")
    assert done.returncode == 0
    assert done.stdout == ""
    expected = (
        "No resources found\n" if res == "nodes" else "No resources found in default namespace.\n"
    )
    assert done.stderr == expected


@pytest.mark.parametrize("res", RESOURCES)
def test_get_show_labels(reader: Kubectl, res: str) -> None:
    out = reader.ok("get", res, "--show-labels", "-l", "kt=yes")
    header = table_header(out)
    assert header == [*DEFAULT[res], "LABELS"], out
    labels = table_rows(out)[0][-1]
    assert set(labels.split(",")) >= {"kt=yes", f"app=kt-yes-{_suffix(res)}"}


# ------------------------------------------------------------------------------ writes


def test_create_from_file(kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "both.yaml", deployment("kt-app"), service("kt-app"))
    out = kubectl.ok("create", "-f", str(manifest))
    assert out.splitlines() == ["deployment.apps/kt-app created", "service/kt-app created"]
    got = ok(apiserver.url, "GET", "/apis/apps/v1/namespaces/default/deployments/kt-app")
    assert got["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}
    ]
    svc = ok(apiserver.url, "GET", "/api/v1/namespaces/default/services/kt-app")
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in SERVICE_RANGE


def test_apply_create_unchanged_configured(
    kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path
) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/kt-app"
    manifest = tmp_path / "deploy.yaml"
    write_manifest(manifest, deployment("kt-app", image="nginx:1.27"))
    assert kubectl.ok("apply", "-f", str(manifest)) == "deployment.apps/kt-app created\n"
    first = ok(apiserver.url, "GET", path)
    assert "kubectl.kubernetes.io/last-applied-configuration" in first["metadata"]["annotations"]

    assert kubectl.ok("apply", "-f", str(manifest)) == "deployment.apps/kt-app unchanged\n"
    same = ok(apiserver.url, "GET", path)
    assert same["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    write_manifest(manifest, deployment("kt-app", image="nginx:1.28"))
    assert kubectl.ok("apply", "-f", str(manifest)) == "deployment.apps/kt-app configured\n"
    after = ok(apiserver.url, "GET", path)
    containers = after["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    assert containers[0]["image"] == "nginx:1.28"
    # The strategic merge patch names only the image: the ports must survive it.
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert after["metadata"]["generation"] == first["metadata"]["generation"] + 1
    # ... and the stored object now equals what was applied: no repair patch next time.
    assert kubectl.ok("apply", "-f", str(manifest)) == "deployment.apps/kt-app unchanged\n"


def test_delete_by_name_and_by_file(
    kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "both.yaml", deployment("kt-app"), service("kt-app"))
    kubectl.ok("create", "-f", str(manifest))
    kubectl.ok("run", "kt-pod", "--image=nginx:1.27")
    assert kubectl.ok("delete", "pod", "kt-pod") == 'pod "kt-pod" deleted\n'
    assert kubectl.fails("get", "pod", "kt-pod") == (
        'Error from server (NotFound): pods "kt-pod" not found\n'
    )
    out = kubectl.ok("delete", "-f", str(manifest))
    assert out.splitlines() == ['deployment.apps "kt-app" deleted', 'service "kt-app" deleted']
    assert ok(apiserver.url, "GET", "/apis/apps/v1/namespaces/default/deployments")["items"] == []
    assert ok(apiserver.url, "GET", "/api/v1/namespaces/default/services")["items"] == []
    # deleting again: NotFound, as kubectl prints it for a file
    err = kubectl.fails("delete", "-f", str(manifest))
    assert 'Error from server (NotFound): error when deleting "' in err
    assert 'deployments.apps "kt-app" not found' in err


def test_describe_pod_shows_its_events(
    kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path
) -> None:
    kubectl.ok("create", "-f", str(write_manifest(tmp_path / "pod.yaml", pod("kt-web"))))
    live = ok(apiserver.url, "GET", "/api/v1/namespaces/default/pods/kt-web")
    events = "/api/v1/namespaces/default/events"
    ok(apiserver.url, "POST", events, event_for(live, reason="KtPulled", message="kt pulled it"))
    # an event about an earlier pod of the same name (another uid) must not be shown
    stale = event_for(live, reason="KtStale", message="kt old pod")
    stale["involvedObject"]["uid"] = "00000000-0000-0000-0000-000000000000"
    ok(apiserver.url, "POST", events, stale)

    out = kubectl.ok("describe", "pod", "kt-web")
    assert re.search(r"^Name:\s+kt-web$", out, re.M), out
    assert re.search(r"^Image:\s+nginx:1\.27$", out, re.M) or "nginx:1.27" in out
    section = out.split("\nEvents:", 1)[1]
    assert re.search(r"^\s+Type\s+Reason\s+Age\s+From\s+Message$", section, re.M), section
    assert re.search(r"^\s+Normal\s+KtPulled\s+\S+\s+kt-test\s+kt pulled it$", section, re.M), (
        section
    )
    assert "KtStale" not in section


def test_expose_deployment_allocates_cluster_ip(
    kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path
) -> None:
    kubectl.ok("create", "-f", str(write_manifest(tmp_path / "d.yaml", deployment("kt-app"))))
    out = kubectl.ok("expose", "deployment", "kt-app", "--port=80", "--target-port=8080")
    assert out == "service/kt-app exposed\n"
    svc = kubectl.json("get", "svc", "kt-app")
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert ipaddress.ip_address(spec["clusterIP"]) in SERVICE_RANGE
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["selector"] == {"app": "kt-app"}
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]
    row = table_rows(kubectl.ok("get", "svc", "kt-app"))[0]
    assert row[:5] == ["kt-app", "ClusterIP", spec["clusterIP"], "<none>", "80/TCP"]


def test_scale_deployment(kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path) -> None:
    kubectl.ok("create", "-f", str(write_manifest(tmp_path / "d.yaml", deployment("kt-app"))))
    assert kubectl.ok("scale", "deployment", "kt-app", "--replicas=5") == (
        "deployment.apps/kt-app scaled\n"
    )
    got = ok(apiserver.url, "GET", "/apis/apps/v1/namespaces/default/deployments/kt-app")
    assert got["spec"]["replicas"] == 5
    assert kubectl.ok("get", "deploy", "kt-app", "-o", "jsonpath={.spec.replicas}") == "5"
    # --current-replicas reads the Scale subresource first and refuses on a mismatch
    err = kubectl.fails("scale", "deployment", "kt-app", "--current-replicas=3", "--replicas=1")
    assert err == "error: Expected replicas to be 3, was 5\n"
    kubectl.ok("scale", "deployment", "kt-app", "--current-replicas=5", "--replicas=0")
    got = ok(apiserver.url, "GET", "/apis/apps/v1/namespaces/default/deployments/kt-app")
    assert got["spec"]["replicas"] == 0


def test_label(kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path) -> None:
    kubectl.ok("create", "-f", str(write_manifest(tmp_path / "pod.yaml", pod("kt-web"))))
    assert kubectl.ok("label", "pod", "kt-web", "tier=front") == "pod/kt-web labeled\n"
    assert table_rows(kubectl.ok("get", "pods", "-l", "tier=front"))[0][0] == "kt-web"
    err = kubectl.fails("label", "pod", "kt-web", "tier=back")
    assert err == "error: 'tier' already has a value (front), and --overwrite is false\n"
    kubectl.ok("label", "pod", "kt-web", "tier=back", "--overwrite")
    assert kubectl.json("get", "pod", "kt-web")["metadata"]["labels"] == {
        "app": "kt-web",
        "tier": "back",
    }
    assert kubectl.ok("label", "pod", "kt-web", "tier-") == "pod/kt-web unlabeled\n"
    got = ok(apiserver.url, "GET", "/api/v1/namespaces/default/pods/kt-web")
    assert got["metadata"]["labels"] == {"app": "kt-web"}


def _reader(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _wait_for(lines: queue.Queue[str | None], seen: list[str], pattern: str) -> str:
    deadline = time.monotonic() + 30  # guards against hangs only
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(seen))


@pytest.mark.parametrize("events_column", [False, True])
def test_get_watch_sees_add_modify_delete(
    kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path, events_column: bool
) -> None:
    kubectl.ok("create", "-f", str(write_manifest(tmp_path / "a.yaml", pod("kt-a"))))
    extra = ["--output-watch-events"] if events_column else []
    proc = subprocess.Popen(
        kubectl.argv("get", "pods", "-w", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kubectl.env(),
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        ev = r"^ADDED\s+" if events_column else r"^"
        header = _wait_for(lines, seen, r"NAME\s+READY\s+STATUS")
        assert header.split()[0] == ("EVENT" if events_column else "NAME")
        _wait_for(lines, seen, ev + r"kt-a\s+0/1\s+Pending")
        kubectl.ok("create", "-f", str(write_manifest(tmp_path / "b.yaml", pod("kt-b"))))
        _wait_for(lines, seen, ev + r"kt-b\s+0/1\s+Pending")
        status = {"status": {"phase": "Running"}}
        ok(
            apiserver.url,
            "PATCH",
            "/api/v1/namespaces/default/pods/kt-b/status",
            status,
            content_type="application/merge-patch+json",
        )
        mod = r"^MODIFIED\s+" if events_column else r"^"
        _wait_for(lines, seen, mod + r"kt-b\s+0/1\s+Running")
        kubectl.ok("delete", "pod", "kt-b")
        gone = r"^DELETED\s+" if events_column else r"^"
        _wait_for(lines, seen, gone + r"kt-b\s+0/1\s+Running")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert proc.stderr.read() == ""
    # the header is printed once, and kt-a's initial row once: nothing replayed twice
    assert sum(1 for s in seen if "kt-a" in s) == 1, seen


# ------------------------------------------------------------------------------ errors


def test_errors_print_as_upstream(
    kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path
) -> None:
    assert kubectl.fails("get", "pod", "nothere") == (
        'Error from server (NotFound): pods "nothere" not found\n'
    )
    assert kubectl.fails("get", "deploy", "nothere") == (
        'Error from server (NotFound): deployments.apps "nothere" not found\n'
    )
    # kubectl itself looks the namespace up after a 404, and reports that instead
    assert kubectl.fails("get", "pods", "-n", "kt-nothere", "x") == (
        'Error from server (NotFound): namespaces "kt-nothere" not found\n'
    )

    manifest = write_manifest(tmp_path / "pod.yaml", pod("kt-web"))
    kubectl.ok("create", "-f", str(manifest))
    assert kubectl.fails("create", "-f", str(manifest)) == (
        f'Error from server (AlreadyExists): error when creating "{manifest}": '
        'pods "kt-web" already exists\n'
    )

    bad = write_manifest(tmp_path / "bad.yaml", pod("Bad_Name"))
    assert kubectl.fails("create", "-f", str(bad)) == (
        f'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
        f"{DNS1123_SUBDOMAIN}\n"
    )
    no_containers = pod("kt-empty")
    no_containers["spec"] = {}
    empty = write_manifest(tmp_path / "empty.yaml", no_containers)
    assert kubectl.fails("create", "-f", str(empty)) == (
        'The Pod "kt-empty" is invalid: spec.containers: Required value\n'
    )

    stale = tmp_path / "stale.yaml"
    stale.write_text(kubectl.ok("get", "pod", "kt-web", "-o", "yaml"))
    kubectl.ok("label", "pod", "kt-web", "moved=on")
    assert kubectl.fails("replace", "-f", str(stale)) == (
        f'Error from server (Conflict): error when replacing "{stale}": Operation cannot be '
        'fulfilled on pods "kt-web": the object has been modified; please apply your changes '
        "to the latest version and try again\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("namespace", "kt-ns"),
        ("deployment", "kt-app", "--image=nginx:1.27"),
        ("service", "clusterip", "kt-svc", "--tcp=80:8080"),
    ],
    ids=["namespace", "deployment", "service"],
)
def test_imperative_create_commands(kubectl: Kubectl, args: tuple[str, ...]) -> None:
    out = kubectl.ok("create", *args)
    assert out.endswith(" created\n")
