"""The nf_tables client: a long-lived netlink socket plus a view of what it wrote.

A full sync replaces the table atomically in one transaction. A partial sync sends only the
difference between the view and the fragments that changed. A refused transaction leaves the
kernel as it was, but the view is dropped all the same, so the next sync must be full.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Hashable, Mapping

from knet.netlink import nftables as nl
from knet.netlink import nftsocket
from knet.netlink.errors import NetlinkError
from kproxy.nftables.ruleset import Fragment, View, apply_to_view, full_ops, plan_changes

log = logging.getLogger("kproxy.nftables")


class NftClient:
    """One table (``family``, ``name``) in one namespace (None: kproxy's own)."""

    def __init__(self, netns: str | None, name: str, family: int = nl.NFPROTO_IPV4) -> None:
        self.netns = netns
        self.table = nl.Table(family, name)
        self._sock: nftsocket.NftSocket | None = None
        self.view: View | None = None  # None: unknown, the next sync is full
        self.messages_sent = 0  # of the last transaction

    def _socket(self) -> nftsocket.NftSocket:
        if self._sock is None:
            self._sock = nftsocket.open_socket(self.netns)
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def full_sync(self, fragments: Mapping[Hashable, Fragment]) -> int:
        """Replace the table with ``fragments`` in one transaction; the number of messages."""
        self.view = None
        plan = plan_changes(View(), fragments)
        ops = full_ops(self.table, plan)
        self._transact(ops)
        view = View()
        apply_to_view(view, fragments, plan)
        self.view = view
        return len(ops)

    def partial_sync(self, changed: Mapping[Hashable, Fragment | None]) -> int:
        """Send the difference for the ``changed`` fragments (None: removed)."""
        if self.view is None:
            raise RuntimeError("no view of the table: a full sync is needed first")
        plan = plan_changes(self.view, changed)
        ops = plan.ops()
        view, self.view = self.view, None
        self._transact(ops)
        apply_to_view(view, changed, plan)
        self.view = view
        return len(ops)

    def _transact(self, ops: list[nl.Op]) -> None:
        self.messages_sent = len(ops)
        try:
            self._socket().transact(self.table, ops)
        except NetlinkError as e:
            if not isinstance(e, nftsocket.BatchError):  # the socket itself may be broken
                self.close()
            raise

    def rule_count(self, chain: str) -> int | None:
        """Rules the kernel holds in ``chain`` of our table (None: no such chain or table)."""
        attrs = [("NFTA_RULE_TABLE", self.table.name), ("NFTA_RULE_CHAIN", chain)]
        try:
            return len(self._socket().dump(self.table.family, nl.NFT_MSG_GETRULE, attrs))
        except NetlinkError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def intact(self, chain: str) -> bool:
        """False when ``chain`` no longer holds the rules we wrote (table deleted or flushed
        by someone else): the caller must resync fully."""
        if self.view is None:
            return False
        want = self.view.rules_of(chain)
        return want is not None and self.rule_count(chain) == want

    def delete_table(self) -> bool:
        """Remove the table (--cleanup); False if there was none."""
        self.view = None
        try:
            self._socket().transact(self.table, [nl.Op("delete", self.table)])
        except nftsocket.BatchError as e:
            if e.errno == errno.ENOENT:
                return False
            raise
        return True
