"""The admin's commission rule forms as input, with a message next to each field.

A rate is typed in percent with at most two decimals ("12.5" is 1,250 basis points); fixed
fees and minimums in major units of the rule's currency ("1.50" EUR is 150 cents, JPY takes
whole yen). Both are read as decimal strings, never floats, and converted exactly: a digit the
unit can't hold is an error, not rounded away. Dates come from ``datetime-local`` inputs and
are UTC. An empty field is a missing one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from marketplace.money import Money, UnknownCurrency, currency_exponent
from marketplace.schemas import CleanString
from payouts.commission import Terms
from payouts.commission_admin import PREVIEW_PERIODS, SCOPES

# A fixed fee or minimum above a million units of any currency is a typo.
MAX_AMOUNT_MAJOR = 1_000_000
MAX_NAME = 120
_MAX_ID = 2**63 - 1


def _decimal(raw: str) -> Decimal | None:
    """``raw`` ("12.5", "12,5", "12.5 %") as a finite Decimal, or None."""
    cleaned = raw.strip().removesuffix("%").strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def percent_to_bp(raw: str) -> int:
    """"12.5" -> 1250. Raises ValidationError unless 0 to 100 with at most two decimals."""
    value = _decimal(raw)
    if value is None:
        raise ValidationError(_("Enter the rate in percent, such as 12.5."))
    if value < 0 or value > 100:
        raise ValidationError(_("The rate must be between 0 and 100 percent."))
    basis_points = value.scaleb(2)
    if basis_points != basis_points.to_integral_value():
        raise ValidationError(_("Use at most two decimals, such as 12.75."))
    return int(basis_points)


def amount_to_minor(raw: str, currency: str) -> int:
    """"1.50" EUR -> 150, "150" JPY -> 150. Raises ValidationError for anything else."""
    value = _decimal(raw)
    digits = currency_exponent(currency)
    example = "150" if digits == 0 else "1." + "5".ljust(digits, "0")
    if value is None:
        raise ValidationError(_("Enter an amount such as %(example)s (in %(currency)s).",
                                example=example, currency=currency))
    if value < 0:
        raise ValidationError(_("The amount can't be negative."))
    if value > MAX_AMOUNT_MAJOR:
        raise ValidationError(_("The amount is too large."))
    try:
        return Money.from_decimal(value, currency).amount_minor
    except ValueError:
        if digits == 0:
            raise ValidationError(_("%(currency)s has no minor units: enter a whole amount "
                                    "such as %(example)s.", currency=currency,
                                    example=example)) from None
        raise ValidationError(_("%(currency)s has %(digits)d decimals: enter an amount such "
                                "as %(example)s.", currency=currency, digits=digits,
                                example=example)) from None


class Percent(fields.Field):
    """A percentage typed by a person, loaded as basis points."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str):
            raise ValidationError(_("Enter the rate in percent, such as 12.5."))
        return percent_to_bp(value)


class CurrencyCode(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        code = super()._deserialize(value, attr, data, **kwargs).upper()
        try:
            currency_exponent(code)
        except UnknownCurrency:
            raise ValidationError(_("Choose a currency such as EUR.")) from None
        return code


def _moment(**kwargs: Any) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        format="iso", default_timezone=dt.UTC, load_default=None,
        error_messages={"invalid": _l("Enter a date and time such as 2026-12-01 00:00.")},
        **kwargs)


class _FormSchema(Schema):
    """A posted form: values stripped, empty fields left out (so they count as missing)."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict:
        items = data.items() if hasattr(data, "items") else []
        return {key: value.strip() for key, value in items
                if isinstance(value, str) and value.strip()}


class TermsFormSchema(_FormSchema):
    """The terms of a rule, plus the preview's period: loads ``terms`` (a Terms)."""

    rate = Percent(required=True,
                   error_messages={"required": _l("Enter the rate in percent, such as 12.5.")})
    currency = CurrencyCode(required=True,
                            error_messages={"required": _l("Choose a currency such as EUR.")})
    fixed = fields.String(load_default="0")
    minimum = fields.String(load_default="0")
    period = fields.Integer(load_default=90, validate=validate.OneOf(
        PREVIEW_PERIODS, error=_l("Choose 30, 90 or 365 days.")),
        error_messages={"invalid": _l("Choose 30, 90 or 365 days.")})

    @post_load
    def to_terms(self, data: dict, **kwargs: Any) -> dict:
        errors: dict[str, list[str]] = {}
        amounts: dict[str, int] = {}
        for name in ("fixed", "minimum"):
            try:
                amounts[name] = amount_to_minor(data.pop(name), data["currency"])
            except ValidationError as error:
                errors[name] = error.messages if isinstance(error.messages, list) else [
                    str(error.messages)]
        if errors:
            raise ValidationError(errors)
        data["terms"] = Terms(data.pop("rate"), amounts["fixed"], amounts["minimum"],
                              data.pop("currency"))
        return data


class RuleCreateFormSchema(TermsFormSchema):
    name = CleanString(required=True, validate=validate.Length(
        max=MAX_NAME, error=_l("Use at most 120 characters.")),
        error_messages={"required": _l("Name the rule, such as \"Platform default\".")})
    scope = fields.String(required=True, validate=validate.OneOf(
        SCOPES, error=_l("Choose the platform default, a category or a vendor.")),
        error_messages={"required": _l("Choose the platform default, a category or a vendor.")})
    category_id = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=_MAX_ID, error=_l("Choose a category from the list.")),
        error_messages={"invalid": _l("Choose a category from the list.")})
    vendor = CleanString(load_default="", validate=validate.Length(
        max=140, error=_l("Use at most 140 characters.")))
    valid_from = _moment()


class RuleChangeFormSchema(TermsFormSchema):
    effective_from = _moment()


class RuleCloseFormSchema(_FormSchema):
    until = _moment()
