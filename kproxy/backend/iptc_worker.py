"""Child process for IptcBackend(netns=...): one JSON request on stdin, one reply on stdout.

It is started by nsenter inside the target network namespace, so libiptc's calls land there.
Request: {"method": "restore" | "ensure_chain" | ..., "params": {...}}.
Reply: {"ok": true, "result": ...} or {"ok": false, "message": str, "line": int | null}.
"""

from __future__ import annotations

import json
import sys

from kproxy.backend.base import BackendError
from kproxy.backend.iptc import LocalIptc, dispatch


def main() -> int:
    try:
        request = json.loads(sys.stdin.read())
        result = dispatch(LocalIptc(), str(request["method"]), dict(request["params"]))
        reply = {"ok": True, "result": result}
    except BackendError as e:
        reply = {"ok": False, "message": str(e), "line": e.line}
    except (ValueError, KeyError, TypeError) as e:
        reply = {"ok": False, "message": f"bad request: {e}", "line": None}
    sys.stdout.write(json.dumps(reply))
    return 0 if reply["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
