"""HTTP handlers: thin translations between requests and `Resources` calls."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from knet.api import hpaconvert, registry
from knet.api.registry import ResourceInfo
from knet.apiserver import (  # noqa: F401 (register printers)
    componentstatus,
    discovery,
    errors,
    eviction,
    openapi,
    printers,
    printers_core_ext,
    printers_groups,
)
from knet.apiserver import request as req
from knet.apiserver.deletion import DeleteOptions
from knet.apiserver.discovery import AGGREGATED_CONTENT_TYPE
from knet.apiserver.errors import ApiError
from knet.apiserver.keys import CONFIG, LOCAL_PROBES, RESOURCES, STORE
from knet.apiserver.negotiation import (
    Output,
    aggregated_discovery_version,
    choose_output,
    media_type,
)
from knet.apiserver.offload import YamlResponse, maybe_offload
from knet.apiserver.patch import (
    MAX_JSON_PATCH_OPERATIONS,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from knet.apiserver.resources import Resources
from knet.apiserver.selection import matches
from knet.apiserver.streaming.exec import pod_stream
from knet.apiserver.streaming.logs import pod_log
from knet.apiserver.watch import serve_watch

JSON = "application/json"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, headers=headers)


def status_response(
    status: dict[str, Any], code: int, headers: dict[str, str] | None = None
) -> web.Response:
    """A Status body as kube-apiserver writes it: JSON and a trailing newline."""
    body = orjson.dumps(status) + b"\n"
    return web.Response(body=body, status=code, content_type=JSON, headers=headers)


def _render(
    request: web.Request,
    info: ResourceInfo,
    body: dict[str, Any],
    status: int = 200,
    items: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Answer in the representation the client asked for: JSON, a Table, or YAML."""
    output = choose_output(request.headers.get("Accept"))
    if output is None:
        raise errors.not_acceptable(request.headers.get("Accept", ""))
    if output is Output.TABLE and body.get("kind") != "Status":
        rows = items if items is not None else [body]
        include = request.query.get("includeObject", "Metadata")
        if include not in ("Metadata", "Object", "None"):
            raise errors.bad_request(f'invalid includeObject "{include}"')
        table = printers.build_table(
            info.plural,
            rows,
            now=datetime.now(UTC),
            resource_version=str(body.get("metadata", {}).get("resourceVersion", "")),
            include_object=include,
        )
        return json_response(table, status, headers)
    if output is Output.YAML:
        return YamlResponse(body, items=len(items or ()), status=status, headers=headers)
    return json_response(body, status, headers)


def _resources(request: web.Request) -> Resources:
    return request.app[RESOURCES]


# ------------------------------------------------------------------------------- small endpoints


async def version(request: web.Request) -> web.Response:
    return json_response(discovery.version_info())


async def api_root(request: web.Request) -> web.Response:
    tag = aggregated_discovery_version(request.headers.get("Accept"))
    if tag:
        return web.Response(
            body=orjson.dumps(discovery.aggregated(core=True, version_tag=tag)),
            headers={"Content-Type": AGGREGATED_CONTENT_TYPE.format(v=tag)},
        )
    cfg = request.app[CONFIG]
    return json_response(discovery.api_versions(f"{cfg.bind_address}:{cfg.port}"))


async def apis_root(request: web.Request) -> web.Response:
    tag = aggregated_discovery_version(request.headers.get("Accept"))
    if tag:
        return web.Response(
            body=orjson.dumps(discovery.aggregated(core=False, version_tag=tag)),
            headers={"Content-Type": AGGREGATED_CONTENT_TYPE.format(v=tag)},
        )
    return json_response(discovery.api_group_list())


async def api_group(request: web.Request) -> web.Response:
    doc = discovery.api_group(request.match_info["group"])
    if doc is None:
        raise errors.path_not_found()
    return json_response(doc)


async def openapi_root(request: web.Request) -> web.Response:
    return json_response(openapi.root_document())


async def openapi_v2(request: web.Request) -> web.Response:
    """JSON when the client takes it. kubectl asks for protobuf only, which is not served: a
    404 tells it to use its compiled-in types, as before this document existed."""
    if choose_output(request.headers.get("Accept")) not in (Output.JSON,):
        raise errors.path_not_found()
    etag = openapi.swagger_etag()
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return json_response(openapi.swagger_document(), headers={"ETag": etag})


async def openapi_group_version(request: web.Request) -> web.Response:
    parts = [p for p in request.match_info["tail"].split("/") if p]
    if len(parts) == 2 and parts[0] == "api":
        doc = openapi.group_version_document("", parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        doc = openapi.group_version_document(parts[1], parts[2])
    else:
        doc = None
    if doc is None:
        raise errors.path_not_found()
    return json_response(doc)


# ------------------------------------------------------------------------------- resources


async def resource(request: web.Request) -> web.StreamResponse:
    """Every path under /api/v1 and /apis/{group}/{version}."""
    target = req.parse_target(request.path)
    method = request.method
    if target.info is None:
        if method != "GET":
            raise errors.method_not_allowed(method)
        doc = discovery.api_resource_list(target.group, target.version)
        assert doc is not None
        return json_response(doc)
    info = target.info
    # Negotiate the reply before acting, as upstream does: a write must not happen when its
    # answer is refused with 406.
    if choose_output(request.headers.get("Accept")) is None:
        raise errors.not_acceptable(request.headers.get("Accept", ""))
    if info.kind == "ComponentStatus":
        return await _component_statuses(request, info, target.name)
    if info.kind == "HorizontalPodAutoscaler" and info.version == "v1":
        return await _hpa_v1(request, info, target.namespace, target.name, target.subresource)
    if target.name is None:
        return await _collection(request, info, target.namespace)
    if target.subresource is None:
        return await _item(request, info, target.namespace, target.name)
    return await _subresource(request, info, target.namespace, target.name, target.subresource)


def _list_body(info: ResourceInfo, items: list[dict[str, Any]], rev: int) -> dict[str, Any]:
    return {
        "kind": info.list_kind,
        "apiVersion": info.api_version,
        "metadata": {"resourceVersion": str(rev)},
        "items": items,
    }


async def _collection(
    request: web.Request, info: ResourceInfo, namespace: str | None
) -> web.StreamResponse:
    res = _resources(request)
    method = request.method
    if method == "GET":
        labels, fields = req.selectors(request, info)
        if req.parse_bool(request.query.get("watch"), "watch"):
            return await serve_watch(request, res, info, namespace, labels, fields)
        rvm = request.query.get("resourceVersionMatch")
        if rvm and not request.query.get("resourceVersion"):
            raise errors.bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided"
            )
        cached = None
        if not request.query.get("limit"):  # pagination stays on the store path
            rv = request.query.get("resourceVersion")
            cached = res.list_cached(info, namespace, labels, fields, rv, rvm)
        items, rev = cached or await res.list_objects(info, namespace, labels, fields)
        return _render(request, info, _list_body(info, items, rev), items=items)
    if method == "POST":
        if namespace is None and info.namespaced:
            raise errors.method_not_allowed(method)
        obj = await _read_object(request, info, info.kind)
        headers = _strict_check(request, info, obj)
        created = await res.create(info, namespace, obj, dry_run=req.dry_run(request))
        return _render(request, info, created, status=201, headers=headers)
    if method == "DELETE":
        labels, fields = req.selectors(request, info)
        options = await _delete_options(request)
        items, rev = await res.list_objects(info, namespace, labels, fields)
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            try:
                deleted.append(
                    await res.delete(
                        info,
                        meta.get("namespace"),
                        meta["name"],
                        options,
                        dry_run=req.dry_run(request),
                    )
                )
            except ApiError as e:
                if e.reason != "NotFound":
                    raise
        return _render(request, info, _list_body(info, deleted, rev), items=deleted)
    raise errors.method_not_allowed(method)


async def _item(
    request: web.Request, info: ResourceInfo, namespace: str | None, name: str
) -> web.StreamResponse:
    res = _resources(request)
    method = request.method
    if method == "GET":
        return _render(request, info, await res.get(info, namespace, name))
    if method == "PUT":
        obj = await _read_object(request, info, info.kind)
        headers = _strict_check(request, info, obj)
        out = await res.update(info, namespace, name, obj, dry_run=req.dry_run(request))
        return _render(request, info, out, headers=headers)
    if method == "PATCH":
        patcher = await _read_patch(request, info.kind)
        warnings: dict[str, str] = {}

        def checked(current: dict[str, Any]) -> dict[str, Any]:
            # fieldValidation applies to the patched object, as upstream decodes it strictly.
            new = patcher(current)
            if isinstance(new, dict):
                warnings.update(_strict_check(request, info, new) or {})
            return new

        out = await res.guaranteed_update(
            info,
            namespace,
            name,
            _patch_mutator(info, name, checked),
            dry_run=req.dry_run(request),
        )
        return _render(request, info, out, headers=warnings or None)
    if method == "DELETE":
        options = await _delete_options(request)
        out = await res.delete(info, namespace, name, options, dry_run=req.dry_run(request))
        return _render(request, info, out)
    raise errors.method_not_allowed(method)


async def _subresource(
    request: web.Request, info: ResourceInfo, namespace: str | None, name: str, sub: str
) -> web.StreamResponse:
    res = _resources(request)
    method = request.method
    if sub in ("status", "finalize"):
        if method == "GET" and sub == "status":
            return _render(request, info, await res.get(info, namespace, name))
        if method == "PUT":
            obj = await _read_object(request, info, info.kind)
            out = await res.update(
                info, namespace, name, obj, subresource=sub, dry_run=req.dry_run(request)
            )
            return _render(request, info, out)
        if method == "PATCH" and sub == "status":
            patcher = await _read_patch(request, info.kind)
            out = await res.guaranteed_update(
                info,
                namespace,
                name,
                _patch_mutator(info, name, patcher),
                subresource=sub,
                dry_run=req.dry_run(request),
            )
            return _render(request, info, out)
        raise errors.method_not_allowed(method)
    if sub == "scale":
        return await _scale(request, res, info, namespace, name)
    if sub == "binding":
        if method != "POST":
            raise errors.method_not_allowed(method)
        return await _binding(request, res, info, namespace, name)
    if sub == "log":
        if method != "GET":
            raise errors.method_not_allowed(method)
        assert namespace is not None
        return await pod_log(request, res, namespace, name)
    if sub in ("exec", "attach", "portforward"):
        assert namespace is not None
        return await pod_stream(request, res, namespace, name, sub)
    if sub == "eviction":
        return await _eviction(request, res, info, namespace, name)
    raise errors.path_not_found()


# ------------------------------------------------------------------------------- scale, binding


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = spec.get("selector") or {}
    # A ReplicationController's selector is the label map itself.
    rc = obj.get("kind") == "ReplicationController"
    match_labels = selector if rc else selector.get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
        },
    }


def _replace(body: dict[str, Any], _current: dict[str, Any]) -> dict[str, Any]:
    return body


async def _scale(
    request: web.Request, res: Resources, info: ResourceInfo, namespace: str | None, name: str
) -> web.StreamResponse:
    method = request.method
    if method == "GET":
        return json_response(scale_of(await res.get(info, namespace, name)))
    if method not in ("PUT", "PATCH"):
        raise errors.method_not_allowed(method)
    if method == "PUT":
        body = await _read_object(request, info, "Scale")
        patcher: Callable[[dict[str, Any]], dict[str, Any]] = functools.partial(_replace, body)
    else:
        patcher = await _read_patch(request, "Scale")

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        scale = scale_of(current)
        try:
            new_scale = patcher(copy.deepcopy(scale))
        except PatchError as e:
            raise errors.ApiError(422, "Invalid", str(e)) from None
        wanted_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise errors.conflict(info, name)
        # Scale's spec.replicas is `omitempty` upstream: kubectl's PUT of 0 replicas leaves it out.
        replicas = (new_scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                info,
                name,
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                        "spec.replicas",
                    )
                ],
            )
        current.setdefault("spec", {})["replicas"] = replicas
        return current

    out = await res.guaranteed_update(info, namespace, name, mutate, dry_run=req.dry_run(request))
    return json_response(scale_of(out))


async def _binding(
    request: web.Request, res: Resources, info: ResourceInfo, namespace: str | None, name: str
) -> web.StreamResponse:
    body = await _read_object(request, info, "Binding")
    target = body.get("target")
    if not isinstance(target, dict) or not target.get("name"):
        raise errors.invalid(
            info, name, [errors.Cause("FieldValueRequired", "Required value", "target.name")]
        )
    node = target["name"]

    def mutate(pod: dict[str, Any]) -> dict[str, Any]:
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(
                409, "Conflict", f"pod {name} is being deleted, cannot be assigned to a host"
            )
        current = (pod.get("spec") or {}).get("nodeName")
        if current:
            raise errors.ApiError(
                409, "Conflict", f'pod {name} is already assigned to node "{current}"'
            )
        pod.setdefault("spec", {})["nodeName"] = node
        return pod

    # Binding sets spec.nodeName, which pod update validation forbids; the "binding" subresource
    # tells Resources to validate the result as an object instead (as upstream's binding REST).
    await res.guaranteed_update(info, namespace, name, mutate, subresource="binding")
    return status_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        201,
    )


async def _eviction(
    request: web.Request, res: Resources, info: ResourceInfo, namespace: str | None, name: str
) -> web.StreamResponse:
    if request.method != "POST":
        raise errors.method_not_allowed(request.method)
    assert namespace is not None
    body = await _read_object(request, info, "Eviction")
    options = eviction.check_body(body, namespace, name)
    out = await eviction.evict(res, namespace, name, options, dry_run=req.dry_run(request))
    return status_response(out, 201)


async def _component_statuses(
    request: web.Request, info: ResourceInfo, name: str | None
) -> web.StreamResponse:
    """Read-only, computed on each read (componentstatus.py): get and list, no watch."""
    if request.method != "GET" or req.parse_bool(request.query.get("watch"), "watch"):
        raise errors.method_not_allowed(request.method)
    items = await componentstatus.component_statuses(
        request.app[STORE], request.app.get(LOCAL_PROBES, {})
    )
    if name is not None:
        for item in items:
            if item["metadata"]["name"] == name:
                return _render(request, info, item)
        raise errors.not_found(info, name)
    labels, fields = req.selectors(request, info)
    items = [i for i in items if matches(info, i, labels, fields)]
    body = {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": {}, "items": items}
    return _render(request, info, body, items=items)


async def _hpa_v1(
    request: web.Request,
    info: ResourceInfo,
    namespace: str | None,
    name: str | None,
    sub: str | None,
) -> web.StreamResponse:
    """autoscaling/v1 HPAs: stored as v2, converted on the way in and out (no watch in v1)."""
    res, method, dry = _resources(request), request.method, req.dry_run(request)
    stored = registry.by_kind(info.kind)
    table = choose_output(request.headers.get("Accept")) is Output.TABLE

    def reply(obj: dict[str, Any], status: int = 200, **kw: Any) -> web.Response:
        # Tables are printed from the stored form, which the printer reads.
        return _render(request, info, obj if table else hpaconvert.to_v1(obj), status, **kw)

    if name is None and method == "GET" and not req.parse_bool(request.query.get("watch"), "w"):
        labels, fields = req.selectors(request, info)
        items, rev = await res.list_objects(stored, namespace, labels, fields)
        shown = items if table else [hpaconvert.to_v1(i) for i in items]
        return _render(request, info, _list_body(info, shown, rev), items=shown)
    if name is None and method == "POST" and namespace is not None:
        body = await _read_object(request, info, info.kind)
        headers = _strict_check(request, info, body)
        made = await res.create(stored, namespace, hpaconvert.to_v2(body), dry_run=dry)
        return reply(made, 201, headers=headers)
    if name is None or sub not in (None, "status"):
        raise errors.method_not_allowed(method)
    if method == "GET":
        return reply(await res.get(stored, namespace, name))
    if method == "PUT":
        body = hpaconvert.to_v2(await _read_object(request, info, info.kind))
        return reply(await res.update(stored, namespace, name, body, subresource=sub, dry_run=dry))
    if method == "PATCH":
        patcher = await _read_patch(request, info.kind)
        mutate = _patch_mutator(
            info, name, lambda current: hpaconvert.to_v2(patcher(hpaconvert.to_v1(current)))
        )
        out = await res.guaranteed_update(
            stored, namespace, name, mutate, subresource=sub, dry_run=dry
        )
        return reply(out)
    if method == "DELETE" and sub is None:
        options = await _delete_options(request)
        return reply(await res.delete(stored, namespace, name, options, dry_run=dry))
    raise errors.method_not_allowed(method)


# ------------------------------------------------------------------------------- bodies


async def _read_object(request: web.Request, info: ResourceInfo, kind: str) -> dict[str, Any]:
    raw = await req.read_body(request)
    content_type = request.headers.get("Content-Type", "")
    return await maybe_offload(len(raw), req.decode_object, raw, content_type, info, kind)


def _strict_check(
    request: web.Request, info: ResourceInfo, obj: dict[str, Any]
) -> dict[str, str] | None:
    mode = request.query.get("fieldValidation", "")
    if mode not in ("", "Ignore", "Warn", "Strict"):
        raise errors.bad_request(
            f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not "{mode}"'
        )
    if mode in ("", "Ignore"):
        return None
    from knet.apiserver.models import top_level_fields

    unknown = req.strict_unknown_fields(obj, set(top_level_fields(info.kind)))
    if not unknown:
        return None
    text = ", ".join(f'unknown field "{u}"' for u in unknown)
    if mode == "Strict":
        raise errors.bad_request(
            f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
            f"strict decoding error: {text}"
        )
    # One warning per field, as upstream; quotes escaped inside the quoted warn-text (RFC 9111).
    warnings = (f'299 - "unknown field \\"{u}\\""' for u in unknown)
    return {"Warning": ", ".join(warnings)}


_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


async def _read_patch(
    request: web.Request, kind: str
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    content_type = request.headers.get("Content-Type", "")
    kind_of_patch = media_type(content_type)
    raw = await req.read_body(request)
    if kind_of_patch not in _PATCH_TYPES:
        raise errors.unsupported_media_type(content_type)
    doc = await maybe_offload(len(raw), req.decode_document, raw, JSON)
    if kind_of_patch == "application/json-patch+json":
        if isinstance(doc, list) and len(doc) > MAX_JSON_PATCH_OPERATIONS:
            raise errors.entity_too_large(
                "The allowed maximum operations in a JSON patch is "
                f"{MAX_JSON_PATCH_OPERATIONS}, got {len(doc)}"
            )
        return lambda obj: apply_json_patch(obj, doc)
    if kind_of_patch == "application/merge-patch+json":
        return lambda obj: apply_merge_patch(obj, doc)
    return lambda obj: apply_strategic_merge_patch(obj, doc, kind)


def _patch_mutator(
    info: ResourceInfo, name: str, patcher: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        rv = current["metadata"]["resourceVersion"]
        try:
            new = patcher(current)
        except PatchError as e:
            raise errors.ApiError(422, "Invalid", str(e)) from None
        if not isinstance(new, dict):
            raise errors.bad_request("the patch must leave an object")
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        # A patch that names a resourceVersion is a precondition on it.
        if meta.get("resourceVersion") not in (None, rv):
            raise errors.conflict(info, name)
        if meta.get("name") != name:
            raise errors.bad_request("the patch may not change the object's name")
        return new

    return mutate


async def _delete_options(request: web.Request) -> DeleteOptions:
    raw = await req.read_body(request)
    body: dict[str, Any] = {}
    if raw.strip():
        doc = req.decode_document(raw, request.headers.get("Content-Type", JSON))
        if not isinstance(doc, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        body = doc
    grace = body.get("gracePeriodSeconds")
    q_grace = req.parse_int(request.query.get("gracePeriodSeconds"), "gracePeriodSeconds")
    if q_grace is not None:
        grace = q_grace
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.bad_request("gracePeriodSeconds must be an integer")
    policy = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.bad_request(
            f'propagationPolicy must be Orphan, Background or Foreground, not "{policy}"'
        )
    pre = body.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise errors.bad_request("preconditions must be an object")
    return DeleteOptions(
        grace_period_seconds=grace,
        propagation_policy=policy,
        precondition_uid=pre.get("uid"),
        precondition_rv=pre.get("resourceVersion"),
    )
