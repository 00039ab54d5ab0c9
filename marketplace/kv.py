"""The Redis connection: a real server when REDIS_URL is set, an embedded fake otherwise.

The embedded fake lives in this process only. It is the newcomer's default (one development
server, jobs on a thread beside it); any deployment with more than one process sets REDIS_URL
so that throttling counters and job queues are shared.
"""

from __future__ import annotations

import fakeredis
import redis
from flask import Flask, current_app

_EMBEDDED_SERVER = fakeredis.FakeServer()


def get_redis(app: Flask | None = None) -> redis.Redis:
    app = app or current_app._get_current_object()
    client = app.extensions.get("marketplace.redis")
    if client is None:
        url = app.config.get("REDIS_URL")
        if url:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        else:
            client = fakeredis.FakeRedis(server=_EMBEDDED_SERVER)
        app.extensions["marketplace.redis"] = client
    return client


def is_embedded(app: Flask | None = None) -> bool:
    app = app or current_app._get_current_object()
    return not app.config.get("REDIS_URL")
