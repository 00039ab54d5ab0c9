"""Shipping profiles and methods as input: the portal's forms and JSON bodies, loaded into the
services' ``ProfileInput`` / ``MethodInput`` with messages naming each field.

JSON amounts are integer minor units (``base_minor``...); the portal's form takes them as
decimals in major units (``base`` = "4.90") and converts them exactly in the vendor's currency.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, ValidationError, fields, post_load, pre_load, validate

from marketplace.money import Money
from vendors.countries import country_codes
from vendors.schemas import StrictBody
from vendors.shipping import (
    MAX_AMOUNT_MAJOR,
    MAX_HANDLING_DAYS,
    MAX_NAME,
    MethodInput,
    ProfileInput,
)
from vendors.shipping_models import RateKind

# Bounds of any currency's minor units (JPY has 0 digits, KWD 3); the services check again
# in the vendor's own currency.
_MAX_MINOR = MAX_AMOUNT_MAJOR * 1_000


def _countries(value: list[str]) -> None:
    unknown = sorted({code for code in value if code.upper() not in country_codes()})
    if unknown:
        raise ValidationError(_("Unknown country codes: %(codes)s. Use two-letter ISO codes "
                                "such as DE.", codes=", ".join(unknown)))


def _amount(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=_MAX_MINOR),
                          **kwargs)


class ProfileSchema(StrictBody):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME))
    countries = fields.List(
        fields.String(validate=validate.Length(equal=2)), required=True,
        validate=[validate.Length(min=1, max=300,
                                  error=_l("Choose at least one country.")), _countries],
        metadata={"description": "ISO 3166 alpha-2 codes of the destinations served."})
    handling_days = fields.Integer(strict=True, load_default=1, validate=validate.Range(
        min=0, max=MAX_HANDLING_DAYS))

    @post_load
    def to_input(self, data: dict, **kwargs: Any) -> ProfileInput:
        return ProfileInput(data["name"], tuple(c.upper() for c in data["countries"]),
                            data["handling_days"])


class MethodSchema(StrictBody):
    id = fields.Integer(dump_only=True)
    profile_id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME))
    kind = fields.Enum(RateKind, by_value=True, load_default=RateKind.FLAT)
    currency = fields.String(dump_only=True)
    base_minor = _amount(load_default=0)
    per_kg_minor = _amount(load_default=0, metadata={
        "description": "Added per started kilogram (weight rates only)."})
    free_over_minor = _amount(load_default=None, allow_none=True, metadata={
        "description": "Free from this items subtotal on; null: never free."})
    active = fields.Boolean(load_default=True)

    @post_load
    def to_input(self, data: dict, **kwargs: Any) -> MethodInput:
        return MethodInput(data["name"], data["kind"], data["base_minor"],
                           data["per_kg_minor"], data["free_over_minor"], data["active"])


class ProfileFormSchema(ProfileSchema):
    """The portal's profile form: countries as a multi-select or a comma-separated list."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict:
        countries = data.getlist("countries") if hasattr(data, "getlist") else []
        codes = [code.strip().upper() for value in countries
                 for code in value.replace(";", ",").split(",") if code.strip()]
        loaded: dict[str, Any] = {"name": data.get("name", ""), "countries": codes}
        days = (data.get("handling_days") or "").strip()
        if days:
            loaded["handling_days"] = int(days) if days.isdecimal() else days
        return loaded


class MethodFormSchema(MethodSchema):
    """The portal's method form: amounts as decimals in the vendor's currency ("4.90")."""

    class Meta:
        unknown = EXCLUDE

    def __init__(self, currency: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.currency = currency

    def _minor(self, raw: str | None, field: str, errors: dict) -> int | None:
        raw = (raw or "").strip().replace(",", ".")
        if not raw:
            return None
        try:
            return Money.from_decimal(Decimal(raw), self.currency).amount_minor
        except (InvalidOperation, ValueError):
            errors[field] = [_("Enter an amount such as 4.90 (in %(currency)s).",
                               currency=self.currency)]
            return None

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict:
        errors: dict[str, list[str]] = {}
        loaded = {
            "name": data.get("name", ""),
            "kind": data.get("kind") or RateKind.FLAT.value,
            "base_minor": self._minor(data.get("base"), "base_minor", errors) or 0,
            "per_kg_minor": self._minor(data.get("per_kg"), "per_kg_minor", errors) or 0,
            "free_over_minor": self._minor(data.get("free_over"), "free_over_minor", errors),
            "active": data.get("active") in {"y", "on", "1", "true"},
        }
        if errors:
            raise ValidationError(errors)
        return loaded
