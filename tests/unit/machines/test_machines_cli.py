"""Bad input and missing tools: one readable line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from knet import cli
from knet.machines import up


def test_not_root_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up.os, "geteuid", lambda: 1000)
    with pytest.raises(up.UpError, match="must run as root"):
        up.preflight()


def test_missing_nspawn_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up.os, "geteuid", lambda: 0)
    with pytest.raises(up.UpError, match=r"apt-get install systemd-container"):
        up.preflight(which=lambda tool: None if tool == "systemd-nspawn" else "/usr/bin/x")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["machines", "up", "--name", "Bad-Name"], "must be 1-8 lower-case"),
        (["machines", "up", "--nodes", "0"], "--nodes must be between"),
    ],
)
def test_bad_arguments_exit_1_with_one_line(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(up, "preflight", lambda: None)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_down_of_unknown_machines_removes_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from knet.machines import down

    report = down.down("nosuch", state_root=tmp_path)
    assert report.problems == []
    assert "nothing recorded" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_state_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "state.json").write_text("{")
    from knet.machines import layout

    with pytest.raises(up.UpError, match=r"cannot read .*state\.json"):
        up.load_or_create(layout.build("k", 3, tmp_path), 3)


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Machines "k" recorded under tmp_path (no machine booted: none is running)."""
    from knet.machines import cli as mcli
    from knet.machines import layout
    from knet.machines.state import MachinesState

    real = layout.build
    monkeypatch.setattr(mcli.layout, "build", lambda name, nodes: real(name, nodes, tmp_path))
    monkeypatch.setattr(mcli.os, "geteuid", lambda: 0)
    lay = real("k", 3, tmp_path)
    lay.directory.mkdir(parents=True)
    MachinesState(directory=lay.directory, name="k", nodes=3, port=1).save()
    return lay.directory


@pytest.mark.parametrize(
    ("argv", "running", "message"),
    [
        (["machines", "stop", "--name", "k", "knet-w1"], False, "knet-w1 is already stopped"),
        (["machines", "start", "--name", "k", "knet-w2"], True, "knet-w2 is already running"),
        (["machines", "stop", "--name", "k", "knet-w9"], True, "no machine 'knet-w9'"),
        (["machines", "start", "--name", "nope", "knet-w1"], False, "machines nope are not up"),
    ],
)
def test_stop_and_start_refuse_what_cannot_be_done_in_one_line(
    argv: list[str],
    running: bool,
    message: str,
    recorded: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from knet.machines import machine

    monkeypatch.setattr(machine, "running", lambda state, m: running)
    monkeypatch.setattr(machine, "power_off", lambda *a: pytest.fail("must not power off"))
    monkeypatch.setattr(machine, "boot", lambda *a: pytest.fail("must not boot"))
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
