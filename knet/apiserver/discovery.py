"""Discovery documents, legacy and aggregated (apidiscovery.k8s.io v2 / v2beta1), and
`/version`. Pure but for the build facts buildinfo.py reads once."""

from __future__ import annotations

import platform
from typing import Any

from knet.api.registry import ResourceInfo, group_versions, resources_in
from knet.apiserver import buildinfo

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _named_groups() -> list[str]:
    groups: list[str] = []
    for group, _ in group_versions(computed=True):
        if group and group not in groups:
            groups.append(group)
    return groups


def _versions_of(group: str) -> list[str]:
    return [v for g, v in group_versions(computed=True) if g == group]


def api_group_list() -> dict[str, Any]:
    groups = []
    for group in _named_groups():
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in _versions_of(group)]
        groups.append({"name": group, "versions": versions, "preferredVersion": versions[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    for g in api_group_list()["groups"]:
        if g["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    infos = resources_in(group, version, computed=True)
    if not infos:
        return None
    resources: list[dict[str, Any]] = []
    for info in infos:
        entry: dict[str, Any] = {
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        for sub in info.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{info.plural}/{sub.name}",
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            if (sub.group, sub.version) != (info.group, info.version):
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                "verbs": list(sub.verbs),
            }
            for sub in info.subresources
        ]
    return entry


def _aggregated_group(group: str, version_tag: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": group} if group else {}
    return {
        "metadata": metadata,
        "versions": [
            {
                "version": v,
                "resources": [
                    _aggregated_resource(i) for i in resources_in(group, v, computed=True)
                ],
                "freshness": "Current",
            }
            for v in _versions_of(group)
        ],
    }


def aggregated(core: bool, version_tag: str) -> dict[str, Any]:
    """`/api` (core=True) or `/apis` as an APIGroupDiscoveryList."""
    groups = [""] if core else _named_groups()
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version_tag}",
        "metadata": {},
        "items": [_aggregated_group(g, version_tag) for g in groups],
    }


def version_info() -> dict[str, str]:
    # The machine's kubectl is a dispatcher that picks its client by this minor: keep it "32".
    commit = buildinfo.git_commit()
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-knet",
        "gitCommit": commit,
        # Whether the tree had changes is not known without running git: left empty.
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": buildinfo.go_platform(),
    }
