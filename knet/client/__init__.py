"""The async client every knet component uses to talk to the API server.

Layers, each importing only those before it: config / errors / paths / events (pure) → rest
(`ApiClient`) → watch (`list_then_watch`) → cache + informer → workqueue, leaderelection.
"""

from knet.client.cache import (
    NAMESPACE_INDEX,
    Cache,
    field_index,
    namespace_index,
    object_key,
    split_key,
)
from knet.client.clock import Clock, FakeClock, RealClock
from knet.client.config import ClientConfig, ConfigError, load_kubeconfig, parse_server
from knet.client.errors import (
    ApiConnectionError,
    ApiError,
    ExpiredError,
    is_already_exists,
    is_conflict,
    is_expired,
    is_not_found,
    is_retryable,
)
from knet.client.events import ADDED, BOOKMARK, DELETED, MODIFIED, Synced, WatchEvent
from knet.client.informer import EventHandlers, Informer, SharedInformerFactory
from knet.client.leaderelection import LeaderElectionConfig, LeaderElector
from knet.client.recorder import EventRecorder, EventSource
from knet.client.rest import ApiClient, PatchType
from knet.client.watch import Backoff, list_then_watch, relist_diff
from knet.client.workqueue import (
    ExponentialBackoff,
    RateLimiter,
    ShutDownError,
    WorkQueue,
    process_items,
)

__all__ = [
    "ADDED",
    "BOOKMARK",
    "DELETED",
    "MODIFIED",
    "NAMESPACE_INDEX",
    "ApiClient",
    "ApiConnectionError",
    "ApiError",
    "Backoff",
    "Cache",
    "ClientConfig",
    "Clock",
    "ConfigError",
    "EventHandlers",
    "EventRecorder",
    "EventSource",
    "ExpiredError",
    "ExponentialBackoff",
    "FakeClock",
    "Informer",
    "LeaderElectionConfig",
    "LeaderElector",
    "PatchType",
    "RateLimiter",
    "RealClock",
    "SharedInformerFactory",
    "ShutDownError",
    "Synced",
    "WatchEvent",
    "WorkQueue",
    "field_index",
    "is_already_exists",
    "is_conflict",
    "is_expired",
    "is_not_found",
    "is_retryable",
    "list_then_watch",
    "load_kubeconfig",
    "namespace_index",
    "object_key",
    "parse_server",
    "process_items",
    "relist_diff",
    "split_key",
]
