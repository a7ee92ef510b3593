"""Who an exec'd command runs as and which cgroups it joins, read off the container's /proc
files (kubelet_lite.runtime.exec_identity): pure parsing, and the argv that switches user."""

from __future__ import annotations

from pathlib import Path

from kubelet_lite.runtime.exec_identity import Identity, parse_cgroups, parse_status, user_argv

STATUS = """Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
Uid:\t1000\t1001\t1001\t1001
Gid:\t2000\t2002\t2002\t2002
Groups:\t3000 3001\x20
CapBnd:\t0000000000000400
NoNewPrivs:\t1
"""


def test_the_effective_ids_groups_and_privileges_are_read() -> None:
    assert parse_status(STATUS) == Identity(1001, 2002, (3000, 3001), 0x400, True)
    assert parse_status("Name:\tinit\n") == Identity(0, 0, ())


def test_root_needs_no_switch_and_others_get_setpriv() -> None:
    assert user_argv(Identity(0, 0, ())) == []
    assert user_argv(Identity(1000, 1000, ())) == [
        "setpriv",
        "--reuid=1000",
        "--regid=1000",
        "--clear-groups",
        "--",
    ]
    assert user_argv(Identity(0, 0, (5, 6)))[3] == "--groups=5,6"


def test_a_narrower_bounding_set_and_no_new_privs_are_kept() -> None:
    full = Identity(0, 0, (), 0x1FF_FFFF_FFFF)
    assert user_argv(Identity(0, 0, (), 0x1FF_FFFF_FFFF), full) == []
    assert user_argv(Identity(0, 0, (), 0x401, True), full) == [
        "setpriv",
        "--bounding-set=-all,+cap_0,+cap_10",
        "--no-new-privs",
        "--",
    ]
    assert user_argv(Identity(0, 0, (), 0), full)[1] == "--bounding-set=-all"


def test_cgroup_v2_path() -> None:
    root = Path("/sys/fs/cgroup")
    assert parse_cgroups("0::/knet/podabc/main\n", root) == [root / "knet/podabc/main/cgroup.procs"]
    assert parse_cgroups("0::/\n", root) == []  # the root group: nothing to join


def test_cgroup_v1_paths_skip_named_and_root_hierarchies() -> None:
    root = Path("/sys/fs/cgroup")
    text = (
        "12:pids:/knet/podabc/main\n"
        "4:cpu,cpuacct:/knet/podabc/main\n"
        "3:memory:/knet/podabc/main\n"
        "2:blkio:/\n"
        "1:name=systemd:/user.slice\n"
    )
    assert parse_cgroups(text, root) == [
        root / "pids/knet/podabc/main/cgroup.procs",
        root / "cpu,cpuacct/knet/podabc/main/cgroup.procs",
        root / "memory/knet/podabc/main/cgroup.procs",
    ]
