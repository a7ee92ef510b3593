"""The three PATCH content types of the Kubernetes API, as pure functions.

- `application/merge-patch+json`: RFC 7386 JSON merge patch (`kubectl label`, `kubectl scale`).
- `application/json-patch+json`: RFC 6902 JSON patch, applied with the `jsonpatch` library.
- `application/strategic-merge-patch+json`: Kubernetes' strategic merge patch (`kubectl apply`,
  the Python client's default for dict bodies), following apimachinery's `strategicpatch` as the
  apiserver runs it (parallel deletion lists merged, nulls for absent keys ignored).

Each takes an object and a decoded patch and returns a new object; the inputs are never mutated.
Bad patches raise `PatchError`, whose message is meant for the user.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Final

import jsonpatch
import jsonpointer
import orjson

from knet.apiserver.patch_schema import ATOMIC, Field, Schema, schema_for_kind

__all__ = [
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
]


# Upstream's defaults: the JSON patch library's accumulated copy limit (--max-request-bytes
# sized, 3 MiB) and the apiserver's cap on operations in one patch.
MAX_COPY_BYTES: Final = 3 * 1024 * 1024
MAX_JSON_PATCH_OPERATIONS: Final = 10000


class PatchError(ValueError):
    """The patch cannot be applied; the message says why, for the user."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _require_object(original: Any) -> None:
    # The object comes from storage, not from the user: a wrong type is our bug, not a 422.
    if not isinstance(original, dict):
        raise TypeError(f"the object to patch must be a dict, got {type(original).__name__}")


# --------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch


def apply_merge_patch(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: objects merge recursively, `null` removes a key, anything else replaces."""
    _require_object(original)
    if not isinstance(patch, dict):
        raise PatchError(f"a merge patch must be a JSON object, got {_type_name(patch)}")
    try:
        merged = _merge_patch_value(copy.deepcopy(original), patch)
    except RecursionError:
        raise PatchError("the patch is nested too deeply") from None
    assert isinstance(merged, dict)  # a dict patch always yields a dict
    return merged


def _merge_patch_value(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch_value(out.get(key), value)
    return out


# --------------------------------------------------------------------------------------------
# RFC 6902 JSON patch


def apply_json_patch(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 6902: apply the operations in order; any failing operation (including `test`) fails
    the whole patch, naming the operation."""
    _require_object(original)
    if not isinstance(patch, list):
        raise PatchError(f"a JSON patch must be an array of operations, got {_type_name(patch)}")
    doc: Any = copy.deepcopy(original)
    copied = 0
    # Copied so that values inserted into the result are never shared with the caller's patch.
    for index, op in enumerate(copy.deepcopy(patch)):
        if not isinstance(op, dict):
            raise PatchError(
                f"JSON patch operation {index} must be an object, got {_type_name(op)}"
            )
        if op.get("op") == "copy":
            # A few bytes of `copy` can double the document each time: count what they add.
            copied += _copy_size(doc, op)
            if copied > MAX_COPY_BYTES:
                raise PatchError(
                    "Unable to complete the copy, the accumulated size increase of copy is "
                    f"{copied}, exceeding the limit {MAX_COPY_BYTES}"
                )
        # One operation at a time, so the error can say which one failed.
        try:
            doc = jsonpatch.apply_patch(doc, [op], in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchError(f"{_describe_op(index, op)}: test failed: {exc}") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise PatchError(f"{_describe_op(index, op)}: {_pointer_reason(exc)}") from None
        except (TypeError, KeyError, IndexError, AttributeError, ValueError) as exc:
            # The library assumes well-formed operations; malformed members surface like this.
            raise PatchError(f"{_describe_op(index, op)}: invalid operation ({exc})") from None
    if not isinstance(doc, dict):
        raise PatchError(f"the patched document must be a JSON object, got {_type_name(doc)}")
    return doc


def _copy_size(doc: Any, op: Mapping[str, Any]) -> int:
    """The size, as JSON, of the value a `copy` operation would duplicate (0 if it names none:
    the operation then fails with its own error)."""
    source = op.get("from")
    if not isinstance(source, str):
        return 0
    try:
        value = jsonpointer.resolve_pointer(doc, source)
    except (jsonpointer.JsonPointerException, TypeError, KeyError, IndexError):
        return 0
    return len(orjson.dumps(value))


def _describe_op(index: int, op: Mapping[str, Any]) -> str:
    return f"JSON patch operation {index} ({op.get('op')!r} at {op.get('path')!r})"


def _pointer_reason(exc: Exception) -> str:
    reason = str(exc)
    # jsonpointer appends the whole document to "member 'x' not found in {...}": drop it.
    head, sep, _ = reason.partition(" not found in ")
    return f"{head} not found" if sep else reason


# --------------------------------------------------------------------------------------------
# Strategic merge patch

_PATCH: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER: Final = "$setElementOrder/"
_DELETE_PRIMITIVES: Final = "$deleteFromPrimitiveList/"

_REPLACE: Final = "replace"
_DELETE: Final = "delete"
_MERGE: Final = "merge"


class _Dropped:
    """Marks a value that vanishes from the result (a new map carrying `$patch: delete`)."""


_DROPPED: Final = _Dropped()


def apply_strategic_merge_patch(original: dict[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Kubernetes strategic merge patch for an object of the given Kind.

    Maps merge recursively and `null` deletes a key. Lists listed in `patch_schema` merge item by
    item on their merge key (or as a set, for primitives); all other lists are replaced.
    Directives: `$patch: replace|delete|merge` on a map or as a list item, `$retainKeys`,
    `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`. Directives never reach the
    result. As upstream, `$patch: delete` on a map that exists leaves it empty, and on one that
    does not exist leaves it absent. `$patch: merge` (rejected upstream) is accepted as a no-op.
    """
    _require_object(original)
    if not isinstance(patch, dict):
        raise PatchError(f"a strategic merge patch must be a JSON object, got {_type_name(patch)}")
    try:
        return _merge_map(copy.deepcopy(original), patch, schema_for_kind(kind), "")
    except RecursionError:
        raise PatchError("the patch is nested too deeply") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _where(path: str) -> str:
    return f" at {path}" if path else ""


def _merge_map(
    original: Mapping[str, Any], patch: Mapping[str, Any], schema: Schema, path: str
) -> dict[str, Any]:
    """Merge `patch` into a copy of `original`. Neither argument is modified."""
    if _PATCH in patch:
        directive = patch[_PATCH]
        if directive == _REPLACE:
            rest = {k: v for k, v in patch.items() if k != _PATCH}
            return _merge_map({}, rest, schema, path)
        if directive == _DELETE:
            return {}
        if directive != _MERGE:
            raise PatchError(f"unknown $patch directive {directive!r}{_where(path)}")

    out = dict(original)
    if _RETAIN_KEYS in patch:
        out = _retain_keys(out, patch, path)

    ordered: set[str] = set()
    deletions: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if not isinstance(key, str):
            raise PatchError(f"field names must be strings, got {key!r}{_where(path)}")
        if key in (_PATCH, _RETAIN_KEYS):
            continue
        if key.startswith(_SET_ORDER):
            field_name = _directive_target(key, _SET_ORDER, path)
            if _set_element_order(out, patch, field_name, value, schema, _join(path, field_name)):
                ordered.add(field_name)
        elif key.startswith(_DELETE_PRIMITIVES):
            deletions.append((_directive_target(key, _DELETE_PRIMITIVES, path), value))
        elif key.startswith("$"):
            raise PatchError(f"unknown strategic merge patch directive {key!r}{_where(path)}")

    for key, value in patch.items():
        if key.startswith("$") or key in ordered:
            continue
        _merge_field(out, key, value, schema.get(key, ATOMIC), _join(path, key))

    # After the other keys, so that a deletion wins over an addition of the same value.
    for field_name, to_delete in deletions:
        _delete_from_primitive_list(out, field_name, to_delete, _join(path, field_name))
    return out


def _merge_field(out: dict[str, Any], key: str, value: Any, meta: Field, path: str) -> None:
    if value is None:
        # Deletes the key; a null for a key that is absent is ignored, as the apiserver does.
        out.pop(key, None)
        return
    current = out.get(key)
    if isinstance(current, dict) and isinstance(value, dict):
        out[key] = _merge_map(current, value, meta.of, path)
    elif isinstance(current, list) and isinstance(value, list):
        out[key] = _merge_list(current, value, meta, path)
    else:
        # New key or a change of type: the patch value, with its directives resolved.
        new = _materialise(value, meta, path)
        if new is _DROPPED:
            out.pop(key, None)
        else:
            out[key] = new


def _materialise(value: Any, meta: Field, path: str) -> Any:
    """A patch value as it lands where nothing was before: directives applied, nulls dropped."""
    if isinstance(value, dict):
        if value.get(_PATCH) == _DELETE:
            return _DROPPED
        return _merge_map({}, value, meta.of, path)
    if isinstance(value, list):
        return _merge_list([], value, meta, path)
    return value


def _directive_target(key: str, prefix: str, path: str) -> str:
    target = key[len(prefix) :]
    if not target:
        raise PatchError(f"directive {key!r} names no field{_where(path)}")
    return target


def _retain_keys(out: dict[str, Any], patch: Mapping[str, Any], path: str) -> dict[str, Any]:
    retain = patch[_RETAIN_KEYS]
    if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
        raise PatchError(f"$retainKeys must be a list of field names{_where(path)}")
    kept = set(retain)
    for key, value in patch.items():
        if key.startswith("$") or value is None:
            continue
        if key not in kept:
            raise PatchError(
                f"field {key!r} is set by the patch but missing from $retainKeys{_where(path)}"
            )
    return {k: v for k, v in out.items() if k in kept}


def _delete_from_primitive_list(out: dict[str, Any], key: str, to_delete: Any, path: str) -> None:
    if not isinstance(to_delete, list):
        raise PatchError(f"$deleteFromPrimitiveList/{key} must be a list{_where(path)}")
    current = out.get(key)
    if not isinstance(current, list):
        return  # nothing to delete from
    _element_kind(current, to_delete, path=path)
    if any(isinstance(item, dict) for item in (*current, *to_delete)):
        raise PatchError(f"$deleteFromPrimitiveList applies to lists of primitives{_where(path)}")
    gone = {_token(item) for item in to_delete}
    out[key] = [item for item in current if _token(item) not in gone]


# Lists -------------------------------------------------------------------------------------


def _merge_list(original: list[Any], patch: list[Any], meta: Field, path: str) -> list[Any]:
    if not meta.merge:
        # Atomic: the patch list replaces the original (its items' directives still resolved).
        items = [
            _materialise(item, Field(of=meta.of), f"{path}[{i}]") for i, item in enumerate(patch)
        ]
        return [item for item in items if item is not _DROPPED]
    kind = _element_kind(original, patch, path=path)
    if kind == "scalar":
        merged = _dedupe([*original, *patch])
        return _ordered(merged, patch_order=patch, server_order=original, ident=_identity)
    if kind == "empty":
        return []
    key = meta.merge_key
    if not key:
        raise PatchError(f"cannot merge a list of objects without a merge key{_where(path)}")
    base, items = _apply_list_directives(original, patch, key, path)
    merged = list(base)
    for item in items:
        item_path = f"{path}[{key}={item[key]!r}]"
        index = _find(merged, key, item[key])
        if index is None:
            merged.append(_merge_map({}, item, meta.of, item_path))
        else:
            merged[index] = _merge_map(merged[index], item, meta.of, item_path)
    return _ordered(merged, patch_order=items, server_order=base, ident=_map_identity(key))


def _apply_list_directives(
    original: list[Any], patch: list[Any], key: str, path: str
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Handle `$patch` list items. Returns the base list (after deletions, or emptied by a
    replace) and the ordinary patch items, each checked to carry the merge key."""
    base = list(original)
    items: list[dict[str, Any]] = []
    replace = False
    for index, item in enumerate(patch):
        assert isinstance(item, dict)  # _element_kind said "map"
        if _PATCH not in item:
            if key not in item:
                raise PatchError(f"{path}[{index}]: item has no merge key {key!r}: {_short(item)}")
            items.append(item)
            continue
        directive = item[_PATCH]
        if directive == _DELETE:
            if key not in item:
                raise PatchError(
                    f"{path}[{index}]: $patch: delete needs the merge key {key!r}: {_short(item)}"
                )
            base = [x for x in base if not _matches(x, key, item[key])]
        elif directive == _REPLACE:
            replace = True
        elif directive != _MERGE:
            raise PatchError(f"{path}[{index}]: unknown $patch directive {directive!r}")
    if replace:
        # The list becomes exactly the ordinary items of the patch.
        return [], items
    return base, items


def _set_element_order(
    out: dict[str, Any],
    patch: Mapping[str, Any],
    key: str,
    order: Any,
    schema: Schema,
    path: str,
) -> bool:
    """Apply `$setElementOrder/<key>` together with the patch's `<key>` list.

    Returns True when it produced `out[key]` (so the main loop must skip `<key>`). Only merge
    lists are ordered: an atomic list in the patch is already in the order it will have.
    """
    if not isinstance(order, list):
        raise PatchError(f"$setElementOrder/{key} must be a list{_where(path)}")
    meta = schema.get(key, ATOMIC)
    if not meta.merge:
        meta = _merge_meta_from_order(order, meta)
    patch_list = patch.get(key)
    if not meta.merge or (key in patch and not isinstance(patch_list, list)):
        return False  # the main loop replaces or deletes the field
    current = out.get(key)
    original = current if isinstance(current, list) else []
    if key not in patch and not isinstance(current, list):
        return True  # neither side has the list: nothing to order
    merged = _merge_list(original, patch_list or [], meta, path)
    kind = _element_kind(original, patch_list or [], order, path=path)
    if kind == "map":
        if not meta.merge_key:
            raise PatchError(f"cannot merge a list of objects without a merge key{_where(path)}")
        ident = _map_identity(meta.merge_key)
        _check_order_entries(order, meta.merge_key, path)
    else:
        ident = _identity
    _check_order_consistent(patch_list or [], order, ident, path)
    out[key] = _ordered(merged, patch_order=order, server_order=original, ident=ident)
    return True


def _merge_meta_from_order(order: list[Any], meta: Field) -> Field:
    """Clients send `$setElementOrder` only for lists they know to merge, and its entries name
    the merge key ({key: value}). For a list missing from our table, trusting that beats
    replacing the list with the patch's partial items and silently losing fields."""
    if not order:
        return meta
    if all(isinstance(entry, dict) and len(entry) == 1 for entry in order):
        keys = {next(iter(entry)) for entry in order}
        if len(keys) == 1:
            return Field(merge=True, merge_key=keys.pop(), of=meta.of)
        return meta
    if not any(isinstance(entry, dict | list) for entry in order):
        return Field(merge=True, of=meta.of)
    return meta


def _check_order_entries(order: list[Any], key: str, path: str) -> None:
    for index, entry in enumerate(order):
        if not isinstance(entry, dict) or key not in entry:
            raise PatchError(
                f"$setElementOrder{_where(path)}: entry {index} has no merge key {key!r}"
            )


def _check_order_consistent(
    patch_list: list[Any], order: list[Any], ident: Callable[[Any], Hashable], path: str
) -> None:
    """Every ordinary patch item must appear in the order list, in the same relative order."""
    position = 0
    for item in patch_list:
        if isinstance(item, dict) and _PATCH in item:
            continue
        wanted = ident(item)
        while position < len(order) and ident(order[position]) != wanted:
            position += 1
        if position == len(order):
            raise PatchError(
                f"$setElementOrder{_where(path)} does not list {_short(item)} "
                "in the order of the patch list"
            )
        position += 1


def _ordered(
    merged: list[Any],
    *,
    patch_order: Sequence[Any],
    server_order: Sequence[Any],
    ident: Callable[[Any], Hashable],
) -> list[Any]:
    """Order a merged list as upstream does: items named by the patch follow the patch's order;
    the others (server-only) keep the live order; a server-only item goes before a patch item
    only when both were in the live list and it came first there."""
    patch_rank = _ranks(patch_order, ident)
    server_rank = _ranks(server_order, ident)
    from_patch = [item for item in merged if ident(item) in patch_rank]
    server_only = [item for item in merged if ident(item) not in patch_rank]
    from_patch.sort(key=lambda item: patch_rank[ident(item)])
    server_only.sort(key=lambda item: server_rank.get(ident(item), len(server_rank)))

    result: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(from_patch):
        left = server_rank.get(ident(server_only[i]))
        right = server_rank.get(ident(from_patch[j]))
        if left is not None and right is not None and left < right:
            result.append(server_only[i])
            i += 1
        else:
            result.append(from_patch[j])
            j += 1
    result.extend(server_only[i:])
    result.extend(from_patch[j:])
    return result


def _ranks(items: Sequence[Any], ident: Callable[[Any], Hashable]) -> dict[Hashable, int]:
    ranks: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        ranks.setdefault(ident(item), index)
    return ranks


def _element_kind(*lists: list[Any], path: str) -> str:
    """'map', 'scalar' or 'empty'. Merged lists must not mix objects with primitives."""
    kind = "empty"
    for items in lists:
        for item in items:
            if isinstance(item, list):
                raise PatchError(f"cannot merge a list of lists{_where(path)}")
            this = "map" if isinstance(item, dict) else "scalar"
            if kind != "empty" and this != kind:
                raise PatchError(f"list mixes objects and primitives{_where(path)}")
            kind = this
    return kind


# Identity and equality ----------------------------------------------------------------------


def _token(value: Any) -> Hashable:
    """A hashable identity with JSON equality: 1 == 1.0, but true != 1 and "1" != 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _identity(item: Any) -> Hashable:
    return _token(item)


def _map_identity(key: str) -> Callable[[Any], Hashable]:
    def ident(item: Any) -> Hashable:
        if isinstance(item, dict) and key in item:
            return _token(item[key])
        # Items without the key (only in malformed live data) are never matched by the patch.
        return ("unkeyed", id(item))

    return ident


def _matches(item: Any, key: str, value: Any) -> bool:
    return isinstance(item, dict) and key in item and _token(item[key]) == _token(value)


def _find(items: list[Any], key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if _matches(item, key, value):
            return index
    return None


def _dedupe(items: list[Any]) -> list[Any]:
    seen: set[Hashable] = set()
    out: list[Any] = []
    for item in items:
        token = _token(item)
        if token not in seen:
            seen.add(token)
            out.append(item)
    return out


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
