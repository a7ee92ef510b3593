"""The root filesystem cache: its key follows its inputs, and a half-built one is never used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knet.machines import image

CHECKOUT = Path(__file__).resolve().parents[3]


def _fake_checkout(tmp_path: Path) -> Path:
    root = tmp_path / "co"
    (root / "vagrant" / "provision").mkdir(parents=True)
    shutil.copy(CHECKOUT / "vagrant/provision/common.sh", root / "vagrant/provision/common.sh")
    shutil.copy(CHECKOUT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_key_changes_with_common_sh_and_pyproject_only(tmp_path: Path) -> None:
    co = _fake_checkout(tmp_path)
    key = image.cache_key(co)
    assert key == image.cache_key(co)
    (co / "README.md").write_text("not an input")
    assert image.cache_key(co) == key
    (co / "vagrant/provision/common.sh").write_text("#!/usr/bin/env bash\necho changed\n")
    changed = image.cache_key(co)
    assert changed != key
    (co / "pyproject.toml").write_text("[project]\nname='x'\n")
    assert image.cache_key(co) not in (key, changed)


def test_an_image_without_its_marker_is_not_ready(tmp_path: Path) -> None:
    img = image.Image(key="k", directory=tmp_path / "rootfs-k")
    (img.root / "sbin").mkdir(parents=True)
    (img.root / "sbin" / "init").write_text("")
    assert not img.ready()
    (img.directory / "complete").write_text("k\n")
    assert img.ready()
    assert img.partial == tmp_path / "rootfs-k.partial"


def test_mmdebstrap_argv_runs_common_sh_in_the_new_root() -> None:
    argv = image.mmdebstrap_argv(Path("/stage"), Path("/t/root"))
    assert argv[0] == "mmdebstrap" and argv[-2:] == ["bookworm", "/t/root"]
    hooks = [a.split("=", 1)[1] for a in argv if a.startswith("--customize-hook=")]
    common = next(h for h in hooks if "common.sh" in h)
    assert common.startswith('chroot "$1" env -i ')
    assert any("/stage/." in h for h in hooks)
    assert any("machine-id" in h and "hostname" in h for h in hooks)


def test_copy_checkout_leaves_out_vcs_and_venvs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel in ("knet/a.py", ".git/HEAD", ".venv/bin/python", "x.egg-info/PKG-INFO"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    image.copy_checkout(src, tmp_path / "dst")
    got = sorted(str(p.relative_to(tmp_path / "dst")) for p in (tmp_path / "dst").rglob("*"))
    assert got == ["knet", "knet/a.py"]


def test_missing_mmdebstrap_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image.shutil, "which", lambda _: None)
    with pytest.raises(image.ImageError, match="apt-get install mmdebstrap"):
        image.ensure(_fake_checkout(tmp_path), print, cache_root=tmp_path / "cache")
