"""The admin's disputes list (/admin/disputes) and, while the sandbox is the payment provider,
its buttons to play the bank: close an open dispute as won or lost (for the demo).

A blueprint of its own, registered inside ``payouts.views.bp`` (endpoints
``payouts.disputes.*``)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from marketplace.auth.decorators import admin_required
from marketplace.extensions import db
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.payments import PaymentProviderError, provider, sandbox_disputes
from marketplace.payments.sandbox import SandboxProvider
from payouts import disputes
from payouts.models import Dispute, DisputeStatus

bp = Blueprint("disputes", __name__, template_folder="templates")

STATUS_LABELS = {
    DisputeStatus.OPEN: _l("Open"),
    DisputeStatus.WON: _l("Won"),
    DisputeStatus.LOST: _l("Lost"),
}


class AdminDisputeQuerySchema(PageQuerySchema):
    status = fields.Enum(DisputeStatus, by_value=True, load_default=None)


class SandboxOutcomeSchema(Schema):
    """The sandbox's "bank decides" form (the CSRF token is checked before the view)."""

    outcome = fields.String(required=True, validate=validate.OneOf(
        ["won", "lost"], error=_l("Choose won or lost.")))


admin_query = AdminDisputeQuerySchema()
outcome_form = SandboxOutcomeSchema(unknown="exclude")


def _sandbox() -> bool:
    return isinstance(provider(), SandboxProvider)


@bp.get("/admin/disputes")
@admin_required
def admin_disputes() -> ResponseReturnValue:
    query = admin_query.load(request.args)
    page = paginate(disputes.admin_disputes_select(query["status"]), query["page"],
                    query["per_page"])
    return render_template("payouts/admin_disputes.html", page=page, status=query["status"],
                           statuses=list(DisputeStatus), counts=disputes.dispute_counts(),
                           dispute_status_labels=STATUS_LABELS, sandbox=_sandbox())


@bp.post("/admin/disputes/<int:dispute_id>/sandbox-close")
@admin_required
def sandbox_close(dispute_id: int) -> ResponseReturnValue:
    if not _sandbox():
        abort(404)  # with Stripe the bank decides, not us
    won = outcome_form.load(request.form)["outcome"] == "won"
    dispute = db.get_or_404(Dispute, dispute_id)
    back = redirect(url_for(".admin_disputes"), 303)
    if dispute.status != DisputeStatus.OPEN:
        flash(_("Dispute #%(id)s is closed already.", id=dispute.id), "error")
        return back
    try:
        sandbox_disputes.close_dispute(dispute.provider_dispute_id, won)
    except PaymentProviderError as error:
        db.session.rollback()
        flash(error.message, "error")
        return back
    db.session.commit()
    flash(_("The sandbox's bank decided dispute #%(id)s: %(outcome)s. The books follow as "
            "soon as its event is processed.", id=dispute.id,
            outcome=STATUS_LABELS[DisputeStatus.WON if won else DisputeStatus.LOST]),
          "success")
    return back
