"""Job functions the job tests enqueue by dotted path, as real code would."""

from __future__ import annotations

from marketplace.extensions import db
from marketplace.kv import get_redis
from marketplace.mail import queue_email
from marketplace.models import User

SEEN_KEY = "tests:jobfuncs:seen"


def record_user_email(user_id: int) -> None:
    """Append the email of the user the job finds (or "<missing>") to a Redis list."""
    user = db.session.get(User, user_id)
    get_redis().rpush(SEEN_KEY, user.email if user else "<missing>")


def rename_user(user_id: int, name: str) -> None:
    """A job that writes and commits, as idempotent jobs do: set, don't append."""
    user = db.session.get(User, user_id)
    user.name = name
    db.session.commit()


def explode(message: str) -> None:
    raise RuntimeError(message)


def seen() -> list[str]:
    return [value.decode() for value in get_redis().lrange(SEEN_KEY, 0, -1)]


def welcome(user_id: int) -> None:
    """A job that commits a change and queues a follow-up email in the same transaction."""
    user = db.session.get(User, user_id)
    user.name = f"{user.name} (welcomed)"
    queue_email(user.email, "Welcome", f"Hello {user.name}")
    db.session.commit()
