"""The order confirmation email, sent by a job once an order is paid.

The checkout enqueues it after the payment succeeds::

    enqueue_after_commit("email", "buyers.order_emails.send_order_confirmation", order.id)

The job reloads the order, writes the email in the buyer's language (their saved locale, else
the marketplace's default) and sends it through ``marketplace.mail.send_email``. It is
idempotent: a Redis key claimed with SET NX before sending makes a duplicate delivery of the
job (at-least-once queues, a webhook replayed) a no-op; the claim is dropped again when
sending fails, so a retry sends it.
"""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import mail
from marketplace.extensions import db
from marketplace.kv import get_redis
from marketplace.money import Money
from vendors.order_models import Order, OrderStatus, SubOrder

log = logging.getLogger(__name__)

# How long "this confirmation went out" is remembered: far longer than any job retry.
SENT_TTL_SECONDS = 90 * 24 * 3600


def sent_key(order_id: int) -> str:
    return f"mail:order-confirmation:{order_id}"


def _money(amount_minor: int, currency: str, locale: str) -> str:
    return Money(amount_minor, currency).format(locale)


def confirmation_email(order: Order, locale: str) -> tuple[str, str]:
    """(subject, body) of the confirmation of ``order`` in ``locale`` (call inside
    force_locale(locale))."""
    currency = order.currency
    lines = [_("Hello %(name)s,", name=order.buyer.name), "",
             _("thank you for your order %(number)s. We received your payment; each shop "
               "now prepares its part.", number=order.number), ""]
    for part in order.sub_orders:
        lines.append(_("From %(shop)s:", shop=part.vendor.name))
        for line in part.lines:
            lines.append(f"  {line.quantity} × {line.title} ({line.sku})  "
                         f"{_money(line.total_minor, currency, locale)}")
        lines.append("  " + _("Shipping (%(method)s): %(amount)s",
                              method=(part.shipping_method or {}).get("name", ""),
                              amount=_money(part.shipping_minor, currency, locale)))
        lines.append("")
    lines += [
        _("Items: %(amount)s", amount=_money(order.items_minor, currency, locale)),
        _("Shipping: %(amount)s", amount=_money(order.shipping_minor, currency, locale)),
        (_("Tax included: %(amount)s", amount=_money(order.tax_minor, currency, locale))
         if order.tax_inclusive else
         _("Tax: %(amount)s", amount=_money(order.tax_minor, currency, locale))),
        _("Total paid: %(amount)s", amount=_money(order.total_minor, currency, locale)),
        "",
        _("You can follow each shop's part of the order under \"Your orders\"."),
    ]
    subject = _("Your order %(number)s is confirmed", number=order.number)
    return str(subject), "\n".join(str(line) for line in lines)


def send_order_confirmation(order_id: int) -> bool:
    """Email the buyer the confirmation of a paid order, once. Returns whether it was sent
    now (False: no such order, not paid, or sent before)."""
    order = db.session.scalar(
        select(Order).where(Order.id == order_id)
        .options(selectinload(Order.sub_orders).selectinload(SubOrder.lines),
                 selectinload(Order.sub_orders).selectinload(SubOrder.vendor),
                 selectinload(Order.buyer))
    )
    if order is None or order.status != OrderStatus.PAID:
        log.info("No confirmation for order %s: missing or not paid", order_id)
        return False
    redis = get_redis()
    key = sent_key(order.id)
    if not redis.set(key, "sending", nx=True, ex=SENT_TTL_SECONDS):
        return False
    locale = order.buyer.locale or current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
    try:
        with force_locale(locale):
            subject, body = confirmation_email(order, locale)
        mail.send_email(order.email, subject, body)
    except Exception:
        redis.delete(key)
        raise
    redis.set(key, "sent", ex=SENT_TTL_SECONDS)
    return True
