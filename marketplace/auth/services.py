"""Account rules: who may register, log in, and reset a password.

Services flush but never commit; the caller (a view or a CLI command) commits. Every
function documents the domain exceptions it raises, and each exception carries a message
that can be shown to the person next to the right field.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from marketplace.auth import throttle
from marketplace.extensions import db
from marketplace.mail import queue_email
from marketplace.models import Role, User

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# A local part shorter than this is too generic to forbid inside passwords ("al@..." would
# rule out "always-..."); it still can't be the whole password.
MIN_LOCAL_PART_TO_FORBID = 4

RESET_SALT = "marketplace.auth.password-reset"

# The most common passwords that pass the length rule (shorter ones fail on length anyway),
# from the public breach top lists. Compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890", "0123456789", "0987654321", "12345678910", "123456789a", "a123456789",
        "1234567890a", "123456789q", "1q2w3e4r5t", "1q2w3e4r5t6y", "1qaz2wsx3edc",
        "zaq12wsxcde", "qwertyuiop", "qwerty1234", "qwerty12345", "qwerty123456",
        "qwertyuiop123", "asdfghjkl1", "asdfghjkl123", "zxcvbnm123", "abcdefghij",
        "abcd123456", "abc1234567", "password12", "password123", "password1234",
        "password12345", "password!1", "passw0rd123", "p@ssw0rd123", "p@ssword123",
        "iloveyou12", "iloveyou123", "princess123", "football123", "baseball123",
        "basketball", "basketball1", "welcome123", "welcome1234", "sunshine123",
        "letmein123", "monkey1234", "dragon1234", "master1234", "trustno1234",
        "superman123", "batman1234", "starwars123", "pokemon123", "computer123",
        "administrator", "admin12345", "admin123456", "changeme123", "secret1234",
        "1234512345", "1122334455", "1234554321", "9876543210", "1029384756",
        "123123123123", "123qweasdzxc", "qweasdzxc123", "marketplace", "marketplace1",
        "marketplace123", "q1w2e3r4t5", "q1w2e3r4t5y6", "1a2b3c4d5e", "aa12345678",
        "michael123", "jennifer123", "liverpool1", "chelsea123", "charlie123",
        "whatever123", "shadow1234", "freedom123", "thomas1234", "jordan2323",
    }
)


class AuthError(Exception):
    """Base of the account rules' exceptions; ``message`` is safe to show the user."""

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


class InvalidEmail(AuthError):
    """The email address is malformed."""


class EmailTaken(AuthError):
    """An account with this email already exists."""


class WeakPassword(AuthError):
    """The password breaks a strength rule; ``message`` says which."""


class InvalidCredentials(AuthError):
    """Unknown email, wrong password or disabled account: deliberately indistinguishable."""


class Throttled(AuthError):
    """Too many failed attempts for this account or IP; retry after ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int):
        minutes = throttle.minutes_to_wait(retry_after_seconds)
        super().__init__(
            ngettext(
                "Too many attempts. Try again in %(num)d minute.",
                "Too many attempts. Try again in %(num)d minutes.",
                minutes,
            )
        )
        self.retry_after_seconds = retry_after_seconds


class InvalidToken(AuthError):
    """A password-reset token that is forged, expired, already used or for a gone account."""


def normalise_email(raw: str) -> str:
    """The canonical, lowercase form of an address. Raises InvalidEmail."""
    try:
        # No DNS lookup: registering must not depend on (or leak timing through) the network.
        result = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(_("Enter a valid email address.")) from error
    return result.normalized.lower()


def login_email(raw: str) -> str:
    """The form an email is looked up (and throttled) by; malformed input still gets a key."""
    try:
        return normalise_email(raw)
    except InvalidEmail:
        return (raw or "").strip().lower()


def check_password_strength(password: str, email: str) -> None:
    """Raise WeakPassword with the first rule ``password`` breaks for the account ``email``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            _("Use at least %(num)d characters.", num=MIN_PASSWORD_LENGTH)
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(_("Use at most %(num)d characters.", num=MAX_PASSWORD_LENGTH))
    if len(set(password)) == 1:
        raise WeakPassword(_("Use more than one repeated character."))
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        raise WeakPassword(_("This password is too common. Choose one that is harder to guess."))
    local_part = email.rsplit("@", 1)[0].lower()
    if local_part and (
        lowered == local_part
        or (len(local_part) >= MIN_LOCAL_PART_TO_FORBID and local_part in lowered)
    ):
        raise WeakPassword(_("Don't use your email address in your password."))


def find_user_by_email(email: str) -> User | None:
    """The account for an already normalised email, if any."""
    return db.session.scalar(select(User).where(User.email == email))


def register_user(email: str, name: str, password: str, *, role: Role = Role.BUYER) -> User:
    """Create an account with a hashed password and flush it.

    Raises InvalidEmail, WeakPassword, EmailTaken. After EmailTaken from a lost race (the
    unique index caught it at flush) the session must be rolled back by the caller.
    """
    email = normalise_email(email)
    check_password_strength(password, email)
    if find_user_by_email(email) is not None:
        raise EmailTaken(_("An account with this email already exists."))
    user = User(email=email, name=name.strip(), role=role)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as error:  # two sign-ups with one address at the same moment
        raise EmailTaken(_("An account with this email already exists.")) from error
    return user


@functools.cache
def _dummy_hash() -> str:
    # Same algorithm and cost as real hashes, so checking it takes as long as a real check.
    return generate_password_hash("not a real password, only spends time", method="scrypt")


def authenticate(email: str, password: str, ip: str | None) -> User:
    """The active user with these credentials, counted by the login throttle.

    Raises Throttled before looking anything up when the account or IP is over its limit
    (the same answer for existing and unknown emails), InvalidCredentials for an unknown
    email, a wrong password or a disabled account, and redis ConnectionError when the
    throttle's Redis is down.
    """
    key = login_email(email)
    attempt = throttle.count_attempt(key, ip)
    if attempt.throttled:
        raise Throttled(attempt.retry_after_seconds)
    user = find_user_by_email(key)
    if user is None:
        # Spend the time a real check takes, so response time doesn't reveal which
        # emails have accounts.
        check_password_hash(_dummy_hash(), password)
        raise InvalidCredentials(_("Email or password is incorrect."))
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials(_("Email or password is incorrect."))
    throttle.forget_success(attempt)
    return user


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _password_fingerprint(user: User) -> str:
    """Changes whenever the password does, which voids every token issued before."""
    changed = user.password_changed_at
    # SQLite hands back naive datetimes, PostgreSQL aware ones: compare in naive UTC.
    if changed is not None and changed.tzinfo is not None:
        changed = changed.astimezone(dt.UTC).replace(tzinfo=None)
    material = f"{user.password_hash}|{changed.isoformat() if changed else ''}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def make_reset_token(user: User) -> str:
    return _serializer().dumps({"uid": user.id, "fp": _password_fingerprint(user)})


def request_password_reset(email: str) -> None:
    """Queue a reset link to ``email`` if an active account has it; otherwise do nothing.

    The caller answers the same either way, so the form can't be used to find accounts.
    At most one email per address per ``throttle.RESET_EMAIL_INTERVAL_SECONDS``. Needs a
    request context (the link is an absolute URL to this site). Raises redis
    ConnectionError when Redis is down.
    """
    user = find_user_by_email(login_email(email))
    if user is None or not user.is_active or not throttle.may_send_reset_email(user.email):
        return
    link = url_for("auth.reset_password", token=make_reset_token(user), _external=True)
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60
    body = _(
        "Hello %(name)s,\n\n"
        "Someone asked to reset the password of your marketplace account. "
        "To choose a new password, open this link within %(minutes)d minutes:\n\n"
        "%(link)s\n\n"
        "If you didn't ask for this, ignore this email; your password stays the same.",
        name=user.name,
        minutes=minutes,
        link=link,
    )
    queue_email(user.email, _("Reset your marketplace password"), body)


def user_for_reset_token(token: str) -> User:
    """The account a valid, unexpired, unused reset token belongs to. Raises InvalidToken."""
    invalid = InvalidToken(
        _("This password reset link is invalid, has expired or was already used.")
    )
    try:
        payload = _serializer().loads(
            token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"]
        )
    except BadSignature as error:  # SignatureExpired is a BadSignature too
        raise invalid from error
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        raise invalid
    user = db.session.get(User, payload["uid"])
    if user is None or not user.is_active or payload.get("fp") != _password_fingerprint(user):
        raise invalid
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password through a reset token, which voids it. Flushes.

    Raises InvalidToken, WeakPassword.
    """
    user = user_for_reset_token(token)
    check_password_strength(new_password, user.email)
    user.set_password(new_password)
    db.session.flush()
    return user


def make_admin(user: User) -> User:
    """Give an existing account the admin role. Flushes."""
    user.role = Role.ADMIN
    db.session.flush()
    return user
