"""A small fake of Stripe's API for the test suite: only the endpoints the marketplace calls.

It is a real HTTP server on a random loopback port (``werkzeug.serving.make_server`` in a
thread), so the official ``stripe`` library talks to it exactly as it talks to Stripe: form
encoded POSTs, ``Authorization: Bearer sk_...``, ``Idempotency-Key`` headers, retries on 5xx.

What it implements, with Stripe-shaped JSON and errors:

- ``POST /v1/accounts`` (Connect accounts; ``type`` is required),
- ``GET /v1/accounts/<id>``,
- ``POST /v1/account_links`` (``account``, ``refresh_url``, ``return_url``, ``type``),
- payment intents (``payments.py``): create (``amount``, ``currency``, ``transfer_group``,
  ``metadata``, ``capture_method``, optional ``payment_method`` + ``confirm``), retrieve,
  confirm with Stripe's test payment methods (``pm_card_visa`` succeeds,
  ``pm_card_chargeDeclined`` is a 402 ``card_declined``,
  ``pm_card_authenticationRequired`` needs 3-D Secure), cancel, capture;
  refunds; charges (retrieve); transfers with ``source_transaction``, listed by
  ``transfer_group``; transfer reversals; lists of payment intents, refunds, transfers and
  a transfer's reversals (``created[gte|lt]``, ``limit``, ``starting_after`` paging).

Every state change also appends the event Stripe would send to :attr:`FakeStripe.events`
(``payment_intent.succeeded``, ``payment_intent.payment_failed``,
``payment_intent.canceled``, ``charge.refunded``, ``transfer.created``,
``transfer.reversed``); ``tests/fakes/stripe_webhooks.py`` signs them for delivery.

Like Stripe it honours ``Idempotency-Key``: a POST repeated with the same key replays the first
answer (header ``Idempotent-Replayed: true``) without doing the work again, and the same key
with different parameters is a 400 ``idempotency_error``.

Tests steer it with :meth:`FakeStripe.fail_next` (inject an error answer, optionally after the
work was done, which is how a lost response looks to a client),
:meth:`FakeStripe.complete_onboarding` (what a seller finishing Stripe's pages does) and
:meth:`FakeStripe.pay` (what a buyer confirming with Stripe.js does). ``requests`` records
every request (method, path, decoded params, headers).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.stripe_payments import PaymentsMixin, invalid, missing

API_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_")
STRIPE_TEST_KEY = "sk_test_marketplace_suite"
STRIPE_TEST_PUBLISHABLE_KEY = "pk_test_marketplace_suite"


@dataclass
class InjectedFailure:
    method: str
    path_prefix: str
    status: int
    error: dict[str, Any]
    # True: do the work (create the account...) and then answer with the error, as when the
    # answer is lost on the way back. The idempotency record keeps the real answer.
    after_processing: bool = False
    times: int = 1


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeStripe(PaymentsMixin):
    url: str = ""
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[InjectedFailure] = field(default_factory=list)
    _idempotency: dict[str, tuple[str, str, dict, int, dict]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- steering from tests ---------------------------------------------------------------

    def fail_next(self, method: str, path_prefix: str, *, status: int = 500,
                  error_type: str = "api_error", message: str = "Something went wrong.",
                  code: str | None = None, param: str | None = None,
                  after_processing: bool = False, times: int = 1) -> None:
        error: dict[str, Any] = {"type": error_type, "message": message}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        with self._lock:
            self._failures.append(InjectedFailure(method.upper(), path_prefix, status, error,
                                                  after_processing, times))

    def complete_onboarding(self, account_id: str) -> None:
        with self._lock:
            account = self.accounts[account_id]
            account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True)
            account["capabilities"] = {name: "active" for name in account["capabilities"]}

    def posts(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def reset(self) -> None:
        with self._lock:
            for objects in (self.accounts, self.payment_intents, self.charges, self.refunds,
                            self.transfers):
                objects.clear()
            self.events.clear()
            self.requests.clear()
            self._failures.clear()
            self._idempotency.clear()

    # --- the WSGI app ----------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        body = (request.get_data(as_text=True) if request.method == "POST"
                else request.query_string.decode("ascii"))
        params = _decode_form(body)
        with self._lock:
            self.requests.append(RecordedRequest(request.method, request.path, params,
                                                 dict(request.headers)))
        response = self._handle(request, params)
        return response(environ, start_response)

    def _handle(self, request: Request, params: dict[str, Any]) -> Response:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or not key.startswith(API_KEY_PREFIXES):
            return _error(401, {"type": "invalid_request_error",
                                "message": f"Invalid API Key provided: {key[:8]}***"})

        failure = self._take_failure(request.method, request.path)
        if failure is not None and not failure.after_processing:
            return _error(failure.status, failure.error)

        idempotency_key = request.headers.get("Idempotency-Key")
        # One request at a time checks the key and changes state, so two requests with one
        # key at once make one object, as Stripe's locks ensure.
        with self._lock:
            if request.method == "POST" and idempotency_key:
                seen = self._idempotency.get(idempotency_key)
                if seen is not None:
                    method, path, seen_params, status, body = seen
                    if (method, path, seen_params) != (request.method, request.path, params):
                        return _error(400, {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with "
                                       "the same parameters they were first used with.",
                        })
                    response = _json(status, body)
                    response.headers["Idempotent-Replayed"] = "true"
                    return response
            status, body = self._route(request, params)
            if request.method == "POST" and idempotency_key and status < 500:
                self._idempotency[idempotency_key] = (request.method, request.path, params,
                                                      status, body)
        if failure is not None:  # after_processing: the work is done, the answer is lost
            return _error(failure.status, failure.error)
        return _json(status, body)

    def _take_failure(self, method: str, path: str) -> InjectedFailure | None:
        with self._lock:
            for failure in self._failures:
                if failure.method == method and path.startswith(failure.path_prefix):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def _route(self, request: Request, params: dict[str, Any]) -> tuple[int, dict]:
        path, method = request.path.rstrip("/"), request.method
        if path == "/v1/accounts" and method == "POST":
            return self._create_account(params)
        if path.startswith("/v1/accounts/") and method == "GET":
            account = self.accounts.get(path.rsplit("/", 1)[1])
            if account is None:
                return _missing("account", path.rsplit("/", 1)[1])
            return 200, account
        if path == "/v1/account_links" and method == "POST":
            return self._create_link(params)
        routed = self._route_payments(method, path, params)
        if routed is not None:
            return routed
        return 404, {"error": {"type": "invalid_request_error",
                               "message": f"Unrecognized request URL ({method}: {path})."}}

    def _create_account(self, params: dict[str, Any]) -> tuple[int, dict]:
        if params.get("type") not in ("express", "standard", "custom"):
            return _invalid("type", "Missing required param: type.")
        account_id = f"acct_fake{next(self._ids):06d}"
        account = {
            "id": account_id, "object": "account", "type": params["type"],
            "country": params.get("country", "US"), "email": params.get("email"),
            "business_profile": {"name": params.get("business_profile", {}).get("name")},
            "capabilities": {name: "inactive"
                             for name in params.get("capabilities", {})},
            "metadata": params.get("metadata", {}), "charges_enabled": False,
            "payouts_enabled": False, "details_submitted": False, "created": int(time.time()),
        }
        self.accounts[account_id] = account
        return 200, account

    def _create_link(self, params: dict[str, Any]) -> tuple[int, dict]:
        for name in ("account", "type", "return_url", "refresh_url"):
            if not params.get(name):
                return _invalid(name, f"Missing required param: {name}.")
        if params["type"] not in ("account_onboarding", "account_update"):
            return _invalid("type", "Invalid type: must be one of account_onboarding or "
                                    "account_update")
        if params["account"] not in self.accounts:
            return _missing("account", params["account"], param="account")
        now = int(time.time())
        return 200, {"object": "account_link", "created": now, "expires_at": now + 300,
                     "url": f"https://connect.stripe.test/setup/e/{params['account']}/"
                            f"{next(self._ids)}"}


def _decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][c]=v``, ``a[0]=v``) back into nested dicts and lists."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(result)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def _json(status: int, body: dict) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Request-Id"] = f"req_fake{int(time.time() * 1000) % 10**8:08d}"
    return response


def _error(status: int, error: dict[str, Any]) -> Response:
    response = _json(status, {"error": error})
    # A 5xx we inject may be retried; a 4xx never is (like Stripe's own header says).
    response.headers["Stripe-Should-Retry"] = "true" if status >= 500 else "false"
    return response


_invalid = invalid
_missing = missing


@contextlib.contextmanager
def stripe_configured(app: Any, *, webhook_secret: str | None = None,
                      retries: int = 2) -> Iterator[FakeStripe]:
    """Serve a fake Stripe and point ``app``'s payment provider at it (restored afterwards).

    Retries are on, as in production, with the library's short backoff.
    """
    names = ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_MAX_NETWORK_RETRIES",
             "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
    saved = {name: app.config.get(name) for name in names}
    with FakeStripeServer() as fake:
        app.config.update(STRIPE_SECRET_KEY=STRIPE_TEST_KEY, STRIPE_API_BASE=fake.url,
                          STRIPE_MAX_NETWORK_RETRIES=retries,
                          STRIPE_PUBLISHABLE_KEY=STRIPE_TEST_PUBLISHABLE_KEY)
        if webhook_secret:
            app.config["STRIPE_WEBHOOK_SECRET"] = webhook_secret
        try:
            yield fake
        finally:
            app.config.update(saved)


class FakeStripeServer:
    """Serve a :class:`FakeStripe` on 127.0.0.1 with a random port, in a daemon thread."""

    def __init__(self) -> None:
        self.stripe = FakeStripe()
        self._server = make_server("127.0.0.1", 0, self.stripe, threaded=True)
        self.stripe.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self._thread.start()
        return self.stripe

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
