"""The sandbox provider's stand-in for Stripe's hosted onboarding pages.

Only answers while the sandbox is the active provider (STRIPE_SECRET_KEY unset); with Stripe
configured every address here is a 404. The link's token is the credential, like Stripe's
single-use account links: it is signed, names one account and expires.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired

from marketplace.extensions import db
from marketplace.payments import provider
from marketplace.payments.models import SandboxAccount
from marketplace.payments.sandbox import (
    LINK_MAX_AGE_SECONDS,
    SandboxProvider,
    complete_onboarding,
    link_serializer,
)

bp = Blueprint("payments_sandbox", __name__, url_prefix="/payments/sandbox",
               template_folder="templates")


class CompleteOnboardingForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


def _link(token: str) -> dict[str, Any]:
    """The link's payload; 404 for a forged one, a redirect to refresh_url for an old one."""
    if not isinstance(provider(), SandboxProvider):
        abort(404)
    serializer = link_serializer()
    try:
        return serializer.loads(token, max_age=LINK_MAX_AGE_SECONDS)
    except SignatureExpired as expired:
        # Like Stripe: an expired link sends the seller to refresh_url for a new one.
        if expired.payload is None:
            abort(404)
        abort(redirect(serializer.load_payload(expired.payload)["refresh_url"], 303))
    except BadSignature:
        abort(404, description=_("This onboarding link is not valid."))


@bp.route("/onboarding/<token>", methods=["GET", "POST"])
def onboarding(token: str) -> ResponseReturnValue:
    link = _link(token)
    account = db.session.get(SandboxAccount, link["account"])
    if account is None:
        abort(404)
    form = CompleteOnboardingForm()
    if form.validate_on_submit():
        complete_onboarding(account.id)
        db.session.commit()
        return redirect(link["return_url"], 303)
    return render_template("payments/sandbox_onboarding.html", account=account, form=form,
                           return_url=link["return_url"])
