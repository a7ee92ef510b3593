"""Which of the runtime's own code directories a container's private tmpfs would hide."""

from __future__ import annotations

from kubelet_lite.runtime.mounts import code_roots


def test_only_directories_under_a_tmpfs_are_kept_outermost_first() -> None:
    candidates = [
        "/tmp/ci",
        "/tmp/ci/.venv/lib/python3.11/site-packages",  # inside /tmp/ci: covered by it
        "/tmp/other",
        "/root/.pyenv/versions/3.11.7/lib/python3.11",  # not under a tmpfs
        "/tmpfoo/x",  # a sibling whose name starts with "tmp" is not under /tmp
        "/run/knet/code",
    ]
    assert code_roots(["/tmp", "/run"], candidates) == ["/run/knet/code", "/tmp/ci", "/tmp/other"]


def test_nothing_to_keep_when_the_code_lives_elsewhere() -> None:
    assert code_roots(["/tmp", "/run"], ["/work/main", "/work/main/.venv"]) == []
    assert code_roots([], ["/tmp/ci"]) == []
    assert code_roots(["/tmp"], ["/tmp", "/tmp/"]) == []  # never the node's whole /tmp
