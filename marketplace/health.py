"""Health checks for load balancers and orchestrators.

- ``GET /livez``: the process answers; checks nothing else, so a database outage does not get
  every web process restarted (restarting would not fix the database).
- ``GET /healthz``: ready to serve: ``SELECT 1`` on the database and ``PING`` on Redis. 200
  when both answer, else 503 naming what is down, so traffic is routed away until it is back.

Neither ever raises: a failed check is an answer, not an error. Reasons in the answer are the
exception's class name only; the details (hosts, ports) go to the log, not to the public.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, jsonify
from marshmallow import Schema, fields
from sqlalchemy import text

from marketplace.extensions import csrf, db
from marketplace.kv import get_redis
from marketplace.openapi import document, json_response

bp = Blueprint("health", __name__)
# Probes send no session and no token; they are GETs anyway, exempt to make that explicit.
csrf.exempt(bp)

log = logging.getLogger(__name__)


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Each dependency: `ok` or `unavailable: <reason>` (/healthz)."},
    )


def check_database() -> None:
    # A connection of its own, not db.session: a probe must not touch a request's transaction.
    # How long a connect may hang is the engine's setting (SQLALCHEMY_ENGINE_OPTIONS).
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_redis() -> None:
    # get_redis() clients carry short socket timeouts (see marketplace.kv).
    get_redis().ping()


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "redis": check_redis}


def _run(name: str, check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:  # any failure means "not ready", never a 500
        reason = type(getattr(exc, "orig", None) or exc).__name__
        log.warning("health check failed", extra={"check": name, "error": str(exc)[:500]})
        return f"unavailable: {reason}"
    return "ok"


@bp.get("/healthz")
@document(
    summary="Readiness: database and Redis answer",
    tags=["health"],
    responses={
        200: json_response(HealthSchema, "Every dependency answers."),
        503: json_response(HealthSchema, "At least one dependency is down; it is named."),
    },
)
def healthz():
    checks = {name: _run(name, check) for name, check in CHECKS.items()}
    healthy = all(result == "ok" for result in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/livez")
@document(
    summary="Liveness: the process answers",
    tags=["health"],
    responses={200: json_response(HealthSchema, "The process is up.")},
)
def livez():
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response
