"""Per-vendor API tokens: created and revoked by owners, checked on every API request.

A token is ``mkv_`` plus 43 random URL-safe characters. The secret is returned once, when the
token is created; the database keeps its SHA-256 (a fast hash is right here: the secret has
256 bits of entropy, so there is nothing to brute-force) and a short prefix to recognise it
in lists. Every request looks the hash up and checks ``revoked_at``, so revoking takes effect
on the next request.

Functions flush and never commit, except :func:`record_use` callers (see there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import Select, or_, select, update

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.scoping import vendor_select
from vendors.access import SCOPES, Actor, Permission
from vendors.errors import InvalidInput, UnknownReference
from vendors.models import VendorApiToken

TOKEN_PREFIX = "mkv_"
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 6
MAX_NAME = 80
# last_used_at is written at most this often per token: exact enough to spot unused tokens,
# without turning every API read into a write.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def tokens_select(vendor_id: int) -> Select[tuple[VendorApiToken]]:
    """The vendor's tokens, active ones first, newest first."""
    return vendor_select(VendorApiToken, vendor_id).order_by(
        VendorApiToken.revoked_at.is_not(None), VendorApiToken.created_at.desc(),
        VendorApiToken.id.desc())


def create_token(actor: Actor, *, name: str, scopes: Iterable[str]) -> tuple[VendorApiToken, str]:
    """Create a token; returns it and its secret (shown once, never stored).

    Raises PermissionDenied, InvalidInput (``name``, ``scopes``).
    """
    actor.require(Permission.MANAGE_TOKENS)
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput(_("Name the token after what uses it, e.g. \"Warehouse sync\"."),
                           field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_NAME), field="name")
    chosen = sorted(set(scopes or ()))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if not chosen or unknown:
        raise InvalidInput(_("Choose at least one of: %(list)s.", list=", ".join(SCOPES)),
                           field="scopes")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = VendorApiToken(
        vendor_id=actor.vendor_id, name=name, prefix=secret[:SHOWN_PREFIX_LENGTH],
        token_hash=hash_secret(secret), scopes=chosen, created_by_id=actor.user_id,
        created_at=utcnow(),
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def revoke_token(actor: Actor, token_id: int) -> VendorApiToken:
    """Revoke a token (again is fine). Raises PermissionDenied, UnknownReference."""
    actor.require(Permission.MANAGE_TOKENS)
    token = db.session.scalar(
        vendor_select(VendorApiToken, actor.vendor_id).where(VendorApiToken.id == token_id)
    )
    if token is None:
        raise UnknownReference(_("There is no such token."), field="token_id")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    db.session.flush()
    return token


def active_token(secret: str) -> VendorApiToken | None:
    """The unrevoked token with this secret, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    return db.session.scalar(
        select(VendorApiToken).where(VendorApiToken.token_hash == hash_secret(secret),
                                     VendorApiToken.revoked_at.is_(None))
    )


def record_use(token_id: int) -> None:
    """Move ``last_used_at`` to now unless it was set within LAST_USED_RESOLUTION."""
    now = utcnow()
    db.session.execute(
        update(VendorApiToken)
        .where(VendorApiToken.id == token_id,
               or_(VendorApiToken.last_used_at.is_(None),
                   VendorApiToken.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
