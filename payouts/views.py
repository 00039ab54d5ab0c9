"""Payouts pages: the vendor's balance and payouts (/vendor/balance) and the admin's payouts
list (/admin/payouts). Paths are absolute (no blueprint prefix): each page lives in the area
of the site its audience knows."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from marketplace.auth.decorators import admin_required
from marketplace.pagination import PageQuerySchema, paginate
from payouts import (
    books_cli,  # noqa: F401  (adds `flask marketplace settle` and `check-books`)
    capture,
    cli,  # noqa: F401  (adds `flask marketplace payouts`)
    commission_views,
    dispute_cli,  # noqa: F401  (adds `flask marketplace sandbox-dispute`)
    dispute_views,
    disputes,
    finance_views,
    refund_views,
    refunds,
    statement_export,
    statement_views,
    statements,
)
from payouts.models import PayoutStatus
from vendors.access import Permission, vendor_member_required
from vendors.errors import register_error_handlers
from vendors.order_views import format_money
from vendors.views import _portal_nav

bp = Blueprint("payouts", __name__, template_folder="templates")
register_error_handlers(bp)  # a role that may not see payouts gets the portal's 403 page
bp.register_blueprint(commission_views.bp)  # /admin/commission
bp.register_blueprint(dispute_views.bp)  # /admin/disputes
bp.register_blueprint(refund_views.bp)  # /vendor/refunds, /admin/refunds, buyers' requests
bp.register_blueprint(statement_views.bp)  # /vendor/balance/statements/<YYYY-MM>[.csv]
bp.register_blueprint(finance_views.bp)  # /admin/finance, /admin/finance/reconciliation


@bp.record_once
def _register(state) -> None:
    capture.register_handlers()  # the ledger posts each captured payment
    disputes.register_handlers()  # ... and each chargeback opened, won or lost
    refunds.register_handlers()  # rejected and cancelled paid sub-orders are refunded


STATUS_LABELS = {
    PayoutStatus.PENDING: _l("Scheduled"),
    PayoutStatus.PROCESSING: _l("Sending"),
    PayoutStatus.PAID: _l("Paid"),
    PayoutStatus.FAILED: _l("Failed"),
}


class AdminPayoutQuerySchema(PageQuerySchema):
    status = fields.Enum(PayoutStatus, by_value=True, load_default=None)


page_query = PageQuerySchema()
admin_query = AdminPayoutQuerySchema()


@bp.context_processor
def _helpers() -> dict:
    # The vendor portal's frame (navigation, shop switcher) needs the portal's context too.
    portal = _portal_nav() if request.path.startswith("/vendor/") else {}
    return {**portal, "format_money": format_money, "payout_status_labels": STATUS_LABELS,
            "kind_labels": statements.KIND_LABELS,
            "schedule_labels": statements.SCHEDULE_LABELS}


@bp.get("/vendor/balance")
@vendor_member_required
def balance() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_PAYOUTS)
    query = page_query.load(request.args)
    history = paginate(statements.payouts_select(g.vendor.id), query["page"], query["per_page"])
    return render_template("payouts/balance.html", vendor=g.vendor,
                           balances=statements.balances(g.vendor.id),
                           upcoming=statements.upcoming(g.vendor), payouts=history,
                           statement_months=statement_export.activity_months(g.vendor.id),
                           default_month=statement_export.default_month())


@bp.get("/vendor/balance/transactions")
@vendor_member_required
def transactions() -> ResponseReturnValue:
    g.actor.require(Permission.VIEW_PAYOUTS)
    query = page_query.load(request.args)
    page = paginate(statements.transactions_select(g.vendor.id), query["page"],
                    query["per_page"])
    return render_template("payouts/transactions.html", page=page,
                           rows=statements.transaction_rows(g.vendor.id, page.items))


@bp.get("/admin/payouts")
@admin_required
def admin_payouts() -> ResponseReturnValue:
    query = admin_query.load(request.args)
    page = paginate(statements.admin_payouts_select(query["status"]), query["page"],
                    query["per_page"])
    return render_template("payouts/admin_payouts.html", page=page, status=query["status"],
                           statuses=list(PayoutStatus),
                           counts=statements.payout_counts())
