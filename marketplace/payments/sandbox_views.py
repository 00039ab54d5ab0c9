"""The sandbox provider's stand-ins for Stripe's hosted pages: payout onboarding, and paying
a payment intent with a test card (with a 3-D Secure-like confirm step).

Only answers while the sandbox is the active provider (STRIPE_SECRET_KEY unset); with Stripe
configured every address here is a 404. The onboarding link's token is the credential, like
Stripe's single-use account links: it is signed, names one account and expires. The pay
form's token is signed too and names one intent with its client secret, like the client
secret Stripe.js confirms with.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from marketplace.extensions import db
from marketplace.payments import PaymentIntentInfo, provider
from marketplace.payments.models import SandboxAccount, SandboxPaymentIntent
from marketplace.payments.sandbox import (
    LINK_MAX_AGE_SECONDS,
    SandboxProvider,
    complete_onboarding,
    intent_info,
    link_serializer,
)
from marketplace.payments.sandbox_checkout import (
    TEST_CARDS,
    Outcome,
    PayLink,
    finish_authentication,
    locked_intent,
    normalise_card_number,
    pay_token,
    pay_with_card,
    read_pay_token,
    return_address,
)

bp = Blueprint("payments_sandbox", __name__, url_prefix="/payments/sandbox",
               template_folder="templates")


class CompleteOnboardingForm(FlaskForm):
    """Only the CSRF token: the button is the whole form."""


class PayForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    card_number = StringField(_l("Card number"),
                              validators=[DataRequired(), Length(max=40)])

    def validate_card_number(self, field: StringField) -> None:
        if normalise_card_number(field.data) not in TEST_CARDS:
            raise ValidationError(_("Use one of the sandbox's test card numbers (see "
                                    "\"Test cards\")."))


class AuthenticateForm(FlaskForm):
    approve = SubmitField(_l("Complete authentication"))
    fail = SubmitField(_l("Fail authentication"))


@bp.app_template_global("sandbox_pay_token")
def sandbox_pay_token(intent: PaymentIntentInfo, return_url: str,
                      order_reference: str = "") -> str:
    """The signed token the sandbox's pay form carries (used by ``sandbox_pay.html``)."""
    return pay_token(intent, return_url, order_reference)


def _require_sandbox() -> None:
    if not isinstance(provider(), SandboxProvider):
        abort(404)


def _link(token: str) -> dict[str, Any]:
    """The link's payload; 404 for a forged one, a redirect to refresh_url for an old one."""
    _require_sandbox()
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


def _pay_link(token: str | None) -> PayLink:
    _require_sandbox()
    link = read_pay_token(token or "")
    if link is None:
        abort(404)
    return link


def _pay_page(link: PayLink, intent: SandboxPaymentIntent, *, status: int,
              form: PayForm | None = None, error: str | None = None) -> ResponseReturnValue:
    return render_template(
        "payments/sandbox_pay_page.html", intent=intent_info(intent),
        return_url=link.return_url, order_reference=link.order_reference, form=form,
        payment_error=error,
    ), status


@bp.post("/pay")
def pay() -> ResponseReturnValue:
    form = PayForm()
    link = _pay_link(form.token.data)
    intent = locked_intent(link)
    if intent is None:
        abort(404)
    if not form.validate():
        return _pay_page(link, intent, status=422, form=form)
    outcome = pay_with_card(intent, normalise_card_number(form.card_number.data))
    db.session.commit()
    if outcome in (Outcome.SUCCEEDED, Outcome.ALREADY_PAID):
        return redirect(return_address(link, succeeded=True), 303)
    if outcome == Outcome.REQUIRES_ACTION:
        return redirect(url_for(".authenticate", token=form.token.data), 303)
    if outcome == Outcome.CANCELED:
        return _pay_page(link, intent, status=409,
                         error=_("This payment was canceled and can no longer be paid."))
    return _pay_page(link, intent, status=402, error=intent.last_error)


@bp.route("/authenticate/<token>", methods=["GET", "POST"])
def authenticate(token: str) -> ResponseReturnValue:
    link = _pay_link(token)
    intent = locked_intent(link)
    if intent is None:
        abort(404)
    form = AuthenticateForm()
    if form.validate_on_submit():
        outcome = finish_authentication(intent, approved=bool(form.approve.data))
        db.session.commit()
        succeeded = outcome in (Outcome.SUCCEEDED, Outcome.ALREADY_PAID)
        return redirect(return_address(link, succeeded=succeeded), 303)
    return render_template("payments/sandbox_authenticate.html", intent=intent_info(intent),
                           order_reference=link.order_reference, form=form,
                           return_url=link.return_url)
