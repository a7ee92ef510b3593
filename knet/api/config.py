"""core/v1 ConfigMap and Secret: configuration handed to pods as key/value data.

Byte values (`binaryData`, a Secret's `data`) travel as standard base64 on the JSON wire, as Go's
encoding/json writes a `[]byte`. A value that does not decode is refused while the body is read,
with Go's wording, as kube-apiserver's decoder refuses it (400), not as a validation error.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from knet.api.meta import KubeList, KubeObject

__all__ = [
    "SECRET_TYPE_OPAQUE",
    "Base64",
    "ConfigMap",
    "ConfigMapList",
    "Secret",
    "SecretList",
    "base64_error",
    "decode_base64",
]

SECRET_TYPE_OPAQUE: Final = "Opaque"

_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def decode_base64(text: str) -> bytes | None:
    """The bytes Go's `base64.StdEncoding` reads from `text` (CR and LF skipped), or None."""
    try:
        compact = text.replace("\r", "").replace("\n", "").encode("ascii")
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def base64_error(text: str) -> str | None:
    """Why Go's `base64.StdEncoding` would refuse `text`, or None if it decodes.

    The offset is that of the first byte that cannot be part of valid input (Go wants padding).
    """
    if decode_base64(text) is not None:
        return None
    seen = 0  # base64 bytes before position i, line breaks not counted
    for i, ch in enumerate(text):
        if ch in "\r\n":
            continue
        if ch not in _ALPHABET and not (ch == "=" and seen % 4 >= 2):
            return f"illegal base64 data at input byte {i}"
        seen += 1
    # Only the length or the padding is wrong: Go stops at the last complete quantum.
    return f"illegal base64 data at input byte {seen - seen % 4}"


def _check_base64(value: str) -> str:
    problem = base64_error(value)
    if problem is not None:
        raise PydanticCustomError("base64", problem)
    return value


# A `[]byte` on the JSON wire.
Base64 = Annotated[str, AfterValidator(_check_base64)]


class ConfigMap(KubeObject):
    api_version: str = "v1"
    kind: str = "ConfigMap"
    data: dict[str, str] | None = None
    binary_data: dict[str, Base64] | None = None
    immutable: bool | None = None


class ConfigMapList(KubeList[ConfigMap]):
    api_version: str = "v1"
    kind: str = "ConfigMapList"


class Secret(KubeObject):
    api_version: str = "v1"
    kind: str = "Secret"
    data: dict[str, Base64] | None = None
    # Write-only: merged into `data` when the server reads the object, never stored.
    string_data: dict[str, str] | None = None
    type: str | None = None
    immutable: bool | None = None


class SecretList(KubeList[Secret]):
    api_version: str = "v1"
    kind: str = "SecretList"
