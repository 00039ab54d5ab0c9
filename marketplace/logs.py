"""Structured logs: one JSON object per line, and one line per request with its request id.

``LOG_FORMAT=json`` (the default) writes each record on the ``marketplace`` logger hierarchy as
JSON with ``ts``, ``level``, ``logger``, ``message``, the record's ``extra=`` fields and, inside
a request, its ``request_id``; anything else writes plain text. ``LOG_LEVEL`` sets the level.

Every request gets an id: the caller's ``X-Request-ID`` when it is a sane token (a proxy or a
client tracing a call), else a fresh one. It is in ``g.request_id``, echoed in the response's
``X-Request-ID`` header, and on the ``marketplace.request`` line logged after the response.

Logging is process-wide, not per app: ``init_app`` installs one handler on the ``marketplace``
logger (and on ``vendors``, ``buyers`` and ``payouts``, whose modules log under their own
names) and later calls (tests build several apps) only update its format and level. Records
still propagate to the root logger so a host's handlers and pytest's ``caplog`` see them; a
host that also writes the root logger to the same stream should set these loggers'
``propagate`` to False in its own logging configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

LOGGER_NAME = "marketplace"
# The other packages of the app log under their own names (``payouts.payouts``...): their
# records get the same handler, format and level.
APP_LOGGERS = (LOGGER_NAME, "vendors", "buyers", "payouts")
REQUEST_LOGGER = "marketplace.request"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}


def record_extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRIBUTES and not k.startswith("_")}


class JSONFormatter(logging.Formatter):
    """One JSON object per record; values JSON can't encode are written with ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(record_extras(record))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Plain text for a developer's terminal, with the extras as ``key=value`` pairs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in record_extras(record).items())
        if not extras:
            return line
        head, _, rest = line.partition("\n")  # keep a traceback below the extras
        return f"{head} {extras}" + (f"\n{rest}" if rest else "")


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when the handler was
    made: test runners and process managers swap it, and a stale stream loses lines."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class RequestIdFilter(logging.Filter):
    """Stamp records logged during a request with its id, so its lines can be grepped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            request_id = g.get("request_id")
            if request_id:
                record.request_id = request_id
        return True


def configure_logging(log_format: str, level: str) -> logging.Handler:
    """Install (once) or update the handler of the ``marketplace`` logger."""
    numeric_level = logging.getLevelName(str(level).upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"LOG_LEVEL {level!r} is not a logging level (DEBUG, INFO, ...)")
    logger = logging.getLogger(LOGGER_NAME)
    # app.logger is this same logger (the package is named "marketplace"); Flask's default
    # handler would print every line a second time in its own format.
    logger.removeHandler(default_handler)
    handler = next((h for h in logger.handlers if getattr(h, "marketplace", False)), None)
    if handler is None:
        handler = StderrHandler()
        handler.marketplace = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    logger.setLevel(numeric_level)
    for name in APP_LOGGERS[1:]:
        package_logger = logging.getLogger(name)
        if handler not in package_logger.handlers:
            package_logger.addHandler(handler)
        package_logger.setLevel(numeric_level)
    return handler


def request_id_from(header_value: str | None) -> str:
    """The caller's request id if it is 1-64 of ``[A-Za-z0-9_-]``, else a new one.

    The id lands in log lines and a response header, so anything else (spaces, newlines,
    quotes, long strings) is replaced rather than trusted.
    """
    if header_value and _REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def _authenticated_user_id() -> int | None:
    # Only a user flask-login already loaded for this request: loading one here would query
    # the database after the response is built, and fail with it when it is down.
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return getattr(user, "id", None)
    return None


def write_request_line(method: str, path: str, status: int, started: float | None,
                       request_id: str, user_id: int | None, remote_addr: str | None) -> None:
    """The ``marketplace.request`` line of one answered request (at INFO): every request's,
    including those the whole-page cache answers before Flask (``buyers.page_cache``)."""
    request_log = logging.getLogger(REQUEST_LOGGER)
    if not request_log.isEnabledFor(logging.INFO):
        return  # LOG_LEVEL=WARNING: don't build a record nobody will see
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    request_log.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,  # not the query string: it may carry tokens
            "status": status,
            "duration_ms": duration_ms,
            "request_id": request_id,
            "user_id": user_id,
            "remote_addr": remote_addr,
        },
    )


def init_app(app: Flask) -> None:
    configure_logging(app.config.get("LOG_FORMAT", "json"), app.config.get("LOG_LEVEL", "INFO"))

    def start_request() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.request_started = time.perf_counter()

    def log_request(response: Response) -> Response:
        request_id = g.get("request_id") or request_id_from(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        write_request_line(request.method, request.path, response.status_code,
                           g.get("request_started"), request_id, _authenticated_user_id(),
                           request.remote_addr)
        return response

    # First among the before_request hooks, so the id exists (and the clock runs) even when a
    # later hook fails, and the error's own log lines carry the id.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(log_request)
