"""Route guards for each audience."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged-in admins only: anonymous users go to the login page, others get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
