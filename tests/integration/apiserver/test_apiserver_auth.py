# ruff: noqa: E501  (request bodies and upstream messages read best on one line)
"""The API server with TLS, authentication and RBAC on (issue 22): identities from client
certificates and ServiceAccount tokens, upstream's 401/403 Status messages, the bootstrap
policy, RBAC bindings, escalation, impersonation, the review APIs, and kubectl against it."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _apiserver_http import Reply, assert_status

from knet.pki import bundle
from knet.pki.certs import CertKey, client_cert, new_ca
from knet.pki.files import write_pair
from knet.testing.apiserver import ApiServerProcess, free_port

RBAC = "/apis/rbac.authorization.k8s.io/v1"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@dataclass
class Secure:
    server: ApiServerProcess
    pki: bundle.ClusterPki
    dir: Path

    def ctx(self, ident: str | None = None, pair: CertKey | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        if ident is not None:
            crt, key = self.pki.client(ident)
            ctx.load_cert_chain(str(crt), str(key))
        elif pair is not None:
            base = self.dir / f"kt-{id(pair)}"
            crt, key = write_pair(base, pair)
            ctx.load_cert_chain(str(crt), str(key))
        return ctx

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ident: str | None = None,
        pair: CertKey | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.server.port, context=self.ctx(ident, pair), timeout=30
        )
        try:
            hdrs = {"Accept": "application/json", **(headers or {})}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            if token is not None:
                hdrs["Authorization"] = f"Bearer {token}"
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        reply = self.call(method, path, body, **kw)
        assert 200 <= reply.status < 300, (method, path, reply.status, reply.body[:1000])
        return reply.json()

    def user(self, name: str, *groups: str, **kw: Any) -> CertKey:
        return client_cert(self.pki.ca(), name, groups, **kw)

    def log(self) -> str:
        return self.server.log_path.read_text()


def _start(workdir: Path, *extra: str) -> tuple[ApiServerProcess, bundle.ClusterPki]:
    pki = bundle.ensure(workdir / "pki", ["127.0.0.1", "localhost"], nodes=["kt-n1"])
    crt, key = pki.serving
    args = (
        *("--tls-cert-file", str(crt), "--tls-private-key-file", str(key)),
        *("--client-ca-file", str(pki.ca_cert), "--authorization-mode", "Node,RBAC"),
        *("--service-account-signing-key-file", str(pki.sa_key)),
        *("--service-account-key-file", str(pki.sa_pub)),
        *extra,
    )
    server = ApiServerProcess(
        workdir / "data", free_port(), workdir / "apiserver.log", args, tls_ca=pki.ca_cert
    )
    server.start()
    return server, pki


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    workdir = tmp_path_factory.mktemp("kt-secure")
    server, pki = _start(workdir)
    try:
        yield Secure(server, pki, workdir)
    finally:
        server.stop()


def _eventually(check: Any, timeout: float = 10.0) -> Any:
    """RBAC changes reach the authorizer through the watch cache: a moment after the write."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


# ------------------------------------------------------------------------------ authentication


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_anonymous_may_read_public_info(secure: Secure, path: str) -> None:
    assert secure.call("GET", path).status == 200


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api", 'forbidden: User "system:anonymous" cannot get path "/api"'),
        (
            "/api/v1/namespaces/default/pods",
            'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API '
            'group "" in the namespace "default"',
        ),
    ],
)
def test_anonymous_is_forbidden_elsewhere(secure: Secure, path: str, message: str) -> None:
    status = assert_status(secure.call("GET", path), 403, "Forbidden")
    assert status["message"] == message
    assert f'"uri": "{path}"' in secure.log() and '"code": 403' in secure.log()


def test_admin_certificate_is_system_masters(secure: Secure) -> None:
    review = secure.ok("POST", WHOAMI, {"kind": "SelfSubjectReview"}, ident="admin")
    assert review["status"]["userInfo"] == {
        "username": "kubernetes-admin",
        "groups": ["system:masters", "system:authenticated"],
    }
    secure.ok("GET", "/api/v1/nodes", ident="admin")


def test_bad_bearer_tokens_are_401(secure: Secure) -> None:
    for token in ("garbage", "a.b.c"):
        status = assert_status(secure.call("GET", "/api", token=token), 401, "Unauthorized")
        assert status["message"] == "Unauthorized"


def test_certificates_the_ca_did_not_sign_or_out_of_date_never_get_in(secure: Secure) -> None:
    """Checked by the TLS layer: the handshake fails, nothing reaches the API."""
    now = dt.datetime.now(dt.UTC)
    bad = {
        "other-ca": client_cert(new_ca(), "kt-mallory", ("system:masters",)),
        "expired": secure.user("kt-old", "system:masters", not_before=now - dt.timedelta(400)),
        "not-yet-valid": secure.user("kt-new", "system:masters", not_before=now + dt.timedelta(2)),
    }
    for name, pair in bad.items():
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            secure.call("GET", "/api/v1/nodes", pair=pair)
        assert name


# ------------------------------------------------------------------------------ RBAC


def test_component_identities_get_least_privilege(secure: Secure) -> None:
    secure.ok("GET", "/api/v1/services", ident="kube-proxy")
    watch = "/apis/discovery.k8s.io/v1/endpointslices?watch=1&timeoutSeconds=1"
    assert secure.call("GET", watch, ident="kube-proxy").status == 200
    status = assert_status(
        secure.call("GET", "/api/v1/namespaces/default/secrets", ident="kube-proxy"),
        403,
        "Forbidden",
    )
    assert status["message"] == (
        'secrets is forbidden: User "system:kube-proxy" cannot list resource "secrets" in API '
        'group "" in the namespace "default"'
    )
    assert status["details"] == {"kind": "secrets"}  # no empty group (omitempty), as upstream
    secure.ok("GET", "/api/v1/nodes", ident="scheduler")
    assert_status(secure.call("DELETE", "/api/v1/nodes/x", ident="scheduler"), 403, "Forbidden")
    # Nodes read only what their pods use (the Node authorizer): no listing ConfigMaps.
    assert_status(
        secure.call("GET", "/api/v1/namespaces/default/configmaps", ident="node-kt-n1"),
        403,
        "Forbidden",
    )


def _namespace(secure: Secure, name: str) -> None:
    secure.ok("POST", "/api/v1/namespaces", {"metadata": {"name": name}}, ident="admin")


def _role(name: str, ns: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "rules": list(rules)}


def _rule(verbs: list[str], resources: list[str], group: str = "") -> dict[str, Any]:
    return {"verbs": verbs, "apiGroups": [group], "resources": resources}


def _binding(name: str, ns: str, role: str, user: str, kind: str = "Role") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
    }


def test_role_binding_grants_in_its_namespace_only(secure: Secure) -> None:
    _namespace(secure, "kt-team")
    alice = secure.user("kt-alice")
    pods = "/api/v1/namespaces/kt-team/pods"
    assert_status(secure.call("GET", pods, pair=alice), 403, "Forbidden")
    secure.ok(
        "POST",
        f"{RBAC}/namespaces/kt-team/roles",
        _role("kt-reader", "kt-team", _rule(["get", "list"], ["pods"])),
        ident="admin",
    )
    secure.ok(
        "POST",
        f"{RBAC}/namespaces/kt-team/rolebindings",
        _binding("kt-reader", "kt-team", "kt-reader", "kt-alice"),
        ident="admin",
    )
    assert _eventually(lambda: secure.call("GET", pods, pair=alice).status == 200)
    other = secure.call("GET", "/api/v1/namespaces/default/pods", pair=alice)
    assert_status(other, 403, "Forbidden")
    delete = secure.call("DELETE", f"{pods}/x", pair=alice)
    assert json.loads(delete.body)["message"] == (
        'pods "x" is forbidden: User "kt-alice" cannot delete resource "pods" in API group "" '
        'in the namespace "kt-team"'
    )


def test_cluster_role_aggregation_and_bootstrap_view(secure: Secure) -> None:
    _namespace(secure, "kt-view")
    bob = secure.user("kt-bob")
    secure.ok(
        "POST",
        f"{RBAC}/namespaces/kt-view/rolebindings",
        _binding("kt-view", "kt-view", "view", "kt-bob", kind="ClusterRole"),
        ident="admin",
    )
    deploys = "/apis/apps/v1/namespaces/kt-view/deployments"
    assert _eventually(lambda: secure.call("GET", deploys, pair=bob).status == 200)
    assert_status(
        secure.call("GET", "/api/v1/namespaces/kt-view/secrets", pair=bob), 403, "Forbidden"
    )
    # A new ClusterRole labelled for aggregation into view extends it.
    secure.ok(
        "POST",
        f"{RBAC}/clusterroles",
        {
            "metadata": {
                "name": "kt-leases-view",
                "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
            },
            "rules": [_rule(["list"], ["leases"], "coordination.k8s.io")],
        },
        ident="admin",
    )
    leases = "/apis/coordination.k8s.io/v1/namespaces/kt-view/leases"
    assert _eventually(lambda: secure.call("GET", leases, pair=bob).status == 200)


def test_escalation_is_refused(secure: Secure) -> None:
    _namespace(secure, "kt-esc")
    carol = secure.user("kt-carol")
    secure.ok(
        "POST",
        f"{RBAC}/namespaces/kt-esc/roles",
        _role(
            "kt-role-admin",
            "kt-esc",
            _rule(
                ["create", "get", "list"], ["roles", "rolebindings"], "rbac.authorization.k8s.io"
            ),
            _rule(["get", "list"], ["pods"]),
        ),
        ident="admin",
    )
    secure.ok(
        "POST",
        f"{RBAC}/namespaces/kt-esc/rolebindings",
        _binding("kt-carol", "kt-esc", "kt-role-admin", "kt-carol"),
        ident="admin",
    )
    roles = f"{RBAC}/namespaces/kt-esc/roles"
    assert _eventually(lambda: secure.call("GET", roles, pair=carol).status == 200)
    wider = _role("kt-wider", "kt-esc", _rule(["delete"], ["pods"]))
    status = assert_status(secure.call("POST", roles, wider, pair=carol), 403, "Forbidden")
    assert status["message"].startswith(
        'roles.rbac.authorization.k8s.io is forbidden: user "kt-carol" (groups=['
        '"system:authenticated"]) is attempting to grant RBAC permissions not currently held:'
    )
    assert 'Resources:["pods"]' in status["message"] and 'Verbs:["delete"]' in status["message"]
    secure.ok("POST", roles, _role("kt-narrow", "kt-esc", _rule(["get"], ["pods"])), pair=carol)
    # Binding cluster-admin to herself: she does not hold its permissions.
    grab = _binding("kt-grab", "kt-esc", "cluster-admin", "kt-carol", kind="ClusterRole")
    reply = secure.call("POST", f"{RBAC}/namespaces/kt-esc/rolebindings", grab, pair=carol)
    assert_status(reply, 403, "Forbidden")
    assert "attempting to grant RBAC permissions not currently held" in reply.json()["message"]


def test_node_authorizer(secure: Secure) -> None:
    _namespace(secure, "kt-nodes")
    ns = "/api/v1/namespaces/kt-nodes"
    for name in ("kt-s1", "kt-s2"):
        secure.ok(
            "POST",
            f"{ns}/secrets",
            {"metadata": {"name": name}, "stringData": {"k": "v"}},
            ident="admin",
        )
    secure.ok(
        "POST",
        f"{ns}/configmaps",
        {"metadata": {"name": "kt-cm"}, "data": {"k": "v"}},
        ident="admin",
    )
    for node in ("kt-n1", "kt-n2"):
        secure.ok("POST", "/api/v1/nodes", {"metadata": {"name": node}}, ident="admin")

    def pod(name: str, node: str, secret: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "envFrom": [{"configMapRef": {"name": "kt-cm"}}] if node == "kt-n1" else [],
                    }
                ],
                "volumes": [{"name": "v", "secret": {"secretName": secret}}],
            },
        }

    secure.ok("POST", f"{ns}/pods", pod("kt-p1", "kt-n1", "kt-s1"), ident="admin")
    secure.ok("POST", f"{ns}/pods", pod("kt-p2", "kt-n2", "kt-s2"), ident="admin")
    n1 = "node-kt-n1"
    assert _eventually(lambda: secure.call("GET", f"{ns}/secrets/kt-s1", ident=n1).status == 200)
    assert secure.call("GET", f"{ns}/configmaps/kt-cm", ident=n1).status == 200
    other = secure.call("GET", f"{ns}/secrets/kt-s2", ident=n1)
    assert assert_status(other, 403, "Forbidden")["message"] == (
        'secrets "kt-s2" is forbidden: User "system:node:kt-n1" cannot get resource "secrets" in '
        'API group "" in the namespace "kt-nodes"'
    )
    label = {"metadata": {"labels": {"kt": "x"}}}
    merge = {"Content-Type": "application/merge-patch+json"}

    def patch(path: str) -> Reply:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", secure.server.port, context=secure.ctx(n1), timeout=30
        )
        try:
            conn.request("PATCH", path, body=json.dumps(label).encode(), headers=merge)
            resp = conn.getresponse()
            return Reply(resp.status, {}, resp.read())
        finally:
            conn.close()

    assert patch("/api/v1/nodes/kt-n1").status == 200
    assert patch("/api/v1/nodes/kt-n2").status == 403
    assert patch(f"{ns}/pods/kt-p1/status").status == 200
    assert patch(f"{ns}/pods/kt-p2/status").status == 403
    assert secure.call("DELETE", f"{ns}/pods/kt-p2", ident=n1).status == 403


# ------------------------------------------------------------------------------ reviews


def _ssar(verb: str, resource: str, ns: str = "", name: str = "") -> dict[str, Any]:
    attrs = {"verb": verb, "resource": resource, "namespace": ns, "name": name}
    return {"kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": attrs}}


def test_access_reviews(secure: Secure) -> None:
    out = secure.ok("POST", SSAR, _ssar("list", "services"), ident="kube-proxy")
    assert out["status"]["allowed"] is True
    out = secure.ok("POST", SSAR, _ssar("delete", "pods", "default"), ident="kube-proxy")
    assert out["status"]["allowed"] is False
    sar = {
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "system:kube-scheduler",
            "resourceAttributes": {
                "verb": "create",
                "resource": "pods",
                "subresource": "binding",
                "namespace": "d",
            },
        },
    }
    out = secure.ok(
        "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, ident="admin"
    )
    assert out["status"]["allowed"] is True
    assert_status(
        secure.call(
            "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, ident="kube-proxy"
        ),
        403,
        "Forbidden",
    )
    rules = secure.ok(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        {"kind": "SelfSubjectRulesReview", "spec": {"namespace": "default"}},
        ident="kube-proxy",
    )["status"]
    assert {
        "verbs": ["list", "watch"],
        "apiGroups": [""],
        "resources": ["endpoints", "services"],
    } in rules["resourceRules"]


def test_impersonation(secure: Secure) -> None:
    as_proxy = {"Impersonate-User": "system:kube-proxy"}
    out = secure.ok("POST", WHOAMI, {}, ident="admin", headers=as_proxy)
    assert out["status"]["userInfo"]["username"] == "system:kube-proxy"
    assert_status(
        secure.call("GET", "/api/v1/namespaces/default/secrets", ident="admin", headers=as_proxy),
        403,
        "Forbidden",
    )
    status = assert_status(
        secure.call(
            "GET",
            "/api/v1/nodes",
            ident="kube-proxy",
            headers={"Impersonate-User": "kubernetes-admin"},
        ),
        403,
        "Forbidden",
    )
    assert status["message"] == (
        'users "kubernetes-admin" is forbidden: User "system:kube-proxy" cannot impersonate '
        'resource "users" in API group "" at the cluster scope'
    )


# ------------------------------------------------------------------------------ ServiceAccount tokens


def _token(secure: Secure, ns: str, sa: str, body: dict[str, Any] | None = None) -> str:
    out = secure.ok(
        "POST",
        f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
        body or {"kind": "TokenRequest", "spec": {}},
        ident="admin",
    )
    token: str = out["status"]["token"]
    return token


def test_service_account_tokens(secure: Secure) -> None:
    _namespace(secure, "kt-sa")
    secure.ok(
        "POST",
        "/api/v1/namespaces/kt-sa/serviceaccounts",
        {"metadata": {"name": "robot"}},
        ident="admin",
    )
    pod = {
        "metadata": {"name": "kt-web"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    uid = secure.ok("POST", "/api/v1/namespaces/kt-sa/pods", pod, ident="admin")["metadata"]["uid"]
    bound = {
        "spec": {
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "kt-web", "uid": uid}
        }
    }
    token = _token(secure, "kt-sa", "robot", bound)
    me = secure.ok("POST", WHOAMI, {}, token=token)["status"]["userInfo"]
    assert me["username"] == "system:serviceaccount:kt-sa:robot"
    assert me["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:kt-sa",
        "system:authenticated",
    ]
    assert me["extra"]["authentication.kubernetes.io/pod-name"] == ["kt-web"]
    # The issuer's discovery documents, readable by service accounts.
    conf = secure.ok("GET", "/.well-known/openid-configuration", token=token)
    assert conf["issuer"] == "https://kubernetes.default.svc.cluster.local"
    assert secure.ok("GET", "/openid/v1/jwks", token=token)["keys"][0]["alg"] == "ES256"
    # A token in the query string is not a credential: the request is anonymous.
    anon = secure.call("GET", f"/api/v1/namespaces/kt-sa/pods?access_token={token}")
    assert "system:anonymous" in assert_status(anon, 403, "Forbidden")["message"]
    # TokenReview by an allowed identity.
    review = secure.ok(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {"kind": "TokenReview", "spec": {"token": token}},
        ident="admin",
    )["status"]
    assert review["authenticated"] is True and review["user"]["username"] == me["username"]
    # Once the pod is gone, so is the token.
    secure.ok("DELETE", "/api/v1/namespaces/kt-sa/pods/kt-web", ident="admin")
    assert_status(secure.call("POST", WHOAMI, {}, token=token), 401, "Unauthorized")


def test_token_audience_and_expiry_rules(secure: Secure) -> None:
    _namespace(secure, "kt-aud")
    secure.ok(
        "POST",
        "/api/v1/namespaces/kt-aud/serviceaccounts",
        {"metadata": {"name": "bot"}},
        ident="admin",
    )
    vault = _token(secure, "kt-aud", "bot", {"spec": {"audiences": ["vault"]}})
    assert_status(secure.call("POST", WHOAMI, {}, token=vault), 401, "Unauthorized")
    review = secure.ok(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {"spec": {"token": vault, "audiences": ["vault"]}},
        ident="admin",
    )["status"]
    assert review["authenticated"] is True and review["audiences"] == ["vault"]
    short = secure.call(
        "POST",
        "/api/v1/namespaces/kt-aud/serviceaccounts/bot/token",
        {"spec": {"expirationSeconds": 60}},
        ident="admin",
    )
    assert_status(short, 422, "Invalid")
    token = _token(secure, "kt-aud", "bot")
    secure.ok("DELETE", "/api/v1/namespaces/kt-aud/serviceaccounts/bot", ident="admin")
    assert_status(secure.call("POST", WHOAMI, {}, token=token), 401, "Unauthorized")


# ------------------------------------------------------------------------------ kubectl


def _kubectl(secure: Secure, ident: str, *args: str) -> subprocess.CompletedProcess[str]:
    kubeconfig = secure.dir / f"{ident}.kubeconfig"
    if not kubeconfig.exists():
        bundle.write_kubeconfig(kubeconfig, secure.pki, secure.server.url, ident)
    return subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(secure.dir / "cache" / ident),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(secure.dir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


@pytest.mark.kubectl
def test_kubectl_with_the_admin_and_component_kubeconfigs(secure: Secure) -> None:
    out = _kubectl(secure, "admin", "get", "namespaces", "-o", "name")
    assert out.returncode == 0 and "namespace/default" in out.stdout, out.stderr
    who = _kubectl(secure, "admin", "auth", "whoami", "-o", "json")
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == "kubernetes-admin"
    yes = _kubectl(secure, "kube-proxy", "auth", "can-i", "watch", "services")
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes")
    no = _kubectl(secure, "kube-proxy", "auth", "can-i", "get", "secrets")
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    listed = _kubectl(secure, "kube-proxy", "auth", "can-i", "--list")
    assert listed.returncode == 0 and "endpointslices.discovery.k8s.io" in listed.stdout
    as_proxy = _kubectl(
        secure, "admin", "auth", "can-i", "get", "secrets", "--as", "system:kube-proxy"
    )
    assert as_proxy.stdout.strip() == "no"
    denied = _kubectl(secure, "kube-proxy", "get", "secrets")
    assert denied.returncode != 0
    assert 'User "system:kube-proxy" cannot list resource "secrets"' in denied.stderr
    # RBAC objects through kubectl's own commands (strict field validation knows their fields).
    role = _kubectl(
        secure, "admin", "create", "role", "kt-kubectl", "--verb=get,list", "--resource=pods"
    )
    assert role.returncode == 0, role.stderr
    bind = _kubectl(
        secure,
        "admin",
        "create",
        "rolebinding",
        "kt-kubectl",
        "--role=kt-kubectl",
        "--user=kt-dave",
    )
    assert bind.returncode == 0, bind.stderr
    assert _eventually(
        lambda: (
            _kubectl(
                secure, "admin", "auth", "can-i", "list", "pods", "--as", "kt-dave"
            ).stdout.strip()
            == "yes"
        )
    )
    got = _kubectl(secure, "admin", "get", "rolebinding", "kt-kubectl", "-o", "wide")
    assert got.stdout.split("\n")[0].split() == [
        "NAME",
        "ROLE",
        "AGE",
        "USERS",
        "GROUPS",
        "SERVICEACCOUNTS",
    ]
    assert got.stdout.split("\n")[1].split()[:2] == ["kt-kubectl", "Role/kt-kubectl"]
    view = _kubectl(secure, "admin", "describe", "clusterrole", "view")
    assert "deployments.apps" in view.stdout  # aggregated rules are stored, as upstream
    assert _kubectl(secure, "admin", "create", "serviceaccount", "kt-kubectl").returncode == 0
    token = _kubectl(secure, "admin", "create", "token", "kt-kubectl")
    assert token.returncode == 0 and token.stdout.count(".") == 2


def test_python_client_with_the_admin_kubeconfig(secure: Secure) -> None:
    from kubernetes import client, config

    path = secure.dir / "admin-py.kubeconfig"
    bundle.write_kubeconfig(path, secure.pki, secure.server.url, "admin")
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(path)))
    names = [ns.metadata.name for ns in api.list_namespace().items]
    assert "default" in names
    proxy = secure.dir / "proxy-py.kubeconfig"
    bundle.write_kubeconfig(proxy, secure.pki, secure.server.url, "kube-proxy")
    limited = client.CoreV1Api(config.new_client_from_config(config_file=str(proxy)))
    with pytest.raises(client.ApiException) as denied:
        limited.list_namespaced_secret("default")
    assert denied.value.status == 403


def test_anonymous_auth_false_makes_everything_401(tmp_path: Path) -> None:
    server, pki = _start(tmp_path, "--anonymous-auth=false")
    try:
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
        conn.request("GET", "/api/v1/pods", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        conn.close()
        assert_status(reply, 401, "Unauthorized")
    finally:
        server.stop()


# ------------------------------------------------------------------------------ the matrix

_ANON = ("system:anonymous", ["system:unauthenticated"])
_USER = ("kt-erin", ["system:authenticated"])
_PROXY = ("system:kube-proxy", ["system:authenticated"])
_SCHED = ("system:kube-scheduler", ["system:authenticated"])
_NODE = ("system:node:kt-n9", ["system:nodes", "system:authenticated"])


@pytest.mark.parametrize(
    ("who", "attrs", "allowed"),
    [
        (_ANON, {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}, True),
        (_ANON, {"nonResourceAttributes": {"verb": "get", "path": "/version"}}, True),
        (_ANON, {"nonResourceAttributes": {"verb": "get", "path": "/api"}}, False),
        (_ANON, {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "default"}}, False),
        (_USER, {"nonResourceAttributes": {"verb": "get", "path": "/apis/apps/v1"}}, True),
        (_USER, {"resourceAttributes": {"verb": "create", "group": "authorization.k8s.io", "resource": "selfsubjectaccessreviews"}}, True),
        (_USER, {"resourceAttributes": {"verb": "list", "resource": "namespaces"}}, False),
        (_USER, {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default", "name": "x"}}, False),
        (_PROXY, {"resourceAttributes": {"verb": "watch", "group": "discovery.k8s.io", "resource": "endpointslices"}}, True),
        (_PROXY, {"resourceAttributes": {"verb": "get", "resource": "nodes", "name": "n"}}, True),
        (_PROXY, {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "default"}}, False),
        (_SCHED, {"resourceAttributes": {"verb": "create", "resource": "pods", "subresource": "binding", "namespace": "d", "name": "p"}}, True),
        (_SCHED, {"resourceAttributes": {"verb": "patch", "resource": "pods", "subresource": "status", "namespace": "d", "name": "p"}}, True),
        (_SCHED, {"resourceAttributes": {"verb": "update", "resource": "nodes", "name": "n"}}, False),
        (_SCHED, {"resourceAttributes": {"verb": "get", "resource": "secrets", "namespace": "d", "name": "s"}}, False),
        (_NODE, {"resourceAttributes": {"verb": "get", "resource": "nodes", "name": "kt-n9"}}, True),
        (_NODE, {"resourceAttributes": {"verb": "create", "resource": "events", "namespace": "d"}}, True),
        (_NODE, {"resourceAttributes": {"verb": "get", "resource": "secrets", "namespace": "d", "name": "s"}}, False),
        (_NODE, {"resourceAttributes": {"verb": "patch", "resource": "nodes", "name": "kt-other"}}, False),
    ],
)  # fmt: skip
def test_identity_verb_resource_matrix(
    secure: Secure, who: tuple[str, list[str]], attrs: dict[str, Any], allowed: bool
) -> None:
    """Upstream's default answers, asked through SubjectAccessReview as an API client would."""
    user, groups = who
    sar = {"kind": "SubjectAccessReview", "spec": {"user": user, "groups": groups, **attrs}}
    out = secure.ok(
        "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, ident="admin"
    )
    assert out["status"]["allowed"] is allowed
