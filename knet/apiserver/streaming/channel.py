"""The channel framing of Kubernetes' WebSocket streams (``v4``/``v5.channel.k8s.io``), shared by
both hops (client ↔ API server ↔ kubelet).

Every binary message starts with one byte naming its channel: 0 stdin, 1 stdout, 2 stderr,
3 error (the final ``Status`` as JSON), 4 resize (``{"Width": w, "Height": h}``). ``v5`` adds
255, "close": its second byte names a channel the sender will write no more to (kubectl closes
stdin that way). Pure functions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)  # ours, best first


class FrameError(ValueError):
    """A message that is not a frame of this protocol."""


def frame(channel: int, data: bytes) -> bytes:
    return bytes((channel,)) + data


def parse(message: bytes) -> tuple[int, bytes]:
    """(channel, payload) of a message; FrameError if empty."""
    if not message:
        raise FrameError("empty message: no channel byte")
    return message[0], message[1:]


def choose_protocol(offered: str, ours: tuple[str, ...] = PROTOCOLS) -> str | None:
    """The protocol to answer a ``Sec-WebSocket-Protocol`` offer with (the client's order
    decides among those we speak)."""
    for p in (s.strip() for s in offered.split(",")):
        if p in ours:
            return p
    return None


@dataclass(frozen=True)
class Resize:
    width: int
    height: int


def parse_resize(payload: bytes) -> Resize:
    try:
        doc = json.loads(payload)
        width, height = int(doc.get("Width", 0)), int(doc.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        raise FrameError('resize: want {"Width": w, "Height": h}') from None
    if not (0 <= width < 65536 and 0 <= height < 65536):
        raise FrameError("resize: size out of range")
    return Resize(width, height)


def exit_status(code: int, argv: list[str]) -> dict[str, Any]:
    """The Status the error channel carries at the end: Success, or the exit code as upstream
    reports it (kubectl exits with it)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command {argv}, "
            f"exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def failure_status(message: str, code: int = 500, reason: str = "InternalError") -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def status_frame(status: dict[str, Any]) -> bytes:
    return frame(ERROR, json.dumps(status).encode())
