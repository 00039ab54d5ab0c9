"""The API tokens section: owners create tokens (the secret is shown once) and revoke them."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from marketplace.extensions import db
from marketplace.pagination import PageQuerySchema, paginate
from marketplace.scoping import get_vendor_owned_or_404
from vendors import tokens
from vendors.access import SCOPE_LABELS, Permission, vendor_member_required
from vendors.errors import VendorError
from vendors.forms import ActionForm, TokenForm, show_error
from vendors.models import VendorApiToken

bp = Blueprint("tokens", __name__, url_prefix="/api-tokens")

page_query = PageQuerySchema()


def _tokens_page(form: TokenForm | None = None, *, secret: str | None = None,
                 created: VendorApiToken | None = None, status: int = 200) -> ResponseReturnValue:
    g.actor.require(Permission.MANAGE_TOKENS)
    query = page_query.load(request.args)
    page = paginate(tokens.tokens_select(g.vendor.id), query["page"], query["per_page"])
    response = render_template(
        "vendors/tokens.html", tokens=page, form=form or TokenForm(), action_form=ActionForm(),
        secret=secret, created=created, scope_labels=SCOPE_LABELS,
    )
    # The page may show a secret: no cache (browser, proxy) may keep a copy of it.
    return response, status, {"Cache-Control": "no-store"}


# Endpoint "vendors.tokens.tokens"; the function is named so it doesn't shadow the module.
@bp.get("", endpoint="tokens")
@vendor_member_required
def tokens_list() -> ResponseReturnValue:
    return _tokens_page()


@bp.post("")
@vendor_member_required
def create() -> ResponseReturnValue:
    form = TokenForm()
    if not form.validate_on_submit():
        return _tokens_page(form, status=422)
    try:
        token, secret = tokens.create_token(g.actor, name=form.name.data, scopes=form.scopes.data)
    except VendorError as error:
        db.session.rollback()
        if not show_error(form, error):
            flash(error.message, "error")
        return _tokens_page(form, status=error.status)
    db.session.commit()
    # Rendered, not redirected: the secret must not travel through the session cookie.
    flash(_("The token %(name)s was created. Copy it now: it won't be shown again.",
            name=token.name), "success")
    return _tokens_page(secret=secret, created=token, status=201)


@bp.post("/<int:token_id>/revoke")
@vendor_member_required
def revoke(token_id: int) -> ResponseReturnValue:
    token = get_vendor_owned_or_404(VendorApiToken, token_id, g.vendor.id)
    try:
        tokens.revoke_token(g.actor, token.id)
    except VendorError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _tokens_page(status=error.status)
    db.session.commit()
    flash(_("The token %(name)s was revoked; requests using it are refused from now on.",
            name=token.name), "success")
    return redirect(url_for("vendors.tokens.tokens"), 303)
