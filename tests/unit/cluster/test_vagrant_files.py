"""The Vagrant set-up: the provisioning scripts pass shellcheck, the Vagrantfile validates, and
the scripts only use flags that the knet commands they call accept."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

from knet.cluster import cli as cluster_cli

VAGRANT = Path(__file__).resolve().parents[3] / "vagrant"
SCRIPTS = sorted((VAGRANT / "provision").glob("*.sh"))


def test_there_are_provisioning_scripts() -> None:
    assert {p.name for p in SCRIPTS} == {"common.sh", "control-plane.sh", "node.sh"}
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
