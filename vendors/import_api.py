"""The vendor API's catalog files: CSV imports and exports under /api/v1/vendor/imports and
/api/v1/vendor/exports, the same services and jobs as the portal's.

These routes join the vendor API blueprint (``vendors.api.bp``: Bearer token only, scopes,
its error handlers); ``create_app`` imports this module before registering it. Scope:
``catalog:import``.
"""

from __future__ import annotations

from flask import abort, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from marshmallow import Schema, fields
from werkzeug.exceptions import RequestEntityTooLarge

from marketplace.errors import error_response
from marketplace.extensions import db
from marketplace.openapi import document, error_responses, json_response, page_of
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.scoping import get_vendor_owned_or_404
from vendors import import_jobs
from vendors.access import Permission
from vendors.api import AUTH, bp, requires
from vendors.import_models import CatalogTransfer, TransferKind, TransferStatus
from vendors.import_views import csv_download, read_upload
from vendors.imports import MAX_FILE_BYTES, FileRejected, too_large

page_query = PageQuerySchema()

FORMAT = ("One row per variant; the columns are described in the README (\"Catalog CSV\") "
          "and the export writes the same format. ")


class RowErrorSchema(Schema):
    line = fields.Integer(allow_none=True, metadata={"description": "Line in the file (the "
                                                     "header is line 1); null: the file."})
    column = fields.String(allow_none=True)
    message = fields.String()


class CatalogTransferSchema(Schema):
    id = fields.Integer()
    kind = fields.Enum(TransferKind, by_value=True)
    status = fields.Enum(TransferStatus, by_value=True, metadata={"description": (
        "queued, validating, needs_confirmation (errors: nothing written; POST confirm to "
        "import the valid rows), importing, exporting, failed, done.")})
    filename = fields.String()
    size_bytes = fields.Integer()
    total_rows = fields.Integer(allow_none=True)
    processed_rows = fields.Method("_processed")
    percent = fields.Method("_percent", allow_none=True)
    valid_rows = fields.Integer()
    created_count = fields.Integer()
    updated_count = fields.Integer()
    skipped_count = fields.Integer()
    import_valid_rows = fields.Boolean()
    error_count = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    file_url = fields.Method("_file_url", allow_none=True)

    def _processed(self, transfer: CatalogTransfer) -> int:
        return import_jobs.progress(transfer)["processed_rows"]

    def _percent(self, transfer: CatalogTransfer) -> int | None:
        return import_jobs.progress(transfer)["percent"]

    def _file_url(self, transfer: CatalogTransfer) -> str | None:
        if transfer.kind != TransferKind.EXPORT or transfer.status != TransferStatus.DONE:
            return None
        return url_for("vendor_api.export_file", transfer_id=transfer.id)


transfer_schema = CatalogTransferSchema()


def _owned(transfer_id: int, kind: TransferKind) -> CatalogTransfer:
    transfer = get_vendor_owned_or_404(CatalogTransfer, transfer_id, g.actor.vendor_id)
    if transfer.kind != kind:
        abort(404)
    return transfer


def _list(kind: TransferKind) -> ResponseReturnValue:
    query = page_query.load(request.args)
    page = paginate(import_jobs.transfers_select(g.actor.vendor_id, kind),
                    query["page"], query["per_page"])
    return jsonify(page.to_dict(transfer_schema))


def _upload() -> tuple[str, bytes]:
    """The CSV from a multipart ``file`` field or a ``text/csv`` body. Raises FileRejected,
    FileTooLarge."""
    try:
        if request.mimetype == "multipart/form-data":
            storage = request.files.get("file")
            data = read_upload(storage)
            if data is None:
                raise FileRejected(_("Send the CSV in the multipart field \"file\", or as "
                                     "the body with Content-Type: text/csv."), field="file")
            return storage.filename, data
        if request.mimetype != "text/csv":
            raise FileRejected(_("Send the CSV as the body with Content-Type: text/csv, or "
                                 "in the multipart field \"file\"."), field="file")
        if (request.content_length or 0) > MAX_FILE_BYTES:
            raise too_large()
        name = request.args.get("filename") or "catalog.csv"
        return name, request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise too_large() from None


@bp.get("/imports")
@document(summary="List catalog imports", tags=["vendor catalog files"],
          description=AUTH + "Scope: catalog:import. Newest first.",
          parameters=[{"in": "query", "schema": PageQuerySchema}],
          responses={200: json_response(page_of(CatalogTransferSchema), "A page of imports."),
                     **error_responses(401, 403, 422)})
@requires(Permission.IMPORT_CATALOG)
def list_imports() -> ResponseReturnValue:
    return _list(TransferKind.IMPORT)


@bp.post("/imports")
@document("post", summary="Import a catalog CSV", tags=["vendor catalog files"],
          description=AUTH + "Scope: catalog:import. " + FORMAT + "Send the file as the body "
          "(`Content-Type: text/csv`, optional `?filename=`) or as the multipart field "
          f"`file`; at most {MAX_FILE_BYTES // (1024 * 1024)} MB. Answers 202 at once: poll "
          "the import. A file with errors writes nothing and stops at `needs_confirmation` "
          "with the errors (line, column, message).",
          responses={202: json_response(CatalogTransferSchema, "The queued import."),
                     **error_responses(401, 403, 413, 422)})
@requires(Permission.IMPORT_CATALOG)
def create_import() -> ResponseReturnValue:
    filename, data = _upload()
    transfer = import_jobs.start_import(g.actor, filename=filename, data=data,
                                        locale=str(get_locale()))
    db.session.commit()
    return jsonify(transfer_schema.dump(transfer)), 202


@bp.get("/imports/<int:transfer_id>")
@document(summary="One catalog import: status, progress and errors",
          tags=["vendor catalog files"], description=AUTH + "Scope: catalog:import.",
          responses={200: json_response(CatalogTransferSchema, "The import."),
                     **error_responses(401, 403, 404)})
@requires(Permission.IMPORT_CATALOG)
def get_import(transfer_id: int) -> ResponseReturnValue:
    return jsonify(transfer_schema.dump(_owned(transfer_id, TransferKind.IMPORT)))


@bp.post("/imports/<int:transfer_id>/confirm")
@document("post", summary="Import the valid rows of a file with errors",
          tags=["vendor catalog files"],
          description=AUTH + "Scope: catalog:import. Only for an import in "
                             "`needs_confirmation`; the rows with errors are left out, the "
                             "others are written in one transaction.",
          responses={202: json_response(CatalogTransferSchema, "The queued import."),
                     **error_responses(401, 403, 404, 409)})
@requires(Permission.IMPORT_CATALOG)
def confirm_import(transfer_id: int) -> ResponseReturnValue:
    transfer = _owned(transfer_id, TransferKind.IMPORT)
    import_jobs.confirm_import(g.actor, transfer)
    db.session.commit()
    return jsonify(transfer_schema.dump(transfer)), 202


@bp.get("/exports")
@document(summary="List catalog exports", tags=["vendor catalog files"],
          description=AUTH + "Scope: catalog:import. Newest first.",
          parameters=[{"in": "query", "schema": PageQuerySchema}],
          responses={200: json_response(page_of(CatalogTransferSchema), "A page of exports."),
                     **error_responses(401, 403, 422)})
@requires(Permission.EXPORT_CATALOG)
def list_exports() -> ResponseReturnValue:
    return _list(TransferKind.EXPORT)


@bp.post("/exports")
@document("post", summary="Export the catalog as CSV", tags=["vendor catalog files"],
          description=AUTH + "Scope: catalog:import. " + FORMAT + "Answers 202 at once; when "
                             "the export is `done`, `file_url` downloads the file.",
          responses={202: json_response(CatalogTransferSchema, "The queued export."),
                     **error_responses(401, 403)})
@requires(Permission.EXPORT_CATALOG)
def create_export() -> ResponseReturnValue:
    transfer = import_jobs.start_export(g.actor, locale=str(get_locale()))
    db.session.commit()
    return jsonify(transfer_schema.dump(transfer)), 202


@bp.get("/exports/<int:transfer_id>")
@document(summary="One catalog export", tags=["vendor catalog files"],
          description=AUTH + "Scope: catalog:import.",
          responses={200: json_response(CatalogTransferSchema, "The export."),
                     **error_responses(401, 403, 404)})
@requires(Permission.EXPORT_CATALOG)
def get_export(transfer_id: int) -> ResponseReturnValue:
    return jsonify(transfer_schema.dump(_owned(transfer_id, TransferKind.EXPORT)))


@bp.get("/exports/<int:transfer_id>/file")
@document(summary="Download an export's CSV", tags=["vendor catalog files"],
          description=AUTH + "Scope: catalog:import. 409 until the export is done.",
          responses={200: {"description": "The CSV file.",
                           "content": {"text/csv": {"schema": {"type": "string"}}}},
                     **error_responses(401, 403, 404, 409)})
@requires(Permission.EXPORT_CATALOG)
def export_file(transfer_id: int) -> ResponseReturnValue:
    transfer = _owned(transfer_id, TransferKind.EXPORT)
    if transfer.status != TransferStatus.DONE:
        return error_response(409, _("Not ready"), _("The export isn't finished yet: it is "
                                                     "%(status)s.", status=import_jobs
                                                     .status_label(transfer.status)))
    return csv_download(transfer)
