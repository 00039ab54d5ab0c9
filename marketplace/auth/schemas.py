"""The user's JSON shape at the API boundary, projected by who is asking.

One schema, several views (``only=``): other people see a name, the account holder also
sees their own email and preferences, admins also see role, status and dates. Never the
password hash.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from marketplace.models import Role

PUBLIC_FIELDS = ("id", "name")
SELF_FIELDS = (*PUBLIC_FIELDS, "email", "role", "locale", "currency")
ADMIN_FIELDS = (*SELF_FIELDS, "is_active", "created_at", "password_changed_at")


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    email = fields.Email(dump_only=True)
    role = fields.Enum(Role, by_value=True, dump_only=True)
    locale = fields.String(dump_only=True, allow_none=True)
    currency = fields.String(dump_only=True, allow_none=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    password_changed_at = fields.DateTime(dump_only=True)


public_user_schema = UserSchema(only=PUBLIC_FIELDS)
own_user_schema = UserSchema(only=SELF_FIELDS)
admin_user_schema = UserSchema(only=ADMIN_FIELDS)
