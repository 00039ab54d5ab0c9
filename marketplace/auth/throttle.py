"""Failed-login counters in Redis, shared by every web process.

Two counters limit password guessing: one per account (keyed by a hash of the normalised
email, so Redis never holds addresses and unknown emails are counted exactly like real ones)
and one per client IP. Each counter lives for a fixed window that starts with its first
attempt; Redis expires it, so nothing needs cleaning up.

An attempt is counted *before* the password is checked. Counting first means a burst of
parallel requests can't slip extra guesses past a check-then-count race: the (N+1)th request
is refused even if the first N are still hashing. A successful login then takes its attempt
back (the account counter is cleared, the IP counter decremented), so only failures add up.

The per-account limit lets anyone lock an account out for one window by guessing wrong on
purpose; that is the usual trade-off, kept small by the window, and the password-reset flow
still works while an account is locked.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from flask import current_app

from marketplace.kv import get_redis

KEY_PREFIX = "marketplace:login-failures"
RESET_KEY_PREFIX = "marketplace:password-reset-sent"
# At most one reset email per account in this many seconds, so the (unauthenticated) reset
# form can't be used to flood someone's inbox.
RESET_EMAIL_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class Attempt:
    """One counted login attempt: the Redis keys it touched and whether it is over a limit."""

    account_key: str
    ip_key: str
    retry_after_seconds: int | None

    @property
    def throttled(self) -> bool:
        return self.retry_after_seconds is not None


def account_key(normalised_email: str) -> str:
    digest = hashlib.sha256(normalised_email.encode("utf-8")).hexdigest()
    return f"{KEY_PREFIX}:account:{digest}"


def ip_key(ip: str | None) -> str:
    # ``request.remote_addr`` is the TCP peer. Behind a reverse proxy or load balancer that is
    # the proxy for every user, so the deployment must configure werkzeug's ProxyFix with the
    # number of trusted proxies, or every visitor shares one IP counter.
    return f"{KEY_PREFIX}:ip:{ip or 'unknown'}"


def count_attempt(normalised_email: str, ip: str | None) -> Attempt:
    """Count one login attempt for the account and the IP; say whether it is over a limit.

    Raises redis ConnectionError/TimeoutError when Redis is down: logging in without the
    throttle would open the door to unlimited guessing, so the caller answers 503 instead.
    """
    config = current_app.config
    window = int(config["LOGIN_THROTTLE_WINDOW_SECONDS"])
    keys = (account_key(normalised_email), ip_key(ip))
    limits = (
        int(config["LOGIN_MAX_ATTEMPTS_PER_ACCOUNT"]),
        int(config["LOGIN_MAX_ATTEMPTS_PER_IP"]),
    )

    pipe = get_redis().pipeline(transaction=True)
    for key in keys:
        # SET NX EX starts the window on the first attempt only; INCR keeps the key's TTL.
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
    results = pipe.execute()
    counts_and_ttls = [(results[1], results[2]), (results[4], results[5])]

    waits = [
        ttl if ttl and ttl > 0 else window
        for (count, ttl), limit in zip(counts_and_ttls, limits, strict=True)
        if count > limit
    ]
    return Attempt(keys[0], keys[1], max(waits) if waits else None)


def forget_success(attempt: Attempt) -> None:
    """A successful login: clear the account's failures and take the IP's attempt back."""
    redis = get_redis()
    redis.delete(attempt.account_key)
    remaining = redis.decr(attempt.ip_key)
    if remaining <= 0:
        # The key may have expired between the two calls, leaving a TTL-less -1 behind; an
        # empty counter is the same as no counter, so drop it.
        redis.delete(attempt.ip_key)


def may_send_reset_email(normalised_email: str) -> bool:
    """True at most once per RESET_EMAIL_INTERVAL_SECONDS for one address (any process)."""
    digest = hashlib.sha256(normalised_email.encode("utf-8")).hexdigest()
    key = f"{RESET_KEY_PREFIX}:{digest}"
    return bool(get_redis().set(key, 1, ex=RESET_EMAIL_INTERVAL_SECONDS, nx=True))


def minutes_to_wait(retry_after_seconds: int) -> int:
    return max(1, math.ceil(retry_after_seconds / 60))
