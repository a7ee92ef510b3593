"""node.sh re-runs the node bootstrap at every boot (a reboot loses the node's sysctls), with
the same flags as its provisioning run, less --write-units."""

from __future__ import annotations

import re
from pathlib import Path

NODE_SH = (Path(__file__).resolve().parents[3] / "vagrant/provision/node.sh").read_text()


def _provisioning_flags() -> list[str]:
    start = NODE_SH.index("-m knet.cli node bootstrap")
    end = NODE_SH.index("\n\n", start)
    return re.findall(r"(--[a-z-]+)", NODE_SH[start:end])


def test_boot_unit_runs_the_same_bootstrap() -> None:
    exec_start = re.search(
        r"^ExecStart=\$\{python\} -m knet.cli node bootstrap (.*)$", NODE_SH, re.M
    )
    assert exec_start, "node.sh writes no knet-node.service running the bootstrap"
    at_boot = re.findall(r"(--[a-z-]+)", exec_start.group(1))
    assert at_boot == [f for f in _provisioning_flags() if f != "--write-units"]
    unit = NODE_SH[NODE_SH.index("knet-node.service <<UNIT") :]
    assert "Before=kubelet-lite.service kproxy.service knet-hostgw.service" in unit
    assert "WantedBy=multi-user.target" in unit
    assert "systemctl enable knet-node.service" in NODE_SH
