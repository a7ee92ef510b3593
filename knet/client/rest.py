"""The async REST client: one aiohttp session, objects as plain dicts, errors as `ApiError`.

Kinds are named as the registry names them ("Pod", "Deployment"); paths come from its table.
For a namespaced kind, `namespace=None` means the client's default namespace (the kubeconfig
context's) for single objects, and every namespace for `list` and `watch`, as kubectl's `-A`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
import orjson

from knet.api.base import KubeModel, to_wire
from knet.api.registry import ResourceInfo
from knet.client.config import ClientConfig, config_from_url, load_kubeconfig
from knet.client.errors import ApiConnectionError, ApiError
from knet.client.events import LineSplitter, WatchEvent, WatchProtocolError, decode_event
from knet.client.paths import collection_path, item_path, resource_info

JSON = "application/json"
PatchType = Literal["merge", "strategic", "json"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
# A request body: a wire dict, or a knet.api model (written with `to_wire`).
Body = Mapping[str, Any] | KubeModel
# A label selector as text ("app=web,tier!=db") or as a map of required labels.
Selector = str | Mapping[str, str]

# Connection failures, as aiohttp and the OS report them.
_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
# A watch's read timeout beyond the timeout the server was asked for: the server ends the
# stream itself; this only catches a connection that died silently.
_WATCH_READ_GRACE = 30.0


def _as_dict(body: Body) -> dict[str, Any]:
    if isinstance(body, KubeModel):
        return to_wire(body)
    return dict(body)


def selector_text(selector: Selector | None) -> str | None:
    if selector is None or isinstance(selector, str):
        return selector
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


class RestTransport:
    """The connection to one API server: its HTTP session (opened on first use, inside the
    running event loop; closed with `close()` or `async with`) and one request at a time."""

    def __init__(self, config: ClientConfig, *, request_timeout: float = 30.0) -> None:
        self.config = config
        self.request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path | str | None = None, context: str | None = None) -> Self:
        return cls(load_kubeconfig(path, context))

    @classmethod
    def from_url(cls, url: str, namespace: str = "default") -> Self:
        return cls(config_from_url(url, namespace))

    @property
    def namespace(self) -> str:
        """The default namespace for namespaced objects named without one."""
        return self.config.namespace

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            cfg = self.config
            connector: aiohttp.BaseConnector
            # No pool limit: every informer holds a watch open for minutes, and a bounded pool
            # would let watches starve ordinary requests.
            if cfg.unix_socket is not None:
                connector = aiohttp.UnixConnector(path=str(cfg.unix_socket), limit=0)
            else:
                connector = aiohttp.TCPConnector(limit=0, ssl=cfg.ssl_context())
            headers = {"Accept": JSON, "User-Agent": "knet-client/0.1"}
            if cfg.token:
                headers["Authorization"] = f"Bearer {cfg.token}"
            self._session = aiohttp.ClientSession(
                base_url=cfg.base_url, connector=connector, headers=headers
            )
        return self._session

    # ------------------------------------------------------------------ plumbing

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        """One request; the decoded JSON reply, or `ApiError` / `ApiConnectionError`."""
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else None
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        try:
            async with self._http().request(
                method, path, params=params, data=data, headers=headers, timeout=timeout
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except _TRANSPORT_ERRORS as e:
            raise ApiConnectionError(f"{method} {path}: {type(e).__name__}: {e}") from e
        if status >= 300:
            raise ApiError.from_response(status, raw)
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ApiError(status, "InternalError", f"reply is not JSON: {raw[:200]!r}") from e


class ApiClient(RestTransport):
    """Talks to one API server in Kubernetes' verbs (get, list, create, replace, patch, delete,
    bind, watch) over a `RestTransport`. Create it anywhere."""

    def _ns(self, info: ResourceInfo, namespace: str | None, obj: Body | None = None) -> str | None:
        if not info.namespaced:
            return None
        if namespace:
            return namespace
        if obj is not None:
            meta = _meta(_as_dict(obj))
            if meta.get("namespace"):
                return str(meta["namespace"])
        return self.namespace

    @staticmethod
    def _kind_of(obj: Mapping[str, Any]) -> ResourceInfo:
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ValueError("the object has no kind; set obj['kind'] (e.g. 'Pod')")
        return resource_info(kind)

    @staticmethod
    def _name_of(obj: Mapping[str, Any]) -> str:
        name = _meta(obj).get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("the object has no metadata.name")
        return name

    # ------------------------------------------------------------------ reads

    async def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        info = resource_info(kind)
        out: dict[str, Any] = await self.request(
            "GET", item_path(info, self._ns(info, namespace), name)
        )
        return out

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: Selector | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """The items and the list's resourceVersion (to watch from). Items get their kind and
        apiVersion filled in, so that listed and watched objects look alike."""
        info = resource_info(kind)
        params = {}
        if (labels := selector_text(label_selector)) is not None:
            params["labelSelector"] = labels
        if field_selector is not None:
            params["fieldSelector"] = field_selector
        doc = await self.request("GET", collection_path(info, namespace), params=params)
        if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
            raise ApiError(500, "InternalError", f"list of {info.plural} has no items")
        items: list[dict[str, Any]] = doc["items"]
        for item in items:
            item.setdefault("kind", info.kind)
            item.setdefault("apiVersion", info.api_version)
        rv = str(_meta(doc).get("resourceVersion") or "")
        return items, rv

    # ------------------------------------------------------------------ writes

    async def create(self, obj: Body, namespace: str | None = None) -> dict[str, Any]:
        body = _as_dict(obj)
        info = self._kind_of(body)
        body.setdefault("apiVersion", info.api_version)
        path = collection_path(info, self._ns(info, namespace, body))
        out: dict[str, Any] = await self.request("POST", path, body=body)
        return out

    async def replace(self, obj: Body) -> dict[str, Any]:
        """PUT: fails with 409 Conflict if the object's resourceVersion is no longer current."""
        return await self._put(obj, None)

    async def replace_status(self, obj: Body) -> dict[str, Any]:
        return await self._put(obj, "status")

    async def _put(self, obj: Body, subresource: str | None) -> dict[str, Any]:
        body = _as_dict(obj)
        info = self._kind_of(body)
        body.setdefault("apiVersion", info.api_version)
        path = item_path(info, self._ns(info, None, body), self._name_of(body), subresource)
        out: dict[str, Any] = await self.request("PUT", path, body=body)
        return out

    async def patch(
        self,
        kind: str,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """A merge patch (dict), strategic merge patch (dict) or JSON patch (list of ops)."""
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_CONTENT_TYPES)}")
        if (patch_type == "json") != (not isinstance(patch, Mapping)):
            raise ValueError("a json patch is a list of operations; merge patches are objects")
        info = resource_info(kind)
        path = item_path(info, self._ns(info, namespace), name, subresource)
        body = patch if isinstance(patch, Mapping) else list(patch)
        out: dict[str, Any] = await self.request(
            "PATCH", path, body=body, content_type=content_type
        )
        return out

    async def patch_status(
        self,
        kind: str,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> dict[str, Any]:
        return await self.patch(
            kind, name, patch, namespace=namespace, patch_type=patch_type, subresource="status"
        )

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None,
        precondition_uid: str | None = None,
        precondition_resource_version: str | None = None,
    ) -> dict[str, Any]:
        """The deleted object (or, for a graceful delete, the object marked for deletion)."""
        info = resource_info(kind)
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        pre = {
            k: v
            for k, v in (
                ("uid", precondition_uid),
                ("resourceVersion", precondition_resource_version),
            )
            if v is not None
        }
        if pre:
            options["preconditions"] = pre
        out: dict[str, Any] = await self.request(
            "DELETE", item_path(info, self._ns(info, namespace), name), body=options
        )
        return out

    async def bind(self, pod_namespace: str, pod_name: str, node_name: str) -> None:
        """Assign a pod to a node through pods/binding, as a scheduler does."""
        info = resource_info("Pod")
        binding = {
            "kind": "Binding",
            "apiVersion": "v1",
            "metadata": {"name": pod_name, "namespace": pod_namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        await self.request(
            "POST", item_path(info, pod_namespace, pod_name, "binding"), body=binding
        )

    # ------------------------------------------------------------------ watch

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
        """One watch request: events after `resource_version` ("" = current state as ADDED
        events, then changes) until the server ends the stream. Raises `ExpiredError` when the
        version is older than the server's history, `ApiConnectionError` if the connection
        breaks. It does not reconnect; `list_then_watch` does."""
        info = resource_info(kind)
        params = {"watch": "true", "resourceVersion": resource_version}
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        if (labels := selector_text(label_selector)) is not None:
            params["labelSelector"] = labels
        if field_selector is not None:
            params["fieldSelector"] = field_selector
        read_timeout = None if timeout_seconds is None else timeout_seconds + _WATCH_READ_GRACE
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.request_timeout, sock_read=read_timeout
        )
        path = collection_path(info, namespace)
        splitter = LineSplitter()
        try:
            async with self._http().get(path, params=params, timeout=timeout) as resp:
                try:
                    if resp.status != 200:
                        raise ApiError.from_response(resp.status, await resp.read())
                    async for chunk in resp.content.iter_any():
                        for line in splitter.feed(chunk):
                            yield decode_event(line)
                finally:
                    # A watch connection is never reused: close it, read to the end or not.
                    resp.close()
        except _TRANSPORT_ERRORS as e:
            raise ApiConnectionError(f"watch {path}: {type(e).__name__}: {e}") from e
        if splitter.pending().strip():
            raise WatchProtocolError("watch stream ended in the middle of an event")
