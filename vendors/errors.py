"""The vendor domain's exceptions, and how the portal and the API answer them.

Services raise these with a message safe to show (translated) and, for bad input, the name
of the field at fault. ``register_error_handlers`` turns them into 4xx answers: JSON under
``/api/`` (with ``error.fields``), the error page elsewhere. Portal views that can put a
message next to a form field or in a flash catch them first.
"""

from __future__ import annotations

from flask import Blueprint
from flask_babel import gettext as _

from marketplace.errors import error_response
from marketplace.extensions import db


class VendorError(Exception):
    """Base of the vendor rules' exceptions; ``message`` is safe to show."""

    status = 409

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(VendorError):
    """A value breaks a rule; ``field`` names it (as the form and the API call it)."""

    status = 422


class UnknownReference(InvalidInput):
    """An id in the input names nothing this vendor owns (another vendor's rows included)."""


class PermissionDenied(VendorError):
    """The member's role (or the token's scopes) does not allow the action."""

    status = 403


class Conflict(VendorError):
    """The action clashes with the current state (the last owner, a used invitation...)."""


class InsufficientStock(Conflict):
    """A decrease would take stock below zero or below what is reserved for orders."""


def register_error_handlers(bp: Blueprint) -> None:
    """Answer the domain exceptions raised by ``bp``'s views (its nested blueprints too)."""

    @bp.errorhandler(VendorError)
    def vendor_error(error: VendorError):
        db.session.rollback()
        titles = {
            403: _("Not allowed"),
            409: _("That can't be done"),
            413: _("Too large"),
            422: _("Please check your input"),
        }
        fields = {error.field: [error.message]} if error.field else None
        return error_response(error.status, titles[error.status], error.message, fields)
