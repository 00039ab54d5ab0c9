"""Vendor statements: /vendor/balance/statements/<YYYY-MM> (a printable page) and
/vendor/balance/statements/<YYYY-MM>.csv (the download, streamed: it only touches the
database through ``statement_export.csv_chunks``, which takes plain ids, so it runs fine
after the request's own session has closed).

A blueprint of its own, registered inside ``payouts.views.bp`` (endpoints
``payouts.statements.*``), so the portal's frame, error pages and helpers apply. Every page
shows the logged-in member's current shop only: the URL names a month, never a vendor.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates

from payouts import statement_export
from payouts.statement_export import InvalidPeriod, Month
from vendors.access import Permission, vendor_member_required

bp = Blueprint("statements", __name__, template_folder="templates")


class StatementPeriodSchema(Schema):
    """A statement's month (``YYYY-MM``); from the URL, or the balance page's picker (which
    also says ``format``: the page or the CSV)."""

    class Meta:
        unknown = EXCLUDE

    month = fields.String(required=True)
    format = fields.String(load_default="html", validate=validate.OneOf(
        ["html", "csv"], error=_l("Choose the page or CSV.")))

    @validates("month")
    def _valid_month(self, value: str, **kwargs) -> None:
        try:
            statement_export.parse_month(value)
        except InvalidPeriod as error:
            raise ValidationError(str(error)) from None

    @post_load
    def _to_month(self, data: dict, **kwargs) -> dict:
        data["month"] = statement_export.parse_month(data["month"])
        return data


period_schema = StatementPeriodSchema()


def _period(values) -> dict:
    """The loaded period, or a 400 page saying what is wrong with it."""
    try:
        return period_schema.load(values)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {}
        first = next(iter(messages.values()), [""])
        abort(400, description=" ".join(first if isinstance(first, list) else [str(first)]))


def _allowed() -> None:
    g.actor.require(Permission.VIEW_PAYOUTS)


@bp.get("/vendor/balance/statements")
@vendor_member_required
def pick() -> ResponseReturnValue:
    """The balance page's month picker (a GET form) sends here."""
    _allowed()
    period = _period(request.args)
    endpoint = ".statement_csv" if period["format"] == "csv" else ".statement"
    return redirect(url_for(endpoint, month=period["month"].key), 303)


@bp.get("/vendor/balance/statements/<month>")
@vendor_member_required
def statement(month: str) -> ResponseReturnValue:
    _allowed()
    chosen: Month = _period({"month": month})["month"]
    built = statement_export.build_statement(g.vendor.id, chosen)
    # Rendered whole (the rows still come from the database a batch at a time): a streamed
    # template would outlive the request's database session, which the portal's frame uses.
    rows = statement_export.statement_rows(g.vendor.id, chosen)
    return render_template("payouts/statement.html", vendor=g.vendor, statement=built,
                           month=chosen, rows=rows)


@bp.get("/vendor/balance/statements/<month>.csv")
@vendor_member_required
def statement_csv(month: str) -> ResponseReturnValue:
    _allowed()
    chosen: Month = _period({"month": month})["month"]
    filename = f"statement-{g.vendor.slug or g.vendor.id}-{chosen.key}.csv"
    return Response(
        stream_with_context(statement_export.csv_chunks(g.vendor.id, chosen)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                 "Cache-Control": "private, no-store"})
