"""Wire detail and start-up errors: Status bodies byte for byte as kube-apiserver writes them,
`/version`'s build facts, and bad flags or an unusable data dir reported in one readable line
(never a traceback) by `knet apiserver` and `knet server`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _apiserver_http import request

from knet.apiserver import buildinfo
from knet.testing.apiserver import ApiServerProcess, free_port, running_apiserver

KNET = [sys.executable, "-m", "knet.cli"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with running_apiserver(tmp_path_factory.mktemp("wire")) as s:
        yield s


def test_status_bodies_are_byte_for_byte_upstreams(server: ApiServerProcess) -> None:
    reply = request(server.url, "GET", "/api/v1/namespaces/default/pods/nope")
    assert reply.status == 404
    assert reply.body == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"pods \\"nope\\" not found","reason":"NotFound",'
        b'"details":{"name":"nope","kind":"pods"},"code":404}\n'
    )
    reply = request(server.url, "GET", "/apis/apps/v1/namespaces/default/deployments/nope")
    assert reply.body.endswith(
        b'"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n'
    )
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}
    reply = request(server.url, "POST", "/api/v1/namespaces/default/configmaps", bad)
    assert reply.status == 422
    keys = list(reply.json())
    assert keys == [
        "kind",
        "apiVersion",
        "metadata",
        "status",
        "message",
        "reason",
        "details",
        "code",
    ]
    assert list(reply.json()["details"]) == ["name", "kind", "causes"]


def test_version_reports_this_build(server: ApiServerProcess) -> None:
    info = request(server.url, "GET", "/version").json()
    assert info["platform"] == buildinfo.go_platform()
    commit = buildinfo.read_commit(Path(buildinfo.__file__).resolve().parent)
    assert info["gitCommit"] == (commit or buildinfo.UNKNOWN_COMMIT)
    assert info["gitCommit"] != "0" * 40
    assert (info["major"], info["minor"]) == ("1", "32")


def test_go_platform_names() -> None:
    assert buildinfo.go_platform("linux", "x86_64") == "linux/amd64"
    assert buildinfo.go_platform("linux", "aarch64") == "linux/arm64"


def test_commit_from_a_worktree_checkout(tmp_path: Path) -> None:
    common = tmp_path / "repo.git"
    (common / "refs/heads").mkdir(parents=True)
    (common / "packed-refs").write_text("# pack-refs\n" + "b" * 40 + " refs/heads/main\n")
    wt_git = common / "worktrees/wt"
    wt_git.mkdir(parents=True)
    (wt_git / "commondir").write_text("../..\n")
    (wt_git / "HEAD").write_text("ref: refs/heads/main\n")
    checkout = tmp_path / "wt" / "pkg"
    checkout.mkdir(parents=True)
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {wt_git}\n")
    assert buildinfo.read_commit(checkout) == "b" * 40
    (common / "refs/heads/main").write_text("c" * 40 + "\n")
    assert buildinfo.read_commit(checkout) == "c" * 40
    assert buildinfo.read_commit(Path("/")) is None


def run_knet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KNET, *args], capture_output=True, text=True, timeout=60, check=False)


def one_line_error(done: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], done.stderr


@pytest.mark.parametrize("program", ["apiserver", "server"])
def test_bad_flags_are_one_line(program: str, tmp_path: Path) -> None:
    base = ("--port", str(free_port()), "--data-dir", str(tmp_path / "d"))
    done = run_knet(program, *base, "--service-cluster-ip-range", "garbage")
    one_line_error(done, 2, "--service-cluster-ip-range: invalid service CIDR 'garbage'")
    done = run_knet(program, *base, "--service-node-port-range", "32767-30000")
    one_line_error(done, 2, "invalid --service-node-port-range '32767-30000'")


@pytest.mark.parametrize("program", ["apiserver", "server"])
def test_unusable_data_dirs_are_one_line(
    program: str, server: ApiServerProcess, tmp_path: Path
) -> None:
    held = run_knet(program, "--port", str(free_port()), "--data-dir", str(server.data_dir))
    one_line_error(held, 1, "cannot open the store: ")
    assert "already open" in held.stderr
    afile = tmp_path / "afile"
    afile.write_text("")
    done = run_knet(program, "--port", str(free_port()), "--data-dir", str(afile / "x"))
    one_line_error(done, 1, f"cannot open the store: {afile / 'x'}: Not a directory")


def test_a_taken_port_is_cannot_listen(server: ApiServerProcess, tmp_path: Path) -> None:
    done = run_knet("apiserver", "--port", str(server.port), "--data-dir", str(tmp_path / "d"))
    one_line_error(done, 1, f"cannot listen on 127.0.0.1:{server.port}: ")


def test_field_validation_on_patches(server: ApiServerProcess) -> None:
    cms = "/api/v1/namespaces/default/configmaps"
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kt-fv"},
        "data": {"a": "1"},
    }
    assert request(server.url, "POST", cms, cm).status == 201
    merge = "application/merge-patch+json"
    patch = {"data": {"a": "2"}, "bogus": 1}
    reply = request(
        server.url, "PATCH", f"{cms}/kt-fv?fieldValidation=Strict", patch, content_type=merge
    )
    assert reply.status == 400, reply.body
    assert reply.json()["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
        'strict decoding error: unknown field "bogus"'
    )
    assert request(server.url, "GET", f"{cms}/kt-fv").json()["data"] == {"a": "1"}
    reply = request(
        server.url, "PATCH", f"{cms}/kt-fv?fieldValidation=Warn", patch, content_type=merge
    )
    assert reply.status == 200 and reply.json()["data"] == {"a": "2"}
    assert reply.headers["warning"] == '299 - "unknown field \\"bogus\\""'
    reply = request(server.url, "PATCH", f"{cms}/kt-fv", {"data": {"a": "3"}}, content_type=merge)
    assert reply.status == 200 and "warning" not in reply.headers
