"""The portal's catalog files section: upload a CSV to import, export the catalog, follow
either's progress, read an import's error report and choose to import its valid rows.

Endpoints ``vendors.imports.*``; owners and managers only (``import_catalog`` and
``export_catalog``). A running transfer's page reloads itself every few seconds (the
``Refresh`` header), so the progress bar moves without any script.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from marketplace.errors import error_response
from marketplace.extensions import db
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.scoping import get_vendor_owned_or_404
from vendors import import_jobs
from vendors.access import Permission, vendor_member_required
from vendors.errors import VendorError
from vendors.import_models import CatalogTransfer, TransferKind, TransferStatus
from vendors.imports import MAX_FILE_BYTES, too_large

bp = Blueprint("imports", __name__)

REFRESH_SECONDS = 2
page_query = PageQuerySchema()


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file (UTF-8, at most %(size)d MB)",
                        size=MAX_FILE_BYTES // (1024 * 1024)),
                     render_kw={"accept": ".csv,text/csv"})


class ActionForm(FlaskForm):
    """A button: confirm importing the valid rows, or start an export (CSRF only)."""


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    # Raised before the body is read (Content-Length above MAX_CONTENT_LENGTH).
    return error_response(413, _("Too large"), too_large().message)


def read_upload(storage: FileStorage | None) -> bytes | None:
    """The uploaded file's bytes, one more than allowed at most (enough to refuse it)."""
    if not isinstance(storage, FileStorage) or not storage.filename:
        return None
    return storage.read(MAX_FILE_BYTES + 1)


def _index(form: ImportForm, status: int = 200) -> ResponseReturnValue:
    g.actor.require(Permission.IMPORT_CATALOG)
    query = page_query.load(request.args)
    page = paginate(import_jobs.transfers_select(g.vendor.id), query["page"], query["per_page"])
    return render_template("vendors/catalog_files.html", transfers=page, form=form,
                           export_form=ActionForm(), status_label=import_jobs.status_label,
                           progress=import_jobs.progress), status


@bp.get("/catalog-files")
@vendor_member_required
def index() -> ResponseReturnValue:
    return _index(ImportForm())


@bp.post("/imports")
@vendor_member_required
def upload() -> ResponseReturnValue:
    g.actor.require(Permission.IMPORT_CATALOG)
    form = ImportForm()
    data = read_upload(form.file.data) if form.validate_on_submit() else None
    if data is None:
        if form.is_submitted() and not form.errors:
            form.file.errors = [_("Choose a CSV file to import.")]
        return _index(form, 422)
    try:
        transfer = import_jobs.start_import(g.actor, filename=form.file.data.filename,
                                            data=data, locale=str(get_locale()))
    except VendorError as error:
        db.session.rollback()
        form.file.errors = [error.message]
        return _index(form, error.status)
    db.session.commit()
    flash(_("%(file)s was uploaded; its rows are being checked.", file=transfer.filename),
          "success")
    return redirect(url_for(".import_detail", transfer_id=transfer.id), 303)


def _detail(transfer: CatalogTransfer) -> ResponseReturnValue:
    import_jobs.require_viewer(g.actor, transfer)
    response = Response(render_template(
        "vendors/catalog_transfer.html", transfer=transfer, form=ActionForm(),
        progress=import_jobs.progress(transfer), status_label=import_jobs.status_label,
        Status=TransferStatus, refresh=REFRESH_SECONDS))
    if transfer.is_running:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


def _owned(transfer_id: int, kind: TransferKind) -> CatalogTransfer:
    transfer = get_vendor_owned_or_404(CatalogTransfer, transfer_id, g.vendor.id)
    if transfer.kind != kind:
        abort(404)
    return transfer


@bp.get("/imports/<int:transfer_id>")
@vendor_member_required
def import_detail(transfer_id: int) -> ResponseReturnValue:
    return _detail(_owned(transfer_id, TransferKind.IMPORT))


@bp.post("/imports/<int:transfer_id>/confirm")
@vendor_member_required
def confirm(transfer_id: int) -> ResponseReturnValue:
    transfer = _owned(transfer_id, TransferKind.IMPORT)
    if not ActionForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for(".import_detail", transfer_id=transfer.id), 303)
    try:
        import_jobs.confirm_import(g.actor, transfer)
    except VendorError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".import_detail", transfer_id=transfer_id), 303)
    db.session.commit()
    flash(_("The valid rows of %(file)s are being imported; the rows with errors are left "
            "out.", file=transfer.filename), "success")
    return redirect(url_for(".import_detail", transfer_id=transfer.id), 303)


@bp.post("/exports")
@vendor_member_required
def export() -> ResponseReturnValue:
    g.actor.require(Permission.EXPORT_CATALOG)
    if not ActionForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for(".index"), 303)
    transfer = import_jobs.start_export(g.actor, locale=str(get_locale()))
    db.session.commit()
    flash(_("Your catalog is being exported; the file will be ready to download here."),
          "success")
    return redirect(url_for(".export_detail", transfer_id=transfer.id), 303)


@bp.get("/exports/<int:transfer_id>")
@vendor_member_required
def export_detail(transfer_id: int) -> ResponseReturnValue:
    return _detail(_owned(transfer_id, TransferKind.EXPORT))


@bp.get("/exports/<int:transfer_id>/download")
@vendor_member_required
def download(transfer_id: int) -> ResponseReturnValue:
    transfer = _owned(transfer_id, TransferKind.EXPORT)
    import_jobs.require_viewer(g.actor, transfer)
    if transfer.status != TransferStatus.DONE:
        flash(_("The export isn't finished yet."), "error")
        return redirect(url_for(".export_detail", transfer_id=transfer.id), 303)
    return csv_download(transfer)


def csv_download(transfer: CatalogTransfer) -> Response:
    response = Response(transfer.content or b"", mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{transfer.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
