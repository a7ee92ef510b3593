"""Content negotiation: what the client asked for in Accept, what it sent in Content-Type."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Output(Enum):
    JSON = "json"
    TABLE = "table"
    YAML = "yaml"


@dataclass(frozen=True)
class MediaRange:
    type: str  # "application/json"
    params: dict[str, str]


def parse_accept(header: str | None) -> list[MediaRange]:
    """Media ranges in the client's order (kubectl lists them by preference, not by q)."""
    if not header:
        return [MediaRange("*/*", {})]
    ranges: list[MediaRange] = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for p in pieces[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip().lower()] = v.strip().strip('"')
        ranges.append(MediaRange(pieces[0].lower(), params))
    return ranges or [MediaRange("*/*", {})]


_JSONISH = {"application/json", "application/*", "*/*"}


def choose_output(header: str | None) -> Output | None:
    """The first acceptable representation in the client's order; None when none is acceptable
    (protobuf or CBOR alone: we only speak JSON)."""
    for r in parse_accept(header):
        if r.type == "application/json" and r.params.get("as") == "Table":
            if r.params.get("g") == "meta.k8s.io" and r.params.get("v") in ("v1", "v1beta1"):
                return Output.TABLE
            continue
        if r.type in _JSONISH and "as" not in r.params:
            return Output.JSON
        if r.type in ("application/yaml", "text/yaml"):
            return Output.YAML
    return None


def table_include_object(header: str | None) -> str:
    del header  # kubectl asks through the query parameter, never through Accept
    return "Metadata"


def aggregated_discovery_version(header: str | None) -> str | None:
    """`v2` or `v2beta1` if the client listed aggregated discovery before plain JSON; else None.

    Only answer with a version the client listed: kubectl 1.28 lists only v2beta1 and fails on v2.
    """
    for r in parse_accept(header):
        if (
            r.type == "application/json"
            and r.params.get("g") == "apidiscovery.k8s.io"
            and r.params.get("as") == "APIGroupDiscoveryList"
            and r.params.get("v") in ("v2", "v2beta1")
        ):
            return r.params["v"]
        if r.type in _JSONISH and "as" not in r.params:
            return None
    return None


def media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()
