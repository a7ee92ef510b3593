"""Typed keys for what the aiohttp application carries."""

from __future__ import annotations

from aiohttp import web

from knet.apiserver.config import ApiServerConfig
from knet.apiserver.resources import Resources
from knet.storage import Store

CONFIG = web.AppKey("config", ApiServerConfig)
STORE = web.AppKey("store", Store)
RESOURCES = web.AppKey("resources", Resources)
