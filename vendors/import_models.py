"""Catalog CSV transfers: one row per import or export a vendor asked for.

The file itself lives in the row (``content``: the uploaded CSV of an import, the generated
CSV of an export), so a worker on another machine reads it from the database, and the web
process that took the upload needs no disk of its own. Migration 0008 created the table.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from marketplace.db import BigId, JSONType, Timestamped
from marketplace.extensions import db
from marketplace.models import enum_column


class TransferKind(enum.StrEnum):
    IMPORT = "import"
    EXPORT = "export"


class TransferStatus(enum.StrEnum):
    """Where a transfer is. An import goes queued → validating → importing → done, or stops
    at ``needs_confirmation`` (some rows have errors: nothing was written; the vendor may
    import the valid rows) or ``failed`` (the file can't be read, or no row is valid). An
    export goes queued → exporting → done."""

    QUEUED = "queued"
    VALIDATING = "validating"
    NEEDS_CONFIRMATION = "needs_confirmation"
    IMPORTING = "importing"
    EXPORTING = "exporting"
    FAILED = "failed"
    DONE = "done"


RUNNING_STATUSES = frozenset({TransferStatus.QUEUED, TransferStatus.VALIDATING,
                              TransferStatus.IMPORTING, TransferStatus.EXPORTING})


class CatalogTransfer(Timestamped, db.Model):
    __tablename__ = "catalog_transfers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    kind: Mapped[TransferKind] = mapped_column(enum_column(TransferKind, name="transfer_kind"))
    status: Mapped[TransferStatus] = mapped_column(
        enum_column(TransferStatus, name="transfer_status"), default=TransferStatus.QUEUED
    )
    filename: Mapped[str] = mapped_column(String(255), default="")
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # Progress: data rows in the file, and how many have been checked (or written) so far.
    total_rows: Mapped[int | None] = mapped_column(Integer)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    # The error report: [{"line", "column", "message"}], the first MAX_REPORTED_ERRORS of
    # ``error_count``; a line of None is about the whole file.
    errors: Mapped[list] = mapped_column(JSONType, default=list)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    valid_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    # The vendor chose to import the valid rows of a file with errors.
    import_valid_rows: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised by every job run that takes the transfer up; a run that finds it raised by a
    # later one (a job delivered twice) gives up instead of writing twice.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("vendor_api_tokens.id", ondelete="SET NULL")
    )
    # The language of whoever started it: the error report is written in it.
    locale: Mapped[str | None] = mapped_column(String(16))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_catalog_transfers_vendor_id", "vendor_id", "id"),)

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATUSES
