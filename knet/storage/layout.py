"""Where each resource's objects live in the store: kube-apiserver's etcd key layout.

`etcdctl get /registry --prefix --keys-only` on a knet cluster shows the keys a Kubernetes user
knows: `/registry/pods/<ns>/<name>`, `/registry/minions/<name>`, and so on. Upstream keys a
resource by its plural alone (the group is not part of the key), with a few historical
exceptions kept here in one table. Both stores use this one mapping. Pure functions.
"""

from __future__ import annotations

ROOT = "/registry"

# (group, plural) -> the path under ROOT, where upstream does not use the plural alone.
_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("", "services"): "services/specs",
    ("", "endpoints"): "services/endpoints",
    ("", "nodes"): "minions",
    ("", "replicationcontrollers"): "controllers",
    ("networking.k8s.io", "ingresses"): "ingress",
    ("extensions", "ingresses"): "ingress",
    ("policy", "podsecuritypolicies"): "podsecuritypolicy",
}

# Groups whose resources upstream keys as `<group>/<plural>` (their servers are not part of the
# built-in registry: CRDs and aggregated APIs; custom resources do the same).
_GROUP_QUALIFIED = frozenset({"apiextensions.k8s.io", "apiregistration.k8s.io"})


def resource_path(group: str, plural: str) -> str:
    """`pods`, `services/specs`, `apiextensions.k8s.io/customresourcedefinitions`."""
    special = _EXCEPTIONS.get((group, plural))
    if special is not None:
        return special
    if group in _GROUP_QUALIFIED:
        return f"{group}/{plural}"
    return plural


def resource_prefix(group: str, plural: str, namespace: str | None = None) -> str:
    """The key prefix of one resource, within one namespace when `namespace` is given."""
    base = f"{ROOT}/{resource_path(group, plural)}/"
    return f"{base}{namespace}/" if namespace else base


# knet's first layout put the API group (or `core`) before the plural. No current key has one
# of these, or a dotted name, as its first segment, except group-qualified ones (see above),
# which map to themselves.
_LEGACY_DOTLESS_GROUPS = frozenset({"core", "apps", "batch", "policy", "autoscaling", "extensions"})


def legacy_key(key: str) -> str | None:
    """The current key for a key of knet's first layout (`/registry/<group or core>/<plural>/
    ...`), or None when `key` is not in that layout or already current."""
    parts = key.split("/", 4)
    if len(parts) < 5 or parts[0] != "" or "/" + parts[1] != ROOT:
        return None
    first = parts[2]
    if first not in _LEGACY_DOTLESS_GROUPS and "." not in first:
        return None
    group = "" if first == "core" else first
    new = resource_prefix(group, parts[3]) + parts[4]
    return None if new == key else new
