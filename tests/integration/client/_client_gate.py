"""An ApiClient whose list/watch calls can be held back, so a test decides exactly when an
informer is "disconnected" instead of racing it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from knet.client import ApiClient, ApiConnectionError, WatchEvent
from knet.client.rest import Selector


class GatedClient(ApiClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = asyncio.Event()  # set while a list/watch waits at the closed gate
        self.lists = 0
        self.connection_failures = 0

    async def _pass_gate(self) -> None:
        if not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
            self.held.clear()

    def close_gate(self) -> None:
        self.held.clear()
        self.gate.clear()

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: Selector | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        await self._pass_gate()
        self.lists += 1
        try:
            return await super().list(
                kind, namespace, label_selector=label_selector, field_selector=field_selector
            )
        except ApiConnectionError:
            self.connection_failures += 1
            raise

    async def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str,
        label_selector: Selector | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncGenerator[WatchEvent, None]:
        await self._pass_gate()
        stream = super().watch(
            kind,
            namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=allow_bookmarks,
        )
        try:
            async for ev in stream:
                yield ev
        except ApiConnectionError:
            self.connection_failures += 1
            raise
        finally:
            await stream.aclose()
