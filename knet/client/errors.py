"""Errors the client raises: the server's Status, as an exception.

Every non-2xx reply becomes an `ApiError` carrying the Status the server sent (or one made up from
the HTTP status when the body was not a Status, as client-go does). A watch's ERROR event becomes
one too; 410 Expired gets its own subclass because list-then-watch must relist on it.
"""

from __future__ import annotations

from typing import Any

import orjson

# Reasons for bodies that are not a Status (e.g. a proxy's plain-text 502), as upstream picks them.
_REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A failed API request: `code` is the HTTP status, `reason` and `message` are the Status's."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        status: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"({reason}) {message}" if reason else message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}
        # The Status body as received (or built), for callers that want every field.
        self.status = status if status is not None else self._build_status()

    def _build_status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }

    @classmethod
    def from_status(cls, status: dict[str, Any], http_code: int | None = None) -> ApiError:
        """The error for a Status dict; a 410 gives an `ExpiredError`."""
        raw_code = status.get("code")
        code = raw_code if isinstance(raw_code, int) else (http_code or 500)
        reason = status.get("reason")
        if not isinstance(reason, str) or not reason:
            reason = _REASON_BY_CODE.get(code, "Unknown")
        message = status.get("message")
        if not isinstance(message, str):
            message = ""
        details = status.get("details")
        error_cls = ExpiredError if code == 410 else cls
        return error_cls(
            code, reason, message, details if isinstance(details, dict) else None, status
        )

    @classmethod
    def from_response(cls, http_code: int, body: bytes) -> ApiError:
        """The error for a non-2xx reply: its Status if it sent one, else one made from the text."""
        try:
            doc = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            return cls.from_status(doc, http_code)
        text = body.decode("utf-8", "replace").strip() or "unknown"
        reason = _REASON_BY_CODE.get(http_code, "Unknown")
        error_cls = ExpiredError if http_code == 410 else cls
        return error_cls(http_code, reason, f"the server responded with {http_code}: {text}")


class ExpiredError(ApiError):
    """410 Expired/Gone: the resourceVersion asked for is older than the server's history."""


class ApiConnectionError(Exception):
    """The server could not be reached or the connection broke (down, restarting, timed out)."""


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, ApiError) and err.code == 404


def is_conflict(err: BaseException) -> bool:
    """A stale resourceVersion on update (409 Conflict); not AlreadyExists."""
    return isinstance(err, ApiError) and err.code == 409 and err.reason == "Conflict"


def is_already_exists(err: BaseException) -> bool:
    return isinstance(err, ApiError) and err.code == 409 and err.reason == "AlreadyExists"


def is_expired(err: BaseException) -> bool:
    return isinstance(err, ApiError) and err.code == 410


def is_retryable(err: BaseException) -> bool:
    """Trouble that a later attempt may not meet: no connection, overload, server errors."""
    if isinstance(err, ApiConnectionError):
        return True
    return isinstance(err, ApiError) and (err.code == 429 or err.code >= 500)
