"""Core marshmallow schemas: the shapes the JSON API answers with at its boundary.

Domain packages keep their own schemas (``vendors/schemas.py``...); what lives here is shared by
every endpoint (the error envelope) or belongs to the core models (categories). The page query
and page envelope schemas live with the paginator in ``marketplace.pagination``.
"""

from __future__ import annotations

from marshmallow import Schema, fields


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
