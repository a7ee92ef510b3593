"""Field errors: the entries of a 422 Status's `details.causes`, worded as upstream's
field.ErrorBody words them. Shared by every kind's validation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"


@dataclass(frozen=True)
class Cause:
    """One entry of a 422 Status's `details.causes`."""

    reason: str
    message: str
    field: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Cause builders (upstream field.ErrorBody wording)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _with_detail(body: str, detail: str) -> str:
    return f"{body}: {detail}" if detail else body


def required(path: str, detail: str = "") -> Cause:
    return Cause(REQUIRED, _with_detail("Required value", detail), path)


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(INVALID, _with_detail(f"Invalid value: {_show(value)}", detail), path)


def not_supported(path: str, value: Any, supported: Sequence[str]) -> Cause:
    detail = "supported values: " + ", ".join(f'"{s}"' for s in supported)
    return Cause(NOT_SUPPORTED, f"Unsupported value: {_show(value)}: {detail}", path)


def duplicate(path: str, value: Any) -> Cause:
    return Cause(DUPLICATE, f"Duplicate value: {_show(value)}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause(FORBIDDEN, _with_detail("Forbidden", detail), path)


def too_long(path: str, max_bytes: int) -> Cause:
    return Cause(TOO_LONG, f"Too long: may not be more than {max_bytes} bytes", path)


def too_many(path: str, actual: int, maximum: int) -> Cause:
    return Cause(TOO_MANY, f"Too many: {actual}: must have at most {maximum} items", path)
