"""The Vagrant set-up: the provisioning scripts pass shellcheck, the Vagrantfile validates, and
the scripts only use flags that the knet commands they call accept."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from knet.cluster import cli as cluster_cli

VAGRANT = Path(__file__).resolve().parents[3] / "vagrant"
SCRIPTS = sorted((VAGRANT / "provision").glob("*.sh"))


def test_there_are_provisioning_scripts() -> None:
    assert {p.name for p in SCRIPTS} == {
        "common.sh",
        "control-plane.sh",
        "control-plane-ha.sh",
        "node.sh",
    }
    for p in SCRIPTS:
        assert p.read_text().startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in p.read_text()


def test_scripts_pass_shellcheck() -> None:
    # scripts/setup installs shellcheck and vagrant, so these two run rather than skip.
    assert shutil.which("shellcheck"), "shellcheck is missing: run scripts/setup"
    done = subprocess.run(
        ["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_vagrantfile_validates(tmp_path: Path) -> None:
    assert shutil.which("vagrant"), "vagrant is missing: run scripts/setup"
    env = {
        **os.environ,
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),  # keep vagrant's state out of the tree
        "VAGRANT_HOME": str(tmp_path / "home"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
    }
    # No provider (VirtualBox, libvirt) can run here, and validation should not need one:
    # --ignore-provider checks everything but the provider blocks.
    done = subprocess.run(
        ["vagrant", "validate", "--ignore-provider"],
        cwd=VAGRANT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validated successfully" in done.stdout


def _flags_after(text: str, marker: str) -> set[str]:
    """The --flags of the (backslash-continued) command line starting at ``marker``."""
    start = text.index(marker)
    end = start
    while True:
        nl = text.index("\n", end)
        if text[nl - 1] != "\\":
            break
        end = nl + 1
    return set(re.findall(r"(--[a-z][a-z-]*)", text[start:nl]))


def _known_flags(register: str, *path: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    getattr(cluster_cli, register)(sub)
    p: argparse.ArgumentParser = sub.choices[path[0]]
    for name in path[1:]:
        action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = action.choices[name]
    return {s for a in p._actions for s in a.option_strings}


def test_node_script_uses_only_flags_node_bootstrap_knows() -> None:
    text = (VAGRANT / "provision" / "node.sh").read_text()
    used = _flags_after(text, "-m knet.cli node bootstrap")
    assert {"--root-netns", "--node-name", "--pod-cidr", "--write-units"} <= used
    assert used <= _known_flags("add_node_parser", "node", "bootstrap")


def test_the_vms_get_distinct_pod_cidrs_inside_the_cluster_cidr() -> None:
    text = (VAGRANT / "Vagrantfile").read_text()
    cidrs = re.findall(r'pod_cidr: "([0-9./]+)"', text)
    ips = re.findall(r'ip: (?:API_IP|"([0-9.]+)")', text)
    assert len(cidrs) == 3 and len(set(cidrs)) == 3
    assert all(c.startswith("10.244.") for c in cidrs)
    assert len(ips) == 3
    assert 'config.vm.box = "debian/bookworm64"' in text


def _parser_flags(add_arguments: Callable[[argparse.ArgumentParser], None]) -> set[str]:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return {s for a in p._actions for s in a.option_strings}


def test_ha_script_uses_only_flags_the_commands_know() -> None:
    from knet.apiserver import server
    from knet.cluster import ha_provision
    from knet.controllers import manager
    from knet.scheduler import scheduler

    text = (VAGRANT / "provision" / "control-plane-ha.sh").read_text()
    controllers = _flags_after(text, "controllers=")
    assert {"--leader-elect", "--leader-elect-identity", "--kubeconfig"} <= controllers
    apiserver = _flags_after(text, "-m knet.cli apiserver")
    assert {"--etcd-servers", "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile"} <= apiserver
    assert apiserver <= _parser_flags(server.add_arguments)
    cm = _flags_after(text, "-m knet.cli controller-manager") | controllers
    assert cm <= _parser_flags(manager.add_arguments)
    assert controllers <= _parser_flags(scheduler.add_arguments)
    sub = next(
        a for a in ha_provision.parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    for command in ("etcd-argv", "haproxy-config"):
        used = _flags_after(text, f"ha_provision {command}")
        assert used and used <= {s for a in sub.choices[command]._actions for s in a.option_strings}


def test_ha_vagrantfile_members_get_the_certificates_the_script_copies(tmp_path: Path) -> None:
    from knet.cluster import ha_provision

    text = (VAGRANT / "Vagrantfile").read_text()
    names = re.findall(r'name: "(knet-[a-z0-9]+)", ip: (?:API_IP|"([0-9.]+)")', text)
    members = [f"{n}={ip or '192.168.56.10'}" for n, ip in names]
    assert ha_provision.main(["pki", str(tmp_path), *members]) == 0
    script = (VAGRANT / "provision" / "control-plane-ha.sh").read_text()
    for n, _ in names:
        for f in ("etcd-ca.crt", f"{n}.crt", f"{n}.key", "apiserver-etcd-client.key"):
            assert (tmp_path / f).exists()
    assert '"${node_name}.key"' in script and "apiserver-etcd-client.key" in script
