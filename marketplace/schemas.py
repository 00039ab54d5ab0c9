"""Core marshmallow schemas: the shapes the JSON API answers with at its boundary.

Domain packages keep their own schemas (``vendors/schemas.py``...); what lives here is shared by
every endpoint (the error envelope) or belongs to the core models (categories). The page query
and page envelope schemas live with the paginator in ``marketplace.pagination``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields


class CleanString(fields.String):
    """A string that can be stored and shown: no NUL byte, no lone surrogate (not encodable
    as UTF-8), no other control character (``multiline`` allows tab, newline and carriage
    return). Anything else is refused as a field error, never a database error."""

    default_error_messages = {
        "unclean": _l("Remove the invisible control characters from this field."),
    }

    def __init__(self, *args: Any, multiline: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.allowed = frozenset("\t\n\r") if multiline else frozenset()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        for char in text:
            if "\ud800" <= char <= "\udfff" or (
                    unicodedata.category(char) == "Cc" and char not in self.allowed):
                # str(): the lazy message translated now, and a plain list like the
                # built-in fields' errors.
                raise ValidationError([str(self.error_messages["unclean"])])
        return text


class CategorySchema(Schema):
    """A node of the category tree; ``parent_id`` is null for roots."""

    id = fields.Integer(dump_only=True)
    parent_id = fields.Integer(dump_only=True, allow_none=True)
    name = fields.String(dump_only=True)
    slug = fields.String(dump_only=True)
    position = fields.Integer(dump_only=True)


class ErrorDetailSchema(Schema):
    status = fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    title = fields.String(required=True, metadata={"description": "A short, translated title."})
    message = fields.String(
        required=True, metadata={"description": "What happened and what to do, translated."}
    )
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        metadata={"description": "Per-field messages (422 only): field name -> list of messages."},
    )


class ErrorSchema(Schema):
    """Every error answer under /api/ (see ``marketplace.errors.error_response``)."""

    error = fields.Nested(ErrorDetailSchema, required=True)
