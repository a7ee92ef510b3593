"""The machines' state file and the mount bookkeeping that `down` relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from knet.machines import mounts
from knet.machines.state import MachinesState, Proc, StateError


def test_state_round_trips_and_records_at_once(tmp_path: Path) -> None:
    st = MachinesState(tmp_path / "m", "knet", 3, 4242)
    st.save()
    st.add_namespace("km-knet-ul")
    st.add_namespace("km-knet-ul")
    st.add_mount(tmp_path / "m/root")
    st.set_process(Proc("relay", ["x"], "log"))
    st.set_process(Proc("relay", ["x"], "log", 10, 99))
    loaded = MachinesState.load(tmp_path / "m")
    assert loaded is not None
    assert loaded.namespaces == ["km-knet-ul"]
    assert loaded.mounts == [str(tmp_path / "m/root")]
    assert loaded.processes == [Proc("relay", ["x"], "log", 10, 99)]
    loaded.drop_process("relay")
    assert MachinesState.load(tmp_path / "m").processes == []  # type: ignore[union-attr]


def test_unreadable_state_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(StateError, match=r"state\.json"):
        MachinesState.load(tmp_path)
    assert MachinesState.load(tmp_path / "absent") is None


MOUNTINFO = """\
22 1 0:21 / /proc rw - proc proc rw
90 30 0:50 / /var/lib/knet/machines/k/machines/w1/root rw - overlay overlay rw
91 90 0:51 / /var/lib/knet/machines/k/machines/w1/root/proc rw - proc proc rw
92 30 0:52 / /var/lib/knet/machines/k2/x rw - tmpfs tmpfs rw
93 30 0:53 / /var/lib/knet/machines/k/sp\\040ace rw - tmpfs tmpfs rw
"""


def test_mounts_under_is_deepest_first_and_exact_on_prefix() -> None:
    got = mounts.mounts_under(Path("/var/lib/knet/machines/k"), MOUNTINFO)
    assert got == [
        "/var/lib/knet/machines/k/machines/w1/root/proc",
        "/var/lib/knet/machines/k/machines/w1/root",
        "/var/lib/knet/machines/k/sp ace",
    ]
    assert mounts.mounts_under(Path("/elsewhere"), MOUNTINFO) == []


def test_nspawn_that_exits_at_once_is_one_line_with_its_log(tmp_path: Path) -> None:
    import subprocess

    from knet.machines import machine

    log = tmp_path / "m.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            ["sh", "-c", "echo Directory is not an OS tree; exit 1"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    popen.wait()
    with pytest.raises(machine.MachineError, match=r"nspawn exited \(1\): .*not an OS tree"):
        machine._wait_init(popen, log)
