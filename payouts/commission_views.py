"""The admin's commission pages (/admin/commission): the rules in force and past versions,
forms to create a rule, change its terms from a date (a new version) and close it, each with
a "what would this rule have charged" preview over past orders.

A blueprint of its own, registered inside ``payouts.views.bp`` (endpoints
``payouts.commission.*``). Each form posts ``action=preview`` (compute and show, write
nothing) or ``action=save``.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate

from marketplace.auth.decorators import admin_required
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.fx import BASE_CURRENCY, load_rates
from marketplace.money import Money
from marketplace.pagination import PageQuerySchema, paginate
from payouts import commission_admin as admin
from payouts.commission import Terms
from payouts.commission_admin import RuleInputError, Scope
from payouts.commission_schemas import (
    RuleChangeFormSchema,
    RuleCloseFormSchema,
    RuleCreateFormSchema,
)
from payouts.models import CommissionRule
from vendors.order_views import format_money

bp = Blueprint("commission", __name__, template_folder="templates")

SCOPE_LABELS = {
    admin.SCOPE_DEFAULT: _l("Platform default"),
    admin.SCOPE_CATEGORY: _l("Category"),
    admin.SCOPE_VENDOR: _l("Vendor"),
}
STATE_LABELS = {admin.STATE_CURRENT: _l("In force and scheduled"),
                admin.STATE_PAST: _l("Past versions")}


class RuleListQuerySchema(PageQuerySchema):
    state = fields.String(load_default=admin.STATE_CURRENT, validate=validate.OneOf(
        tuple(STATE_LABELS), error=_l("Choose current or past rules.")))


list_query = RuleListQuerySchema()
create_form = RuleCreateFormSchema()
change_form = RuleChangeFormSchema()
close_form = RuleCloseFormSchema()


def rate_text(rate_bp: int) -> str:
    """1250 -> "12.5%" (in the page's locale)."""
    return format_percent(Decimal(rate_bp).scaleb(-4), "#,##0.##%")


def describe_terms(terms: Terms) -> str:
    """"12.5%", "5% + €0.30", "10%, at least €1.00"."""
    text = rate_text(terms.rate_bp)
    if terms.fixed_minor:
        text = _("%(rate)s + %(fixed)s", rate=text,
                 fixed=format_money(terms.fixed_minor, terms.currency))
    if terms.minimum_minor:
        text = _("%(terms)s, at least %(minimum)s", terms=text,
                 minimum=format_money(terms.minimum_minor, terms.currency))
    return text


def _terms_of(rule: CommissionRule) -> Terms:
    return Terms(rule.rate_bp, rule.fixed_minor, rule.minimum_minor, rule.currency)


def _major(amount_minor: int, currency: str) -> str:
    return f"{Money(amount_minor, currency).to_decimal():f}"


def _percent_value(rate_bp: int) -> str:
    return f"{Decimal(rate_bp).scaleb(-2).normalize():f}"


def _errors(error: ValidationError | RuleInputError) -> dict[str, list[str]]:
    if isinstance(error, RuleInputError):
        return {error.field: [error.message]}
    messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
    return {key: [str(m) for m in (value if isinstance(value, list) else [value])]
            for key, value in messages.items()}


def _rule_or_404(rule_id: int) -> CommissionRule:
    rule = db.session.get(CommissionRule, rule_id)
    if rule is None:
        abort(404)
    return rule


def _scope_text(scope: Scope) -> str:
    category, vendor = admin.scope_names(scope)
    if scope.kind == admin.SCOPE_VENDOR:
        return _("Vendor: %(name)s", name=vendor or "")
    if scope.kind == admin.SCOPE_CATEGORY:
        return _("Category: %(name)s (and its subcategories)", name=category or "")
    return str(SCOPE_LABELS[admin.SCOPE_DEFAULT])


def _page_helpers() -> dict:
    return {"rate_text": rate_text, "describe_terms": describe_terms, "terms_of": _terms_of,
            "scope_labels": SCOPE_LABELS, "stamp": admin.stamp,
            "currency_options": [(code, code) for code in sorted(load_rates())],
            "period_options": [(days, _("%(num)d days", num=days))
                               for days in admin.PREVIEW_PERIODS]}


# --- The list ---------------------------------------------------------------------------------


@bp.get("/admin/commission")
@admin_required
def rules() -> ResponseReturnValue:
    query = list_query.load(request.args)
    page = paginate(admin.rules_select(query["state"]), query["page"], query["per_page"])
    now = utcnow()
    return render_template("payouts/admin_commission.html", page=page, state=query["state"],
                           states=STATE_LABELS, has_default=admin.default_in_force(now),
                           scheduled=lambda rule: admin.aware(rule.valid_from) > now,
                           **_page_helpers())


# --- Create -----------------------------------------------------------------------------------


def _create_page(values: dict, errors: dict, status: int = 200,
                 preview: admin.Preview | None = None,
                 scope_text: str | None = None) -> ResponseReturnValue:
    return render_template("payouts/admin_commission_form.html", mode="create", rule=None,
                           values=values, errors=errors, preview=preview,
                           preview_scope=scope_text, categories=admin.category_options(),
                           **_page_helpers()), status


@bp.route("/admin/commission/new", methods=["GET", "POST"])
@admin_required
def new() -> ResponseReturnValue:
    if request.method == "GET":
        return _create_page({"scope": admin.SCOPE_DEFAULT, "currency": BASE_CURRENCY,
                             "period": "90"}, {})
    values = request.form.to_dict()
    try:
        data = create_form.load(request.form)
        scope = admin.resolve_scope(data["scope"], data["category_id"], data["vendor"])
        if request.form.get("action") == "preview":
            result = admin.preview(scope, data["terms"], data["period"])
            db.session.rollback()  # a preview writes nothing
            return _create_page(values, {}, preview=result, scope_text=_scope_text(scope))
        rule = admin.create(name=data["name"], scope=scope, terms=data["terms"],
                            valid_from=data["valid_from"])
    except (ValidationError, RuleInputError) as error:
        db.session.rollback()
        return _create_page(values, _errors(error), 422)
    db.session.commit()
    flash(_("The rule %(name)s is saved: %(terms)s from %(start)s (%(scope)s).",
            name=rule.name, terms=describe_terms(_terms_of(rule)),
            start=admin.stamp(rule.valid_from), scope=_scope_text(scope)), "success")
    return redirect(url_for("payouts.commission.rules"), 303)


# --- Change -----------------------------------------------------------------------------------


def _change_page(rule: CommissionRule, values: dict, errors: dict, status: int = 200,
                 preview: admin.Preview | None = None) -> ResponseReturnValue:
    return render_template("payouts/admin_commission_form.html", mode="change", rule=rule,
                           values=values, errors=errors, preview=preview,
                           scope_text=_scope_text(Scope.of(rule)),
                           preview_scope=_scope_text(Scope.of(rule)),
                           **_page_helpers()), status


@bp.route("/admin/commission/<int:rule_id>/change", methods=["GET", "POST"])
@admin_required
def change(rule_id: int) -> ResponseReturnValue:
    rule = _rule_or_404(rule_id)
    if request.method == "GET":
        return _change_page(rule, {
            "rate": _percent_value(rule.rate_bp), "currency": rule.currency,
            "fixed": _major(rule.fixed_minor, rule.currency),
            "minimum": _major(rule.minimum_minor, rule.currency), "period": "90"}, {})
    values = request.form.to_dict()
    try:
        data = change_form.load(request.form)
        if request.form.get("action") == "preview":
            result = admin.preview(Scope.of(rule), data["terms"], data["period"])
            db.session.rollback()
            return _change_page(rule, values, {}, preview=result)
        done = admin.change(rule.id, data["terms"], at=data["effective_from"])
    except (ValidationError, RuleInputError) as error:
        db.session.rollback()
        return _change_page(_rule_or_404(rule_id), values, _errors(error), 422)
    except LookupError:
        abort(404)
    db.session.commit()
    if done.previous is None:
        flash(_("%(name)s hadn't started yet, so version %(version)d was edited in place: it "
                "charges %(terms)s. No order was placed under it.", name=done.current.name,
                version=done.current.version, terms=describe_terms(_terms_of(done.current))),
              "success")
    else:
        flash(_("%(name)s changes on %(at)s: version %(new)d charges %(terms)s. Orders placed "
                "before then keep version %(old)d's terms (%(old_terms)s), frozen on their "
                "lines.", name=done.current.name, at=admin.stamp(done.at),
                new=done.current.version, terms=describe_terms(_terms_of(done.current)),
                old=done.previous.version, old_terms=describe_terms(done.previous_terms)),
              "success")
    return redirect(url_for("payouts.commission.rules"), 303)


# --- Close ------------------------------------------------------------------------------------


def _close_page(rule: CommissionRule, values: dict, errors: dict,
                status: int = 200) -> ResponseReturnValue:
    return render_template("payouts/admin_commission_close.html", rule=rule, values=values,
                           errors=errors, scope_text=_scope_text(Scope.of(rule)),
                           **_page_helpers()), status


@bp.route("/admin/commission/<int:rule_id>/close", methods=["GET", "POST"])
@admin_required
def close(rule_id: int) -> ResponseReturnValue:
    rule = _rule_or_404(rule_id)
    if request.method == "GET":
        return _close_page(rule, {}, {})
    values = request.form.to_dict()
    try:
        data = close_form.load(request.form)
        rule = admin.close(rule.id, until=data["until"])
    except (ValidationError, RuleInputError) as error:
        db.session.rollback()
        return _close_page(_rule_or_404(rule_id), values, _errors(error), 422)
    except LookupError:
        abort(404)
    db.session.commit()
    flash(_("%(name)s (version %(version)d) ends on %(until)s. Orders placed before then keep "
            "its terms.", name=rule.name, version=rule.version,
            until=admin.stamp(rule.valid_until)), "success")
    return redirect(url_for("payouts.commission.rules", state=admin.STATE_CURRENT), 303)
