"""Signals the vendor side sends for others to act on, without importing them.

The import direction is marketplace <- vendors <- buyers <- payouts: vendors and buyers may
not call payouts, yet payouts must hear about some of their moves. They send a blinker signal
defined here, and payouts connects to it when its blueprint is registered.

``sub_order_called_off``
    A paid sub-order will not be delivered: a vendor rejected or cancelled it, or the buyer
    cancelled it. Sent inside the transaction that moved it (receivers flush and never
    commit, so their work commits with the move, or not at all) with the keyword arguments
    ``sub_order_id`` (int), ``initiated_by`` ("vendor" or "buyer"), ``user_id`` (int or None:
    who clicked) and ``reason`` (str, what the buyer is told). The sender is None.
    Payouts refunds the whole sub-order.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

sub_order_called_off = _signals.signal("sub-order-called-off")

#: ``order_refunds_accounted``
#:     Asked by ``buyers.payment_events`` when a ``charge.refunded`` event arrives: how much of
#:     the order's payment is refunded by refunds the receiver made and accounts for itself?
#:     Keyword argument ``order_id``; each receiver returns an amount in minor units of the
#:     order's currency (payouts: its refunds in processing or succeeded). A refund those
#:     amounts explain is not a refund from outside the app, so it doesn't cancel the order.
order_refunds_accounted = _signals.signal("order-refunds-accounted")
