"""The runtime every knet program shares (API server, controller-manager, scheduler, knet
server, host-gw agent; kproxy and kubelet-lite too): logging, SIGTERM/SIGINT to an orderly stop,
the collector settled after start-up, HTTP serving for API/health/metrics, Go-style duration
flags. Leader election is in `knet.component.leader` (it needs the API client, which the API
server itself does not)."""

from knet.component.durations import duration_arg, parse_duration
from knet.component.http import serve_http
from knet.component.lifecycle import (
    STOP_SIGNALS,
    fail,
    run_main,
    stop_on_signals,
    until_stopped,
    wait_any,
)
from knet.component.logs import LOG_FORMAT, setup_logging

__all__ = [
    "LOG_FORMAT",
    "STOP_SIGNALS",
    "duration_arg",
    "fail",
    "parse_duration",
    "run_main",
    "serve_http",
    "setup_logging",
    "stop_on_signals",
    "until_stopped",
    "wait_any",
]
