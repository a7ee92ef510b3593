#!/usr/bin/env python3
"""RBAC decision benchmark: a cache-warm authorization decision with N roles and N bindings.

Builds the index the API server builds (upstream's bootstrap policy plus N Roles and N
RoleBindings over 100 namespaces, one user per binding, every user also bound to view), warms
each user's rule cache, then times allow and deny decisions one by one. Prints figures.

    .venv/bin/python scripts/bench_rbac.py [--roles 1000] [--decisions 20000]

Floor from issue 22: p99 <= 50 us with 1,000 roles and bindings.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from knet.apiserver.auth import bootstrap
from knet.apiserver.auth.attributes import from_request
from knet.apiserver.auth.rbac import Authorizer, RbacIndex
from knet.apiserver.auth.user import UserInfo

RESOURCES = ["pods", "services", "configmaps", "secrets", "endpoints", "events", "leases"]


def policy(n: int) -> tuple[list[Any], list[Any]]:
    roles, bindings = [], []
    for i in range(n):
        ns = f"ns-{i % 100}"
        res = RESOURCES[i % len(RESOURCES)]
        roles.append(
            {
                "metadata": {"name": f"role-{i}", "namespace": ns},
                "rules": [
                    {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": [res]},
                    {"verbs": ["create"], "apiGroups": ["apps"], "resources": ["deployments"]},
                ],
            }
        )
        bindings.append(
            {
                "metadata": {"name": f"rb-{i}", "namespace": ns},
                "roleRef": {"kind": "Role", "name": f"role-{i}"},
                "subjects": [{"kind": "User", "name": f"user-{i}"}],
            }
        )
    return roles, bindings


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--roles", type=int, default=1000)
    p.add_argument("--decisions", type=int, default=20_000)
    args = p.parse_args()
    roles, bindings = policy(args.roles)
    crbs = bootstrap.cluster_role_bindings()
    t0 = time.perf_counter()
    index = RbacIndex.build(roles, bootstrap.cluster_roles(), bindings, crbs)
    built = time.perf_counter() - t0
    authz = Authorizer(index)
    rng = random.Random(1)
    cases = []
    for _ in range(args.decisions):
        i = rng.randrange(args.roles)
        user = UserInfo(f"user-{i}", ("system:authenticated",))
        ns = f"ns-{i % 100}" if rng.random() < 0.7 else f"ns-{(i + 1) % 100}"
        res = rng.choice(RESOURCES)
        cases.append((user, from_request("GET", f"/api/v1/namespaces/{ns}/{res}/x", {})))
    for user, a in cases:  # warm every user's rule cache
        authz.allows(user, a)
    times, allowed = [], 0
    clock = time.perf_counter_ns
    for user, a in cases:
        t = clock()
        allowed += authz.allows(user, a)
        times.append((clock() - t) / 1e3)
    print(
        f"index: {args.roles} Roles + {args.roles} RoleBindings + upstream's bootstrap policy, "
        f"built in {built * 1e3:.1f} ms"
    )
    print(
        f"{len(times)} cache-warm decisions ({allowed} allowed): p50 {pct(times, 50):.1f} us, "
        f"p99 {pct(times, 99):.1f} us, max {max(times):.1f} us"
    )
    # What the middleware adds per request besides TLS: classify the request, decide.
    paths = [(u, f"/api/v1/namespaces/ns-{i % 100}/pods/x") for i, (u, _) in enumerate(cases)]
    t0 = clock()
    for user, path in paths:
        authz.allows(user, from_request("GET", path, {}))
    per = (clock() - t0) / len(paths) / 1e3
    print(f"attributes + decision per request: {per:.1f} us (mean)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
