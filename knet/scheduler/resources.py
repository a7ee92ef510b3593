"""resource.Quantity text as numbers, and what a pod requests. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# What the scorer assumes for a container that requests nothing (upstream's non-zero defaults),
# so that pods without requests still spread out.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 2**20


def parse_quantity(value: Any) -> Decimal:
    """A Quantity ("500m", "1.5", "128Mi", "1e3", 2, 0.5) as a Decimal; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"invalid quantity {value!r}")
    text = value.strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], value) * factor
    if text[-1] in "numkMGTPE" and not _is_exponent(text):
        return _number(text[:-1], value) * _DECIMAL[text[-1]]
    return _number(text, value)


def _is_exponent(text: str) -> bool:
    # "1E3" is 1000, while "1E" would be 1 exa: an E followed by digits is an exponent.
    return "e" in text.lower()[1:] and text[-1].isdigit()


def _number(text: str, original: Any) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"invalid quantity {original!r}") from None
    if not number.is_finite():
        raise ValueError(f"invalid quantity {original!r}")
    return number


def milli_cpu(value: Any) -> int:
    return math.ceil(parse_quantity(value) * 1000)


def memory_bytes(value: Any) -> int:
    return math.ceil(parse_quantity(value))


def _requests(container: Mapping[str, Any]) -> Mapping[str, Any]:
    resources = container.get("resources") or {}
    requests = resources.get("requests") if isinstance(resources, Mapping) else None
    if isinstance(requests, Mapping) and requests:
        return requests
    # A container with limits but no requests requests its limits (apiserver defaulting).
    limits = resources.get("limits") if isinstance(resources, Mapping) else None
    return limits if isinstance(limits, Mapping) else {}


def pod_requests(pod: Mapping[str, Any], non_zero: bool = False) -> tuple[int, int]:
    """(milli-CPU, memory bytes) the pod asks for: the sum over its containers, or the largest
    init container if that is more (they run one at a time, before the others)."""
    spec = pod.get("spec") or {}

    def one(c: Mapping[str, Any]) -> tuple[int, int]:
        req = _requests(c)
        cpu = milli_cpu(req["cpu"]) if "cpu" in req else 0
        mem = memory_bytes(req["memory"]) if "memory" in req else 0
        if non_zero:
            cpu = cpu or DEFAULT_MILLI_CPU
            mem = mem or DEFAULT_MEMORY
        return cpu, mem

    cpu = mem = 0
    for c in spec.get("containers") or []:
        if isinstance(c, Mapping):
            a, b = one(c)
            cpu, mem = cpu + a, mem + b
    for c in spec.get("initContainers") or []:
        if isinstance(c, Mapping) and c.get("restartPolicy") != "Always":
            a, b = one(c)
            cpu, mem = max(cpu, a), max(mem, b)
    overhead = spec.get("overhead")
    if isinstance(overhead, Mapping):
        cpu += milli_cpu(overhead["cpu"]) if "cpu" in overhead else 0
        mem += memory_bytes(overhead["memory"]) if "memory" in overhead else 0
    return cpu, mem
