"""Which RulesBackend(s) the flags ask for, for the modes that program iptables."""

from __future__ import annotations

from kproxy.backend.base import RulesBackend
from kproxy.backend.iptc import IptcBackend
from kproxy.backend.restore import RestoreBackend
from kproxy.cli import Options


def make_backend(opts: Options) -> RulesBackend:
    """The backend a running kproxy writes through (``auto`` detects the flavour)."""
    if opts.iptables_backend == "python-iptables":
        return IptcBackend()
    return RestoreBackend(opts.iptables_variant)


def cleanup_backends(opts: Options) -> list[RulesBackend]:
    """For --cleanup: with ``auto`` both iptables flavours, as either may hold rules."""
    if opts.iptables_backend == "python-iptables":
        return [IptcBackend()]
    if opts.iptables_variant == "auto":
        return [RestoreBackend("legacy"), RestoreBackend("nft")]
    return [RestoreBackend(opts.iptables_variant)]
