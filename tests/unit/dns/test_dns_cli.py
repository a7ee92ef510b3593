"""`knet dns` flags: bad ones are one readable line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from knet.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dns-port", "x"], "'x' is not a port number"),
        (["--health-port", "70000"], "'70000' is not a port number"),
        (["--upstream", "dns.google"], "'dns.google' is not an IP address"),
        (["--upstream", "10.0.0.1:99999"], "'99999' is not a port number"),
        (["--cluster-domain", "a..b"], "is not a domain name"),
        (["--cache-size", "-1"], "'-1' is not a whole number"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dns", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err


def test_missing_kubeconfig_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["dns", "--kubeconfig", f"{tmp_path}/none", "--upstream", "127.0.0.1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("knet dns: ") and len(err.strip().splitlines()) == 1
