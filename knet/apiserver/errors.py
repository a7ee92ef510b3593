"""API errors as Kubernetes `Status` objects, with upstream's codes, reasons and messages.

Handlers raise `ApiError`; one middleware turns it into the JSON body kubectl and the Python client
know how to print. Nothing else reaches the client as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from knet.api.registry import ResourceInfo
from knet.apiserver.validation import Cause

__all__ = ["ApiError", "Cause"]


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The Status body, its keys in kube-apiserver's order (some clients compare bytes)."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = ordered_details(self.details)
        body["code"] = self.code
        return body


# metav1.StatusDetails' fields in Go's order; all omitempty.
_DETAIL_KEYS = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")


def ordered_details(details: dict[str, Any]) -> dict[str, Any]:
    """Details as Go encodes them: its field order, empty fields (the core group's "") left out."""
    known = {k: details[k] for k in _DETAIL_KEYS if details.get(k) not in (None, "", [], 0)}
    return {**known, **{k: v for k, v in details.items() if k not in _DETAIL_KEYS}}


def _details(info: ResourceInfo, name: str) -> dict[str, Any]:
    return {"name": name, "group": info.group, "kind": info.plural}


def not_found(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{info.qualified} "{name}" not found', _details(info, name))


def namespace_not_found(name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'namespaces "{name}" not found',
        {"name": name, "group": "", "kind": "namespaces"},
    )


def already_exists(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{info.qualified} "{name}" already exists', _details(info, name)
    )


def conflict(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {info.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(info, name),
    )


def invalid(info: ResourceInfo, name: str, causes: Sequence[Cause]) -> ApiError:
    # Upstream prints the Kind here (not the plural), and kubectl shows it verbatim.
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{info.kind}{"." + info.group if info.group else ""} "{name}" is invalid: {summary}',
        {
            "name": name,
            "group": info.group,
            "kind": info.kind,
            "causes": [
                {"reason": c.reason, "message": c.message, "field": c.field} for c in causes
            ],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(403, "Forbidden", message, details)


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method})",
        {},
    )


def not_acceptable(accept: str) -> ApiError:
    return ApiError(
        406,
        "NotAcceptable",
        f"the server was unable to respond with a content type that the client supports ({accept})",
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "RequestEntityTooLarge", f"the request body is larger than the limit of {limit} bytes"
    )


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf, "
        "application/json-patch+json, "
        "application/merge-patch+json, application/strategic-merge-patch+json "
        f'(got "{content_type}")',
    )


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def too_old_resource_version(requested: int, oldest: int) -> ApiError:
    return expired(f"too old resource version: {requested} ({oldest})")


def too_large_resource_version(requested: int, current: int) -> ApiError:
    return ApiError(
        504,
        "Timeout",
        f"Too large resource version: {requested}, current: {current}",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
        headers={"Retry-After": "1"},
    )


def entity_too_large(message: str) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: {message}")
