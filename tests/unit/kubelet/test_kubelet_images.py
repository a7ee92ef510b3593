"""Image resolution: built-in programs, host commands, and clear failures."""

from __future__ import annotations

import pytest

from kubelet_lite.runtime.resolve import ImageError, parse_image, resolve

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47"


def test_parse_references() -> None:
    ref = parse_image("registry.k8s.io/e2e-test-images/agnhost:2.47")
    assert (ref.registry, ref.path, ref.tag, ref.name) == (
        "registry.k8s.io",
        "e2e-test-images/agnhost",
        "2.47",
        "agnhost",
    )
    assert parse_image("nginx").name == "nginx" and parse_image("nginx").tag is None
    assert parse_image("localhost:5000/team/app@sha256:" + "a" * 64).digest is not None


@pytest.mark.parametrize("bad", ["", "  ", "UPPER/case", "a b", "nginx:", "-x"])
def test_invalid_references(bad: str) -> None:
    with pytest.raises(ImageError) as info:
        parse_image(bad)
    assert info.value.reason == "InvalidImageName"


def test_agnhost_any_tag_and_registry_is_built_in() -> None:
    plan = resolve(AGNHOST, None, ["netexec", "--http-port=8080"])
    assert plan.builtin == "agnhost" and plan.builtin_args == ["netexec", "--http-port=8080"]
    assert plan.argv is None and plan.image_id.startswith(
        "registry.k8s.io/e2e-test-images/agnhost@sha256:"
    )
    other = resolve("k8s.gcr.io/e2e-test-images/agnhost:2.20", ["/agnhost", "pause"], None)
    assert other.builtin == "agnhost" and other.builtin_args == ["pause"]


def test_agnhost_with_another_command_runs_it_from_the_host() -> None:
    plan = resolve(AGNHOST, ["sh", "-c", "echo hi"], None)
    assert plan.builtin is None and plan.argv == ["sh", "-c", "echo hi"]


def test_web_servers_and_pause() -> None:
    assert resolve("nginx:1.25", None, None).builtin == "nginx"
    assert resolve("docker.io/library/httpd", None, None).builtin == "httpd"
    assert resolve("registry.k8s.io/pause:3.10", None, None).builtin == "pause"
    assert resolve("nginx", ["nginx", "-v"], None).argv == ["nginx", "-v"]


def test_shell_images_use_host_tools() -> None:
    assert resolve("busybox", ["sleep", "1"], ["2"]).argv == ["sleep", "1", "2"]
    assert resolve("busybox:1.36", None, None).argv == ["sh"]
    assert resolve("alpine", None, ["echo", "x"]).argv == ["echo", "x"]


def test_unknown_image_needs_a_command() -> None:
    assert resolve("example.com/app:1", ["/bin/true"], None).argv == ["/bin/true"]
    with pytest.raises(ImageError) as info:
        resolve("example.com/app:1", None, ["--flag"])
    assert info.value.reason == "ErrImagePull"
    assert 'image "example.com/app:1" not available: no registry here' in info.value.message


def test_coredns_is_knet_dns_with_the_args_as_flags() -> None:
    from kubelet_lite.runtime.images.coredns import dns_args

    plan = resolve("registry.k8s.io/coredns/coredns:v1.11.3", None, ["-conf", "/etc/Corefile"])
    assert (plan.builtin, plan.builtin_args) == ("coredns", ["-conf", "/etc/Corefile"])
    assert resolve("coredns/coredns", ["/coredns"], ["-dns.port", "53"]).builtin == "coredns"
    assert resolve("coredns/coredns", ["sh"], None).argv == ["sh"]
    assert dns_args(["-conf", "/etc/Corefile", "--dns-port", "5353"]) == ["--dns-port", "5353"]
