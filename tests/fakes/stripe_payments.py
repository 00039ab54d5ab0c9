"""The fake Stripe's payment endpoints: intents, charges, refunds, transfers, reversals.

Mixed into :class:`tests.fakes.stripe_server.FakeStripe`; every handler runs under its lock
and answers ``(status, body)`` with Stripe's JSON shapes and error messages. State changes
append the event Stripe would send to ``self.events``.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

# Stripe's test payment methods: https://docs.stripe.com/testing#cards
PM_SUCCEEDS = "pm_card_visa"
PM_DECLINED = "pm_card_chargeDeclined"
PM_NEEDS_AUTHENTICATION = "pm_card_authenticationRequired"
TEST_PAYMENT_METHODS = (PM_SUCCEEDS, PM_DECLINED, PM_NEEDS_AUTHENTICATION, "pm_card_mastercard")

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation",
              "requires_action", "processing")

_event_ids: Iterator[int] = itertools.count(1)


def invalid(param: str | None, message: str, code: str | None = None,
            status: int = 400) -> tuple[int, dict]:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
    return status, {"error": error}


def missing(kind: str, object_id: str, param: str = "id") -> tuple[int, dict]:
    return invalid(param, f"No such {kind}: '{object_id}'", "resource_missing", 404)


def _amount(params: dict[str, Any], name: str = "amount",
            required: bool = True) -> int | tuple[int, dict] | None:
    raw = params.get(name)
    if raw is None:
        return invalid(name, f"Missing required param: {name}.") if required else None
    if not re.fullmatch(r"\d+", str(raw)):
        return invalid(name, "Invalid integer: " + str(raw))
    if int(raw) < 1:
        return invalid(name, "This value must be greater than or equal to 1.",
                       "amount_too_small")
    return int(raw)


def _currency(params: dict[str, Any]) -> str | tuple[int, dict]:
    raw = params.get("currency")
    if not raw:
        return invalid("currency", "Missing required param: currency.")
    if not re.fullmatch(r"[a-z]{3}", raw):
        return invalid("currency", f"Invalid currency: {raw}. Stripe currently supports "
                                   "these currencies: usd, eur, gbp, jpy, ...")
    return raw


_PAST = {"cancel": "canceled", "confirm": "confirmed", "capture": "captured"}


def _unexpected_state(intent: dict[str, Any], action: str,
                      allowed: tuple[str, ...]) -> tuple[int, dict]:
    return invalid(None, f"You cannot {action} this PaymentIntent because it has a status of "
                         f"{intent['status']}. Only a PaymentIntent with one of the following "
                         f"statuses may be {_PAST[action]}: {', '.join(allowed)}.",
                   "payment_intent_unexpected_state")


class PaymentsMixin:
    payment_intents: dict[str, dict[str, Any]]
    charges: dict[str, dict[str, Any]]
    refunds: dict[str, dict[str, Any]]
    transfers: dict[str, dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    _ids: Iterator[int]
    _lock: Any

    # --- steering from tests ---------------------------------------------------------------

    def pay(self, intent_id: str, payment_method: str = PM_SUCCEEDS) -> dict[str, Any]:
        """What the buyer's browser does with Stripe.js: confirm the intent with a test
        payment method. Returns the intent (a decline leaves it requires_payment_method)."""
        with self._lock:
            self._confirm(self.payment_intents[intent_id], {"payment_method": payment_method})
            return self.payment_intents[intent_id]

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]

    # --- routing ---------------------------------------------------------------------------

    def _route_payments(self, method: str, path: str,
                        params: dict[str, Any]) -> tuple[int, dict] | None:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if not parts:
            return None
        kind, rest = parts[0], parts[1:]
        if kind == "payment_intents":
            if method == "POST" and not rest:
                return self._create_intent(params)
            if method == "GET" and not rest:
                return _page(self.payment_intents.values(), params, "/v1/payment_intents")
            if not rest:
                return None
            intent = self.payment_intents.get(rest[0])
            if intent is None:
                return missing("payment_intent", rest[0])
            if method == "GET" and len(rest) == 1:
                return 200, intent
            if method == "POST" and len(rest) == 2:
                action = {"confirm": self._confirm, "cancel": self._cancel,
                          "capture": self._capture}.get(rest[1])
                return action(intent, params) if action else None
            return None
        if kind == "charges" and method == "GET" and len(rest) == 1:
            charge = self.charges.get(rest[0])
            return (200, charge) if charge else missing("charge", rest[0])
        if kind == "refunds":
            if method == "POST" and not rest:
                return self._create_refund(params)
            if method == "GET" and not rest:
                return _page(self.refunds.values(), params, "/v1/refunds")
            if method == "GET" and len(rest) == 1:
                refund = self.refunds.get(rest[0])
                return (200, refund) if refund else missing("refund", rest[0])
            return None
        if kind == "transfers":
            if method == "POST" and not rest:
                return self._create_transfer(params)
            if method == "GET" and not rest:
                return self._list_transfers(params)
            if not rest:
                return None
            transfer = self.transfers.get(rest[0])
            if transfer is None:
                return missing("transfer", rest[0])
            if method == "GET" and len(rest) == 1:
                return 200, transfer
            if method == "POST" and rest[1:] == ["reversals"]:
                return self._reverse(transfer, params)
            if method == "GET" and rest[1:] == ["reversals"]:
                return _page(transfer["reversals"]["data"], params,
                             f"/v1/transfers/{transfer['id']}/reversals")
        return None

    # --- payment intents -------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        self.events.append({
            "id": f"evt_fake{next(_event_ids):06d}", "object": "event",
            "api_version": "2024-06-20", "created": int(time.time()), "livemode": False,
            "type": event_type, "data": {"object": _copy(obj)}, "pending_webhooks": 1,
        })

    def _create_intent(self, params: dict[str, Any]) -> tuple[int, dict]:
        amount = _amount(params)
        if isinstance(amount, tuple):
            return amount
        currency = _currency(params)
        if isinstance(currency, tuple):
            return currency
        capture_method = params.get("capture_method", "automatic")
        if capture_method not in ("automatic", "automatic_async", "manual"):
            return invalid("capture_method", f"Invalid capture_method: {capture_method}")
        intent_id = self._new_id("pi")
        intent = {
            "id": intent_id, "object": "payment_intent", "amount": amount,
            "amount_capturable": 0, "amount_received": 0, "currency": currency,
            "capture_method": capture_method, "client_secret": f"{intent_id}_secret_fake",
            "created": int(time.time()), "latest_charge": None, "last_payment_error": None,
            "livemode": False, "metadata": params.get("metadata", {}), "next_action": None,
            "payment_method": None,
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "automatic_payment_methods": params.get("automatic_payment_methods"),
            "status": "requires_payment_method",
            "transfer_group": params.get("transfer_group"),
        }
        self.payment_intents[intent_id] = intent
        if params.get("confirm") == "true":
            status, body = self._confirm(intent, params)
            if status != 200:
                return status, body
        return 200, intent

    def _confirm(self, intent: dict[str, Any], params: dict[str, Any]) -> tuple[int, dict]:
        if intent["status"] not in CONFIRMABLE:
            return _unexpected_state(intent, "confirm", CONFIRMABLE)
        method = params.get("payment_method") or intent["payment_method"]
        if not method:
            return invalid("payment_method", "You cannot confirm this PaymentIntent because "
                                             "it's missing a payment method.",
                           "payment_intent_unexpected_state")
        if method not in TEST_PAYMENT_METHODS:
            return missing("PaymentMethod", method, param="payment_method")
        intent["payment_method"] = method
        if method == PM_DECLINED:
            intent.update(status="requires_payment_method", last_payment_error={
                "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined."})
            self._emit("payment_intent.payment_failed", intent)
            error = dict(intent["last_payment_error"], payment_intent=_copy(intent))
            return 402, {"error": error}
        if method == PM_NEEDS_AUTHENTICATION and intent["status"] != "requires_action":
            intent.update(status="requires_action", next_action={
                "type": "redirect_to_url",
                "redirect_to_url": {"url": f"https://hooks.stripe.test/3ds/{intent['id']}",
                                    "return_url": params.get("return_url")}})
            return 200, intent
        charge_id = self._new_id("ch")
        self.charges[charge_id] = {
            "id": charge_id, "object": "charge", "amount": intent["amount"],
            "amount_captured": 0, "amount_refunded": 0, "captured": False,
            "currency": intent["currency"], "metadata": dict(intent["metadata"]), "paid": True,
            "payment_intent": intent["id"], "refunded": False, "status": "succeeded",
            "transfer_group": intent["transfer_group"],
        }
        intent.update(latest_charge=charge_id, last_payment_error=None, next_action=None)
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            self._emit("payment_intent.amount_capturable_updated", intent)
            return 200, intent
        return self._captured(intent, intent["amount"])

    def _capture(self, intent: dict[str, Any], params: dict[str, Any]) -> tuple[int, dict]:
        if intent["status"] != "requires_capture":
            return _unexpected_state(intent, "capture", ("requires_capture",))
        amount = _amount(params, "amount_to_capture", required=False)
        if isinstance(amount, tuple):
            return amount
        if amount is not None and amount > intent["amount"]:
            return invalid("amount_to_capture", "The amount to capture is greater than the "
                                                "amount capturable.")
        return self._captured(intent, intent["amount"] if amount is None else amount)

    def _captured(self, intent: dict[str, Any], amount: int) -> tuple[int, dict]:
        charge = self.charges[intent["latest_charge"]]
        charge.update(captured=True, amount_captured=amount)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._emit("payment_intent.succeeded", intent)
        return 200, intent

    def _cancel(self, intent: dict[str, Any], params: dict[str, Any]) -> tuple[int, dict]:
        if intent["status"] not in CANCELABLE:
            return _unexpected_state(intent, "cancel", CANCELABLE)
        intent.update(status="canceled", canceled_at=int(time.time()),
                      cancellation_reason=params.get("cancellation_reason"))
        self._emit("payment_intent.canceled", intent)
        return 200, intent

    # --- refunds ---------------------------------------------------------------------------

    def _create_refund(self, params: dict[str, Any]) -> tuple[int, dict]:
        if params.get("payment_intent"):
            intent = self.payment_intents.get(params["payment_intent"])
            if intent is None:
                return missing("payment_intent", params["payment_intent"], "payment_intent")
            charge = self.charges.get(intent["latest_charge"] or "")
            if charge is None or intent["status"] != "succeeded":
                return invalid("payment_intent", f"This PaymentIntent ({intent['id']}) does "
                                                 "not have a successful charge to refund.")
        elif params.get("charge"):
            charge = self.charges.get(params["charge"])
            if charge is None:
                return missing("charge", params["charge"], "charge")
        else:
            return invalid(None, "One of the following params should be provided for this "
                                 "request: payment_intent or charge.")
        left = charge["amount_captured"] - charge["amount_refunded"]
        amount = _amount(params, required=False)
        if isinstance(amount, tuple):
            return amount
        amount = left if amount is None else amount
        if left == 0:
            return invalid(None, f"Charge {charge['id']} has already been refunded.",
                           "charge_already_refunded")
        if amount > left:
            return invalid("amount", f"Refund amount ({amount}) is greater than unrefunded "
                                     f"amount on charge ({left})", "amount_too_large")
        refund_id = self._new_id("re")
        refund = {"id": refund_id, "object": "refund", "amount": amount,
                  "charge": charge["id"], "currency": charge["currency"],
                  "metadata": params.get("metadata", {}),
                  "payment_intent": charge["payment_intent"], "status": "succeeded",
                  "created": int(time.time())}
        self.refunds[refund_id] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._emit("charge.refunded", charge)
        return 200, refund

    # --- transfers -------------------------------------------------------------------------

    def _create_transfer(self, params: dict[str, Any]) -> tuple[int, dict]:
        amount = _amount(params)
        if isinstance(amount, tuple):
            return amount
        currency = _currency(params)
        if isinstance(currency, tuple):
            return currency
        destination = params.get("destination")
        if not destination:
            return invalid("destination", "Missing required param: destination.")
        account = self.accounts.get(destination)
        if account is None:
            return invalid("destination", f"No such destination: '{destination}'",
                           "resource_missing")
        if account["capabilities"].get("transfers") != "active":
            return invalid("destination", "Your destination account needs to have at least "
                                          "one of the following capabilities enabled: "
                                          "transfers, crypto_transfers, legacy_payments")
        source = params.get("source_transaction")
        if source:
            charge = self.charges.get(source)
            if charge is None:
                return invalid("source_transaction", f"No such charge: '{source}'",
                               "resource_missing")
            if charge["currency"] != currency:
                return invalid("currency", "The currency of source_transaction's balance "
                                           f"transaction ({charge['currency']}) must be the "
                                           f"same as the transfer currency ({currency}).")
            used = sum(t["amount"] - t["amount_reversed"] for t in self.transfers.values()
                       if t["source_transaction"] == source)
            available = charge["amount_captured"] - charge["amount_refunded"] - used
            if amount > available:
                return invalid("amount", "Insufficient funds in Stripe account. The transfer "
                                         f"amount ({amount}) exceeds what is left of the "
                                         f"source transaction ({available}).",
                               "insufficient_funds")
        transfer_id = self._new_id("tr")
        transfer = {
            "id": transfer_id, "object": "transfer", "amount": amount, "amount_reversed": 0,
            "currency": currency, "destination": destination,
            "metadata": params.get("metadata", {}), "reversed": False,
            "reversals": {"object": "list", "data": [], "has_more": False,
                          "url": f"/v1/transfers/{transfer_id}/reversals"},
            "source_transaction": source or None,
            "transfer_group": params.get("transfer_group"), "created": int(time.time()),
        }
        self.transfers[transfer_id] = transfer
        self._emit("transfer.created", transfer)
        return 200, transfer

    def _list_transfers(self, params: dict[str, Any]) -> tuple[int, dict]:
        """Newest first, filtered by ``transfer_group`` and ``destination`` like Stripe's
        (and by ``created`` and paged with ``starting_after``, see :func:`_page`)."""
        found = [t for t in self.transfers.values()
                 if all(t[name] == params[name] for name in ("transfer_group", "destination")
                        if params.get(name))]
        return _page(found, params, "/v1/transfers")

    def _reverse(self, transfer: dict[str, Any], params: dict[str, Any]) -> tuple[int, dict]:
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = _amount(params, required=False)
        if isinstance(amount, tuple):
            return amount
        amount = left if amount is None else amount
        if left == 0:
            return invalid(None, f"Transfer {transfer['id']} has already been fully reversed.")
        if amount > left:
            return invalid("amount", f"Transfer reversal amount ({amount}) is greater than the "
                                     f"amount left on the transfer ({left}).")
        reversal = {"id": self._new_id("trr"), "object": "transfer_reversal",
                    "amount": amount, "currency": transfer["currency"],
                    "transfer": transfer["id"], "metadata": params.get("metadata", {}),
                    "created": int(time.time())}
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].append(reversal)
        self._emit("transfer.reversed", transfer)
        return 200, reversal


def _page(objects: Any, params: dict[str, Any], url: str) -> tuple[int, dict]:
    """A page of a Stripe list: newest first (objects are given oldest first), filtered by
    ``created[gte|gt|lte|lt]``, ``limit`` (default 10, at most 100) objects after
    ``starting_after``; ``has_more`` says whether more follow."""
    created = params.get("created")
    bounds = created if isinstance(created, dict) else {}
    tests = {"gte": lambda c, b: c >= b, "gt": lambda c, b: c > b,
             "lte": lambda c, b: c <= b, "lt": lambda c, b: c < b}
    found = [obj for obj in reversed(list(objects))
             if all(tests[op](obj["created"], int(bound)) for op, bound in bounds.items()
                    if op in tests)]
    after = params.get("starting_after")
    if after:
        ids = [obj["id"] for obj in found]
        if after not in ids:
            return missing("object", after, "starting_after")
        found = found[ids.index(after) + 1:]
    limit = min(int(params.get("limit") or 10), 100)
    return 200, {"object": "list", "url": url, "data": found[:limit],
                 "has_more": len(found) > limit}


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)
