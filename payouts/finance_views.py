"""The admins' finance pages: /admin/finance (revenue, payables, tax, payouts, refunds,
disputes and a chart) and /admin/finance/reconciliation (the ledger against the gateway).

A blueprint of its own, registered inside ``payouts.views.bp`` (endpoints
``payouts.finance.*``). Both pages only read.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from marketplace.auth.decorators import admin_required
from marketplace.payments import PaymentProviderError
from payouts import (
    finance,
    finance_cli,  # noqa: F401  (adds `flask marketplace reconcile`)
    reconciliation,
    statement_export,
)
from payouts.statement_export import InvalidPeriod

bp = Blueprint("finance", __name__, template_folder="templates")

KIND_LABELS = {
    reconciliation.Kind.CHARGE: _l("Charges"),
    reconciliation.Kind.REFUND: _l("Refunds"),
    reconciliation.Kind.TRANSFER: _l("Transfers"),
    reconciliation.Kind.REVERSAL: _l("Transfer reversals"),
}
PROBLEM_LABELS = {
    reconciliation.Problem.AMOUNT: _l("Amounts differ"),
    reconciliation.Problem.CURRENCY: _l("Currencies differ"),
    reconciliation.Problem.DESTINATION: _l("Other destination"),
    reconciliation.Problem.WRONG_OBJECT: _l("Other payment or transfer"),
    reconciliation.Problem.STATUS: _l("Status differs"),
    reconciliation.Problem.MISSING_IN_LEDGER: _l("Missing in the ledger"),
    reconciliation.Problem.MISSING_AT_PROVIDER: _l("Missing at the provider"),
    reconciliation.Problem.UNKNOWN_TO_LEDGER: _l("Unknown to the ledger"),
}

# Payout, refund and dispute statuses by value (a value means the same in each).
STATUS_LABELS = {
    "pending": _l("Scheduled"), "processing": _l("Sending"), "paid": _l("Paid"),
    "failed": _l("Failed"), "requested": _l("Requested"), "approved": _l("Approved"),
    "succeeded": _l("Succeeded"), "declined": _l("Declined"), "open": _l("Open"),
    "won": _l("Won"), "lost": _l("Lost"),
}



class FinanceQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    period = fields.String(load_default="this_month", validate=validate.OneOf(
        list(finance.PERIODS), error=_l("Choose this month, last month or the last 12 "
                                        "months.")))


class ReconciliationQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    month = fields.String(load_default=None)

    @validates("month")
    def _valid_month(self, value: str | None, **kwargs) -> None:
        if value is not None:
            try:
                statement_export.parse_month(value)
            except InvalidPeriod as error:
                raise ValidationError(str(error)) from None


finance_query = FinanceQuerySchema()
reconciliation_query = ReconciliationQuerySchema()


@bp.get("/admin/finance")
@admin_required
def report() -> ResponseReturnValue:
    query = finance_query.load(request.args)
    return render_template("payouts/admin_finance.html",
                           report=finance.report(query["period"]), periods=finance.PERIODS,
                           status_labels=STATUS_LABELS)


@bp.get("/admin/finance/reconciliation")
@admin_required
def reconciliation_report() -> ResponseReturnValue:
    query = reconciliation_query.load(request.args)
    now = dt.datetime.now(dt.UTC)
    month = (statement_export.parse_month(query["month"]) if query["month"]
             else statement_export.Month.of(now))
    months = [statement_export.Month.of(now)]
    while len(months) < 12:
        months.append(months[-1].previous())
    context = {"month": month, "months": months, "kind_labels": KIND_LABELS,
               "problem_labels": PROBLEM_LABELS, "result": None, "error": None}
    try:
        context["result"] = reconciliation.reconcile(month.start, month.end)
    except PaymentProviderError as error:
        context["error"] = error.message
        return render_template("payouts/admin_reconciliation.html", **context), 503
    return render_template("payouts/admin_reconciliation.html", **context)
