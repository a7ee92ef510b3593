"""A write storm for test_store_crash.py, run as a child process and killed with SIGKILL.

Usage: _store_writer.py DATA_DIR PREFIX CLIENTS HISTORY_WINDOW

Each client creates fresh keys and updates its own counter key, forever. Every write is
printed only after the store acknowledged it, one line each, flushed at once:
`C <key> <revision>` for a create, `U <key> <revision>` for an update.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from knet.storage import SqliteStore


async def storm(data_dir: Path, prefix: str, clients: int, history_window: int) -> None:
    store = await SqliteStore.open(data_dir, history_window=history_window)

    def ack(kind: str, key: str, revision: int) -> None:
        sys.stdout.write(f"{kind} {key} {revision}\n")
        sys.stdout.flush()

    async def client(n: int) -> None:
        counter = f"{prefix}/counter/{n}"
        ack("C", counter, (await store.create(counter, b"0")).mod_revision)
        i = 0
        while True:
            key = f"{prefix}/obj/{n}/{i}"
            ack("C", key, (await store.create(key, f"{n}:{i}".encode())).mod_revision)
            if i % 3 == 0:
                ack("U", counter, (await store.update(counter, str(i).encode())).mod_revision)
            i += 1

    await asyncio.gather(*(client(n) for n in range(clients)))


def main() -> None:
    data_dir, prefix, clients, history_window = sys.argv[1:5]
    asyncio.run(storm(Path(data_dir), prefix, int(clients), int(history_window)))


if __name__ == "__main__":
    main()
