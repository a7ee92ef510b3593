"""Where the RBAC authorizer's index comes from: the four RBAC resources, read from their watch
caches (or the store), and rebuilt only when one of them changed."""

from __future__ import annotations

import time
from typing import Any

from knet.api import registry
from knet.apiserver.auth.rbac import Authorizer, RbacIndex
from knet.apiserver.resources import Resources

KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
# Without a watch cache the store is listed again at most this often (seconds).
_STORE_REFRESH = 1.0


class RbacSource:
    def __init__(self, res: Resources) -> None:
        self.res = res
        self.infos = [registry.by_kind(k) for k in KINDS]
        self._version: tuple[int, ...] | None = None
        self._authorizer = Authorizer(RbacIndex({}))
        self._listed_at = 0.0

    def _cache_version(self) -> tuple[int, ...] | None:
        caches = self.res.watch_cache
        if caches is None:
            return None
        out = []
        for info in self.infos:
            cache = caches.get(info)
            if cache is None:
                return None
            out.append(cache.revision)
        return tuple(out)

    async def authorizer(self) -> Authorizer:
        version = self._cache_version()
        if version is not None:
            if version != self._version:
                self._rebuild(self._from_caches())
                self._version = version
            return self._authorizer
        now = time.monotonic()
        if now - self._listed_at >= _STORE_REFRESH:
            lists = [
                (await self.res.list_objects(info, None, None, None))[0] for info in self.infos
            ]
            self._rebuild(lists)
            self._listed_at = now
        return self._authorizer

    def invalidate(self) -> None:
        """An RBAC write just happened through this server: rebuild on the next decision."""
        self._version = None
        self._listed_at = 0.0

    def _from_caches(self) -> list[list[dict[str, Any]]]:
        caches = self.res.watch_cache
        assert caches is not None
        out = []
        for info in self.infos:
            cache = caches.get(info)
            assert cache is not None
            out.append(list(cache.objects.values()))
        return out

    def _rebuild(self, lists: list[list[dict[str, Any]]]) -> None:
        roles, cluster_roles, role_bindings, cluster_role_bindings = lists
        index = RbacIndex.build(roles, cluster_roles, role_bindings, cluster_role_bindings)
        self._authorizer = Authorizer(index)
