"""Catalog imports and exports as jobs: the services that queue them, and the jobs.

An upload is stored in a :class:`~vendors.import_models.CatalogTransfer` row (the bytes in
the database, so any worker can read them) and :func:`process_import` is queued on the
``default`` queue after the commit. The job checks the whole file first (progress is
committed every thousand rows, so the portal's bar moves); a file with errors writes
nothing and waits for the vendor (``needs_confirmation``), who may choose to import the valid
rows (:func:`confirm_import` queues the job again). The rows are written in one transaction
with the transfer's final status; progress during that transaction goes through Redis, as
the row can't be committed before the import is.

Jobs take the transfer's id and are idempotent: a run raises ``attempts`` when it takes the
transfer up, and writes its result only if no later run took it up meanwhile (a job delivered
twice imports once). Services flush, never commit.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import Select, update
from sqlalchemy.exc import IntegrityError

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import enqueue_after_commit
from marketplace.kv import get_redis
from marketplace.scoping import vendor_select
from vendors.access import Actor, Permission
from vendors.errors import Conflict
from vendors.exports import export_csv
from vendors.import_apply import StockChanged, apply_plan
from vendors.import_models import CatalogTransfer, TransferKind, TransferStatus
from vendors.import_plan import validate_file
from vendors.imports import (
    MAX_FILE_BYTES,
    MAX_REPORTED_ERRORS,
    FileRejected,
    RowError,
    too_large,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1_000
PROGRESS_TTL_SECONDS = 24 * 3600
MAX_FILENAME = 255
IMPORT_STARTABLE = (TransferStatus.QUEUED, TransferStatus.VALIDATING, TransferStatus.IMPORTING)
EXPORT_STARTABLE = (TransferStatus.QUEUED, TransferStatus.EXPORTING)


# --- Services (flush, never commit) --------------------------------------------------------


def transfers_select(vendor_id: int, kind: TransferKind | None = None) -> Select:
    """The vendor's transfers, newest first."""
    stmt = vendor_select(CatalogTransfer, vendor_id)
    if kind is not None:
        stmt = stmt.where(CatalogTransfer.kind == kind)
    return stmt.order_by(CatalogTransfer.id.desc())


def start_import(actor: Actor, *, filename: str, data: bytes, locale: str) -> CatalogTransfer:
    """Store the uploaded file and queue its import. Raises PermissionDenied, FileTooLarge
    (over MAX_FILE_BYTES), FileRejected (empty)."""
    actor.require(Permission.IMPORT_CATALOG)
    if len(data) > MAX_FILE_BYTES:
        raise too_large()
    if not data.strip():
        raise FileRejected(_("The file is empty."), field="file")
    transfer = CatalogTransfer(
        vendor_id=actor.vendor_id, kind=TransferKind.IMPORT, status=TransferStatus.QUEUED,
        filename=_filename(filename) or "catalog.csv", content=data, size_bytes=len(data),
        errors=[], created_by_id=actor.user_id, token_id=actor.token_id, locale=locale,
    )
    db.session.add(transfer)
    db.session.flush()
    _queue(transfer)
    return transfer


def confirm_import(actor: Actor, transfer: CatalogTransfer) -> CatalogTransfer:
    """The vendor chose to import the valid rows of a file with errors: queue it again.
    Raises PermissionDenied, Conflict when the import isn't waiting for that choice."""
    actor.require(Permission.IMPORT_CATALOG)
    if transfer.kind != TransferKind.IMPORT or \
            transfer.status != TransferStatus.NEEDS_CONFIRMATION:
        raise Conflict(_("This import isn't waiting for a decision: it is %(status)s.",
                         status=status_label(transfer.status)))
    transfer.status = TransferStatus.QUEUED
    transfer.import_valid_rows = True
    transfer.processed_rows = 0
    transfer.finished_at = None
    db.session.flush()
    _queue(transfer)
    return transfer


def start_export(actor: Actor, *, locale: str) -> CatalogTransfer:
    """Queue an export of the whole catalog. Raises PermissionDenied."""
    actor.require(Permission.EXPORT_CATALOG)
    transfer = CatalogTransfer(
        vendor_id=actor.vendor_id, kind=TransferKind.EXPORT, status=TransferStatus.QUEUED,
        filename=f"catalog-{utcnow():%Y%m%d-%H%M%S}.csv", errors=[],
        created_by_id=actor.user_id, token_id=actor.token_id, locale=locale,
    )
    db.session.add(transfer)
    db.session.flush()
    _queue(transfer)
    return transfer


def require_viewer(actor: Actor, transfer: CatalogTransfer) -> None:
    actor.require(Permission.IMPORT_CATALOG if transfer.kind == TransferKind.IMPORT
                  else Permission.EXPORT_CATALOG)


def progress(transfer: CatalogTransfer) -> dict[str, Any]:
    """How far it got: ``processed_rows`` of ``total_rows`` and ``percent`` (None while the
    rows aren't counted yet)."""
    processed = transfer.processed_rows or 0
    if transfer.status == TransferStatus.IMPORTING:
        try:
            processed = int(get_redis().get(_progress_key(transfer.id)) or 0)
        except RedisError:
            processed = 0
    total = transfer.total_rows
    percent = None
    if transfer.status == TransferStatus.DONE:
        percent = 100
    elif total:
        percent = min(100, processed * 100 // total)
    elif total == 0:
        percent = 0
    return {"processed_rows": processed, "total_rows": total, "percent": percent}


def status_label(status: TransferStatus) -> str:
    return {
        TransferStatus.QUEUED: _("waiting to start"),
        TransferStatus.VALIDATING: _("checking the rows"),
        TransferStatus.NEEDS_CONFIRMATION: _("waiting for your decision"),
        TransferStatus.IMPORTING: _("importing"),
        TransferStatus.EXPORTING: _("exporting"),
        TransferStatus.FAILED: _("failed"),
        TransferStatus.DONE: _("done"),
    }[status]


def _filename(raw: str) -> str:
    name = os.path.basename((raw or "").replace("\\", "/")).strip()
    return "".join(ch for ch in name if ch.isprintable())[:MAX_FILENAME]


def _queue(transfer: CatalogTransfer) -> None:
    job = process_import if transfer.kind == TransferKind.IMPORT else process_export
    enqueue_after_commit("default", job, transfer.id,
                         job_id=f"catalog-{transfer.kind.value}-{transfer.id}")


def _progress_key(transfer_id: int) -> str:
    return f"catalog-transfer-progress:{transfer_id}"


# --- Jobs (ids in, idempotent, commit their own work) --------------------------------------


def _claim(transfer_id: int, startable: tuple[TransferStatus, ...],
           status: TransferStatus) -> tuple[CatalogTransfer, int] | None:
    """Take the transfer up (None when it is finished or gone); returns it and this run's
    attempt number."""
    table = CatalogTransfer.__table__
    claimed = db.session.execute(
        update(table).where(table.c.id == int(transfer_id), table.c.status.in_(startable))
        .values(status=status, attempts=table.c.attempts + 1, processed_rows=0)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    transfer = db.session.get(CatalogTransfer, int(transfer_id))
    return transfer, transfer.attempts


def _finish(transfer_id: int, attempt: int, values: dict[str, Any]) -> bool:
    """Write the result if no later run took the transfer up; False (and nothing written,
    the caller rolls back) otherwise."""
    table = CatalogTransfer.__table__
    written = db.session.execute(
        update(table).where(table.c.id == transfer_id, table.c.attempts == attempt)
        .values(finished_at=utcnow(), updated_at=utcnow(), **values)
    ).rowcount
    if not written:
        db.session.rollback()
        log.info("Catalog transfer %s was taken up by a later run; this one stops", transfer_id)
        return False
    db.session.commit()
    return True


def _report(errors: list[RowError]) -> dict[str, Any]:
    return {"errors": [error.to_dict() for error in errors[:MAX_REPORTED_ERRORS]],
            "error_count": len(errors)}


def process_import(transfer_id: int) -> str:
    """Check the stored file, then import it (or its valid rows, if the vendor chose so)."""
    claim = _claim(transfer_id, IMPORT_STARTABLE, TransferStatus.VALIDATING)
    if claim is None:
        return "nothing to do"
    transfer, attempt = claim
    locale = transfer.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    try:
        with force_locale(locale):
            return _import(transfer, attempt)
    except Exception:
        db.session.rollback()
        with force_locale(locale):
            message = _("Something went wrong on our side and nothing was imported. It has "
                        "been logged; please try again later.")
        _finish(transfer.id, attempt, {"status": TransferStatus.FAILED,
                                       **_report([RowError(None, None, message)])})
        raise


def _import(transfer: CatalogTransfer, attempt: int) -> str:
    transfer_id, vendor_id = transfer.id, transfer.vendor_id
    user_id, token_id = transfer.created_by_id, transfer.token_id
    valid_only = transfer.import_valid_rows
    table = CatalogTransfer.__table__

    def validated(done: int, total: int) -> None:
        db.session.execute(update(table).where(table.c.id == transfer_id)
                           .values(processed_rows=done, total_rows=total))
        db.session.commit()

    try:
        plan = validate_file(vendor_id, transfer.content or b"", progress=validated)
    except FileRejected as error:
        _finish(transfer_id, attempt, {"status": TransferStatus.FAILED,
                                       **_report([RowError(None, "file", error.message)])})
        return "rejected"
    counts = {"total_rows": plan.total_rows, "valid_rows": len(plan.rows),
              "skipped_count": plan.total_rows - len(plan.rows), **_report(plan.errors)}
    if not plan.total_rows:
        _finish(transfer_id, attempt, {"status": TransferStatus.FAILED, **counts, **_report(
            [RowError(None, "file", _("The file has a header row but no rows to import."))])})
        return "empty"
    if not plan.rows or (plan.errors and not valid_only):
        status = TransferStatus.NEEDS_CONFIRMATION if plan.rows else TransferStatus.FAILED
        _finish(transfer_id, attempt, {"status": status, "processed_rows": plan.total_rows,
                                       **counts})
        return status.value

    db.session.execute(update(table).where(table.c.id == transfer_id, table.c.attempts == attempt)
                       .values(status=TransferStatus.IMPORTING, **counts))
    db.session.commit()
    key = _progress_key(transfer_id)

    def imported(done: int) -> None:
        try:
            get_redis().set(key, done, ex=PROGRESS_TTL_SECONDS)
        except RedisError:  # progress is a nicety; the import goes on
            log.warning("Could not record the progress of catalog import %s", transfer_id)

    try:
        outcome = apply_plan(plan, transfer_id=transfer_id, user_id=user_id,
                             token_id=token_id, progress=imported)
    except StockChanged as error:
        db.session.rollback()
        errors = sorted(plan.errors + error.errors, key=lambda e: e.line or 0)
        _finish(transfer_id, attempt, {
            "status": TransferStatus.NEEDS_CONFIRMATION, "import_valid_rows": False,
            "processed_rows": plan.total_rows, **_report(errors),
            "valid_rows": len(plan.rows) - len(error.errors)})
        return "stock changed"
    except IntegrityError:
        db.session.rollback()
        _finish(transfer_id, attempt, {"status": TransferStatus.FAILED, **_report([RowError(
            None, None, _("Your catalog changed while this file was imported (a product or "
                          "SKU in it was added meanwhile). Nothing was imported; import the "
                          "file again."))])})
        return "conflict"
    done = _finish(transfer_id, attempt, {
        "status": TransferStatus.DONE, "processed_rows": plan.total_rows,
        "created_count": outcome.created, "updated_count": outcome.updated})
    return "done" if done else "superseded"


def process_export(transfer_id: int) -> str:
    """Write the vendor's catalog to the transfer as CSV."""
    claim = _claim(transfer_id, EXPORT_STARTABLE, TransferStatus.EXPORTING)
    if claim is None:
        return "nothing to do"
    transfer, attempt = claim
    try:
        content, rows = export_csv(transfer.vendor_id)
    except Exception:
        db.session.rollback()
        _finish(transfer.id, attempt, {"status": TransferStatus.FAILED})
        raise
    done = _finish(transfer.id, attempt, {
        "status": TransferStatus.DONE, "content": content, "size_bytes": len(content),
        "total_rows": rows, "processed_rows": rows})
    return "done" if done else "superseded"
