"""The key layout (kube-apiserver's) and the migration of SQLite stores from knet's first one."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

from knet.api.registry import RESOURCES
from knet.storage import Event, SqliteStore, Watch
from knet.storage.layout import legacy_key, resource_prefix
from knet.storage.sqlite_db import DB_NAME


def test_keys_are_upstreams() -> None:
    keys = {r.kind: r.key("ns1", "x") for r in RESOURCES}
    assert keys["Pod"] == "/registry/pods/ns1/x"
    assert keys["Service"] == "/registry/services/specs/ns1/x"
    assert keys["Endpoints"] == "/registry/services/endpoints/ns1/x"
    assert keys["Node"] == "/registry/minions/x"  # cluster-scoped: no namespace part
    assert keys["Namespace"] == "/registry/namespaces/x"
    assert keys["Deployment"] == "/registry/deployments/ns1/x"  # grouped kinds: plural only
    assert keys["EndpointSlice"] == "/registry/endpointslices/ns1/x"
    assert keys["Lease"] == "/registry/leases/ns1/x"
    assert resource_prefix("", "replicationcontrollers") == "/registry/controllers/"
    assert resource_prefix("networking.k8s.io", "ingresses", "a") == "/registry/ingress/a/"
    crd = resource_prefix("apiextensions.k8s.io", "customresourcedefinitions")
    assert crd == "/registry/apiextensions.k8s.io/customresourcedefinitions/"


def test_no_resource_prefix_contains_another() -> None:
    # A list of one resource must never pick up another's keys. Versions of one resource
    # (autoscaling v1 and v2) share its keys, as upstream stores them once.
    prefixes = sorted({r.key_prefix(None) for r in RESOURCES})
    assert len(prefixes) == len({(r.group, r.plural) for r in RESOURCES})
    for a in prefixes:
        assert [b for b in prefixes if b.startswith(a)] == [a]


def test_legacy_keys_map_to_upstreams_and_current_keys_stay() -> None:
    assert legacy_key("/registry/core/pods/ns/a") == "/registry/pods/ns/a"
    assert legacy_key("/registry/core/services/ns/a") == "/registry/services/specs/ns/a"
    assert legacy_key("/registry/core/endpoints/ns/a") == "/registry/services/endpoints/ns/a"
    assert legacy_key("/registry/core/nodes/n1") == "/registry/minions/n1"
    assert legacy_key("/registry/apps/deployments/ns/d") == "/registry/deployments/ns/d"
    assert legacy_key("/registry/discovery.k8s.io/endpointslices/ns/e") == (
        "/registry/endpointslices/ns/e"
    )
    for r in RESOURCES:  # every current key is left alone
        assert legacy_key(r.key("ns", "n")) is None
    assert legacy_key("/other/core/pods/ns/a") is None


async def test_sqlite_store_of_the_first_layout_is_migrated_on_open(tmp_path: Path) -> None:
    data_dir = tmp_path / "kt-store"
    store = await SqliteStore.open(data_dir)
    pod = await store.create("/registry/core/pods/default/p", b'{"p": 1}')
    svc = await store.create("/registry/core/services/default/s", b"{}")
    await store.update("/registry/core/pods/default/p", b'{"p": 2}')
    await store.close()
    # Make it look like a data dir written before the layout row existed.
    with sqlite3.connect(data_dir / DB_NAME) as conn:
        conn.execute("DELETE FROM meta WHERE name = 'layout'")
    conn.close()

    store = await SqliteStore.open(data_dir)
    try:
        assert store.revision == 3
        kvs, _ = await store.range("/registry/")
        assert [kv.key for kv in kvs] == [
            "/registry/pods/default/p",
            "/registry/services/specs/default/s",
        ]
        assert kvs[0].value == b'{"p": 2}'
        assert (kvs[0].create_revision, kvs[0].version) == (pod.create_revision, 2)
        assert kvs[1].mod_revision == svc.mod_revision
        # History moved with the keys: a watch from before the upgrade replays under the new key.
        watch = store.watch("/registry/pods/", 0)
        events = [e async for e in _take(watch, 2)]
        assert [(e.revision, e.kv.key) for e in events] == [
            (1, "/registry/pods/default/p"),
            (3, "/registry/pods/default/p"),
        ]
    finally:
        await store.close()
    with sqlite3.connect(data_dir / DB_NAME) as conn:  # recorded: the next open skips it
        assert conn.execute("SELECT value FROM meta WHERE name = 'layout'").fetchone() == (2,)
    conn.close()


async def _take(watch: Watch, count: int) -> AsyncIterator[Event]:
    n = 0
    async for event in watch:
        yield event
        n += 1
        if n == count:
            watch.close()
            return
