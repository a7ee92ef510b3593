"""The backends under test, by name, each aimed at a scratch namespace."""

from __future__ import annotations

from collections.abc import Callable

from kproxy.backend.base import RulesBackend
from kproxy.backend.iptc import IptcBackend
from kproxy.backend.restore import RestoreBackend

BackendFactory = Callable[[str], RulesBackend]

BACKENDS: dict[str, BackendFactory] = {
    "restore-legacy": lambda ns: RestoreBackend("legacy", netns=ns),
    "restore-nft": lambda ns: RestoreBackend("nft", netns=ns),
    "python-iptables": lambda ns: IptcBackend(netns=ns),
}
