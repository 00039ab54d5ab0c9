"""The admin area's home: the dashboard and the jobs status page.

Moderation pages register their routes on the same ``bp`` and announce themselves in the
admin navigation with :func:`register_admin_link`.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace import jobs
from marketplace.auth.decorators import admin_required
from marketplace.extensions import db
from marketplace.models import User
from vendors.models import Product, ProductStatus, Vendor, VendorStatus

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

# (endpoint, label) pairs shown in the admin navigation, in order.
_ADMIN_LINKS: list[tuple[str, str]] = [
    ("admin.dashboard", _l("Dashboard")),
    ("admin.jobs", _l("Jobs")),
    # A page of payouts/ (which admin doesn't import): listed once that blueprint is loaded.
    ("payouts.admin_payouts", _l("Payouts")),
    ("payouts.commission.rules", _l("Commission")),
    ("payouts.disputes.admin_disputes", _l("Disputes")),
    ("payouts.refunds.admin_refunds", _l("Refunds")),
    ("payouts.finance.report", _l("Finance")),
]

JOB_LIST_LIMIT = 50

# Two maps, not one: the enums are StrEnums, so VendorStatus.APPROVED == ProductStatus.APPROVED.
VENDOR_STATUS_LABELS = {
    VendorStatus.PENDING: _l("Pending"),
    VendorStatus.APPROVED: _l("Approved"),
    VendorStatus.REJECTED: _l("Rejected"),
    VendorStatus.SUSPENDED: _l("Suspended"),
}
PRODUCT_STATUS_LABELS = {
    ProductStatus.DRAFT: _l("Draft"),
    ProductStatus.SUBMITTED: _l("Submitted"),
    ProductStatus.APPROVED: _l("Approved"),
    ProductStatus.REJECTED: _l("Rejected"),
    ProductStatus.ARCHIVED: _l("Archived"),
}


def register_admin_link(endpoint: str, label: str) -> None:
    """Add a page to the admin navigation (call at import time, once per endpoint)."""
    if all(existing != endpoint for existing, _label in _ADMIN_LINKS):
        _ADMIN_LINKS.append((endpoint, label))


@bp.context_processor
def _admin_nav() -> dict:
    # Only endpoints that exist: a link registered by a package that isn't loaded would 500.
    links = [(ep, label) for ep, label in _ADMIN_LINKS if ep in current_app.view_functions]
    return {"admin_links": links}


def _counts_by_status(column, labels: dict) -> list[tuple[str, str, int]]:
    """(value, label, count) per status, zeros included, in the enum's order."""
    found = dict(db.session.execute(select(column, func.count()).group_by(column)).all())
    return [(status.value, label, found.get(status, 0)) for status, label in labels.items()]


@bp.route("/")
@admin_required
def dashboard() -> ResponseReturnValue:
    return render_template(
        "admin/dashboard.html",
        user_count=db.session.scalar(select(func.count()).select_from(User)) or 0,
        vendor_counts=_counts_by_status(Vendor.status, VENDOR_STATUS_LABELS),
        product_counts=_counts_by_status(Product.status, PRODUCT_STATUS_LABELS),
        pending_outbox=jobs.pending_outbox_count(),
    )


# Endpoint "admin.jobs"; the function is named jobs_page so it doesn't shadow the jobs module.
@bp.route("/jobs", endpoint="jobs")
@admin_required
def jobs_page() -> ResponseReturnValue:
    return render_template(
        "admin/jobs.html",
        stats=jobs.queue_stats(),
        failed=jobs.failed_jobs(limit=JOB_LIST_LIMIT),
        active=jobs.active_jobs(limit=JOB_LIST_LIMIT),
        pending_outbox=jobs.pending_outbox_count(),
        limit=JOB_LIST_LIMIT,
    )


@bp.post("/jobs/<job_id>/retry")
@admin_required
def retry_job(job_id: str) -> ResponseReturnValue:
    if jobs.retry_failed_job(job_id):
        flash(_("Job %(id)s is queued again.", id=job_id), "success")
    else:
        flash(_("Job %(id)s is not in the failed list any more.", id=job_id), "error")
    return redirect(url_for("admin.jobs"), 303)

