"""The chaos load's pure checks: watch order and acknowledged writes a watcher missed."""

from __future__ import annotations

from knet.testing.haload import WatchLog, configmap, missed
from knet.testing.linearizability import Kind, Op, Outcome


def write(version: int) -> Op:
    return Op("w", "k", Kind.CAS, 0.0, 1.0, Outcome.OK, "v", version - 1, version)


def test_order_must_strictly_increase_across_resumes() -> None:
    log = WatchLog(events=[(5, "ADDED", "a"), (7, "MODIFIED", "a"), (9, "MODIFIED", "b")])
    assert log.check_order() == []
    log.events.append((9, "MODIFIED", "b"))  # a repeat after a resume
    assert log.check_order() == ["watch went from revision 9 to 9 (MODIFIED b)"]


def test_missed_writes_within_the_watched_range() -> None:
    log = WatchLog(events=[(5, "ADDED", "a"), (9, "MODIFIED", "a")])
    writes = [write(5), write(7), write(9), write(12)]
    # 7 is a gap; 12 came after the watcher's last event, so it proves nothing.
    assert [op.version for op in missed(log, writes)] == [7]


def test_a_relist_after_410_excuses_earlier_gaps() -> None:
    log = WatchLog(events=[(5, "ADDED", "a"), (9, "MODIFIED", "a")], relists=[8])
    assert missed(log, [write(5), write(7), write(9)]) == []


def test_configmap_carries_the_precondition() -> None:
    cm = configmap("k", "v", 42)
    assert cm["metadata"]["resourceVersion"] == "42" and cm["data"] == {"v": "v"}
    assert "resourceVersion" not in configmap("k", "v")["metadata"]
