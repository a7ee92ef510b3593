"""Typed keys for what the aiohttp application carries."""

from __future__ import annotations

import asyncio

from aiohttp import web

from knet.apiserver.componentstatus import LocalProbes
from knet.apiserver.config import ApiServerConfig
from knet.apiserver.resources import Resources
from knet.storage import Store

CONFIG = web.AppKey("config", ApiServerConfig)
STORE = web.AppKey("store", Store)
RESOURCES = web.AppKey("resources", Resources)
# Set when the server begins to stop: open watches end their streams cleanly instead of
# holding shutdown up until their timeouts.
STOPPING = web.AppKey("stopping", asyncio.Event)
# Health probes of the components run in this process (`knet server`), for ComponentStatus.
LOCAL_PROBES = web.AppKey("local_probes", LocalProbes)
