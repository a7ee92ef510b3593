"""An informer's cache: objects by key, plus indexes. Pure (no I/O, no asyncio).

Keys are client-go's: "namespace/name" for namespaced objects, "name" for cluster-scoped ones.
An index function maps an object to the values it is filed under (a pod under its node's name,
say); `by_index("node", "n1")` then finds every pod on n1 without a scan.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("object has no metadata.name; cannot key it")
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """(namespace or None, name) of a cache key."""
    namespace, sep, name = key.rpartition("/")
    return (namespace if sep else None), name


def namespace_index(obj: Obj) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def field_index(*path: str) -> IndexFunc:
    """An index on one string field, e.g. `field_index("spec", "nodeName")`; objects where the
    field is missing or empty are not indexed."""

    def index(obj: Obj) -> list[str]:
        cur: Any = obj
        for part in path:
            cur = cur.get(part) if isinstance(cur, dict) else None
        return [cur] if isinstance(cur, str) and cur else []

    return index


class Cache:
    """Objects by key with any number of indexes kept in step on every change."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {}
        # index name -> indexed value -> keys filed under it
        self._indices: dict[str, dict[str, set[str]]] = {}
        if indexers:
            self.add_indexers(indexers)

    # ------------------------------------------------------------------ writes

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes, built at once over what the cache already holds."""
        for name, func in indexers.items():
            if name in self._indexers:
                raise ValueError(f"index {name!r} already exists")
            self._indexers[name] = func
            self._indices[name] = {}
            for key, obj in self._items.items():
                self._file(name, func, key, obj)

    def upsert(self, obj: Obj) -> Obj | None:
        """Store `obj` under its key; returns the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unfile_all(key, old)
        self._items[key] = obj
        for name, func in self._indexers.items():
            self._file(name, func, key, obj)
        return old

    def remove(self, key: str) -> Obj | None:
        """Drop the object under `key`; returns it, or None if there was none."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unfile_all(key, old)
        return old

    def replace(self, objs: Iterable[Obj]) -> None:
        """Hold exactly `objs` (a relist), rebuilding the indexes."""
        self._items = {object_key(o): o for o in objs}
        self._indices = {name: {} for name in self._indexers}
        for key, obj in self._items.items():
            for name, func in self._indexers.items():
                self._file(name, func, key, obj)

    def _file(self, name: str, func: IndexFunc, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in func(obj):
            index.setdefault(value, set()).add(key)

    def _unfile_all(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]  # no empty buckets left behind as values churn

    # ------------------------------------------------------------------ reads

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, name: str, namespace: str | None = None) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def list(self) -> builtins.list[Obj]:
        return list(self._items.values())

    def index_names(self) -> builtins.list[str]:
        return list(self._indexers)

    def index_keys(self, index: str, value: str) -> builtins.list[str]:
        return sorted(self._index(index).get(value, ()))

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        return [self._items[k] for k in self.index_keys(index, value)]

    def index_values(self, index: str) -> builtins.list[str]:
        return sorted(self._index(index))

    def _index(self, index: str) -> dict[str, set[str]]:
        try:
            return self._indices[index]
        except KeyError:
            raise KeyError(f"no index named {index!r}; have {sorted(self._indices)}") from None
