"""The portal's product form: from the posted fields to the same data the vendor API loads.

The form is one page (phone-friendly, no script needed): category, a title and description
per language, product attributes, up to three option types, and a variant table with one row
per combination of the options ("Update the variant rows" regenerates it, keeping what was
typed in rows whose options still exist). :func:`parse` turns the posted fields into the
``ProductInputSchema`` shape; prices are typed in major units ("12.50") and become minor
units here. Errors come back keyed by the schema's dotted field names
(``variants.2.price_minor``), which the template shows next to the matching input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from marshmallow import ValidationError

from marketplace.money import Money
from vendors.catalog import (
    MAX_OPTION_TYPES,
    clean_option_types,
    combinations,
    generate_variants,
    supported_locales,
)
from vendors.catalog_schemas import ProductInputSchema
from vendors.errors import InvalidInput
from vendors.onboarding import slugify

product_input = ProductInputSchema()


@dataclass
class FormState:
    """What the form shows: the values as typed (strings), and errors by field name."""

    category_id: str = ""
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    attributes: str = ""
    options: list[dict[str, str]] = field(default_factory=list)
    sku_prefix: str = ""
    default_price: str = ""
    variants: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # The form row of each variant sent to the service (rows without a SKU are skipped).
    rows: list[int] = field(default_factory=list)

    def error(self, name: str) -> str:
        return " ".join(str(m) for m in self.errors.get(name, []))


def _major(amount_minor: int | None, currency: str) -> str:
    if amount_minor is None:
        return ""
    return str(Money(amount_minor, currency).to_decimal())


def _padded(options: list[dict[str, str]]) -> list[dict[str, str]]:
    return options + [{"name": "", "values": ""}] * (MAX_OPTION_TYPES - len(options))


def state_from_data(data: Mapping[str, Any], currency: str) -> FormState:
    """The form filled with a product's editable data (``vendors.catalog.merged``)."""
    return FormState(
        category_id=str(data.get("category_id") or ""),
        texts={locale: dict(text) for locale, text in data.get("texts", {}).items()},
        attributes="\n".join(f"{k}: {v}" for k, v in (data.get("attributes") or {}).items()),
        options=_padded([{"name": o["name"], "values": ", ".join(o["values"])}
                         for o in data.get("option_types") or []]),
        variants=[
            {"id": str(v.get("id") or ""), "options": dict(v.get("options") or {}),
             "sku": v["sku"], "price": _major(v["price_minor"], currency),
             "compare_at": _major(v.get("compare_at_minor"), currency),
             "weight": "" if v.get("weight_grams") is None else str(v["weight_grams"])}
            for v in data.get("variants") or []
        ],
    )


def empty_state() -> FormState:
    return FormState(options=_padded([]),
                     variants=[{"id": "", "options": {}, "sku": "", "price": "",
                                "compare_at": "", "weight": ""}])


def _read_state(form: Mapping[str, str]) -> FormState:
    state = FormState(
        category_id=form.get("category_id", "").strip(),
        texts={locale: {"title": form.get(f"title-{locale}", ""),
                        "description": form.get(f"description-{locale}", "")}
               for locale in supported_locales()},
        attributes=form.get("attributes", ""),
        options=[{"name": form.get(f"option-name-{i}", "").strip(),
                  "values": form.get(f"option-values-{i}", "").strip()}
                 for i in range(MAX_OPTION_TYPES)],
        sku_prefix=form.get("sku_prefix", "").strip(),
        default_price=form.get("default_price", "").strip(),
    )
    try:
        count = min(int(form.get("variant_count", "0")), 200)
    except ValueError:
        count = 0
    for i in range(count):
        try:
            options = json.loads(form.get(f"variant-{i}-options", "{}"))
        except ValueError:
            options = {}
        state.variants.append({
            "id": form.get(f"variant-{i}-id", "").strip(),
            "options": {str(k): str(v) for k, v in options.items()}
            if isinstance(options, dict) else {},
            "sku": form.get(f"variant-{i}-sku", "").strip(),
            "price": form.get(f"variant-{i}-price", "").strip(),
            "compare_at": form.get(f"variant-{i}-compare_at", "").strip(),
            "weight": form.get(f"variant-{i}-weight", "").strip(),
        })
    return state


def _option_types(state: FormState) -> list[dict]:
    return [{"name": row["name"],
             "values": [v.strip() for v in row["values"].split(",") if v.strip()]}
            for row in state.options if row["name"] or row["values"]]


def _minor(text: str, currency: str) -> int | None:
    """Minor units of a typed price ("12.50", "12,50"); raises ValueError."""
    if not text:
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    return Money.from_decimal(Decimal(text.replace(" ", "")), currency).amount_minor


def _whole(text: str) -> int | None:
    """A typed id as a number, None unless it is plain ASCII digits (``str.isdigit`` also
    accepts "²", which ``int`` refuses)."""
    return int(text) if text.isascii() and text.isdecimal() else None


def regenerate(form: Mapping[str, str], currency: str) -> FormState:
    """The posted form with one variant row per combination of its option types; rows whose
    options still exist keep what was typed in them."""
    state = _read_state(form)
    try:
        # The same limits as saving (option count, values, MAX_VARIANTS combinations)
        # before any row is made: 30 values x 3 options would be 27,000 rows.
        option_types = clean_option_types(
            [o for o in _option_types(state) if o["name"] and o["values"]])
    except InvalidInput as error:
        state.errors = {error.field or "option_types": [error.message]}
        return state
    typed = {tuple(sorted(row["options"].items())): row for row in state.variants}
    title = state.texts.get(supported_locales()[0], {}).get("title", "")
    prefix = state.sku_prefix or slugify(title).upper()[:10] or "SKU"
    try:
        price = _minor(state.default_price, currency)
    except (ValueError, ArithmeticError):
        price = None
    fresh = generate_variants(option_types, sku_prefix=prefix, price_minor=price or 0)
    state.variants = []
    for generated, options in zip(fresh, combinations(option_types), strict=True):
        kept = typed.get(tuple(sorted(options.items())))
        state.variants.append(kept or {
            "id": "", "options": options, "sku": generated["sku"],
            "price": state.default_price, "compare_at": "", "weight": ""})
    return state


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(messages, list):
        return {prefix or "_": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        if key in ("value", "key"):  # marshmallow's Dict field nests errors under these
            flat.update(_flatten(value, prefix))
            continue
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def parse(form: Mapping[str, str], currency: str) -> tuple[FormState, dict | None]:
    """The posted form as its state and the loaded ProductInputSchema data (None when a
    field is wrong; ``state.errors`` says which). Rows without a SKU and price are skipped
    (a combination the shop doesn't sell)."""
    state = _read_state(form)
    errors: dict[str, list[str]] = {}
    attributes: dict[str, str] = {}
    for number, line in enumerate(state.attributes.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or not value.strip():
            errors["attributes"] = [_("Line %(num)d: write one attribute per line as "
                                      "name: value.", num=number)]
            break
        attributes[name.strip()] = value.strip()
    variants: list[dict] = []
    rows: list[int] = []
    for index, row in enumerate(state.variants):
        if not row["sku"] and not row["price"] and not row["id"]:
            continue
        item: dict[str, Any] = {"sku": row["sku"], "options": row["options"]}
        if row["id"]:
            item["id"] = _whole(row["id"])
            if item["id"] is None:
                errors[f"variants.{index}.id"] = [_("This product has no such variant.")]
        for name, key in (("price", "price_minor"), ("compare_at", "compare_at_minor")):
            try:
                item[key] = _minor(row[name], currency)
            except (ValueError, ArithmeticError):
                errors[f"variants.{index}.{key}"] = [_("Enter an amount like 12.50.")]
        if item.get("price_minor") is None:
            item.pop("price_minor", None)
        try:
            item["weight_grams"] = int(row["weight"]) if row["weight"] else None
        except ValueError:
            errors[f"variants.{index}.weight_grams"] = [_("Enter whole grams, like 250.")]
        rows.append(index)
        variants.append(item)
    body = {
        "category_id": _whole(state.category_id),
        "texts": state.texts, "attributes": attributes,
        "option_types": _option_types(state), "variants": variants,
    }
    if body["category_id"] is None:
        errors["category_id"] = [_("Choose a category.")]
    state.rows = rows
    if errors:
        state.errors = errors
        return state, None
    try:
        data = product_input.load(body)
    except ValidationError as error:
        state.errors = remap(_flatten(error.messages), rows)
        return state, None
    return state, data


def remap(errors: Mapping[str, list[str]], rows: list[int]) -> dict[str, list[str]]:
    """Error keys ``variants.<n>.…`` of the n-th sent variant renamed to its form row."""
    renamed: dict[str, list[str]] = {}
    for key, messages in errors.items():
        parts = key.split(".")
        if len(parts) > 1 and parts[0] == "variants" and parts[1].isdecimal() \
                and int(parts[1]) < len(rows):
            parts[1] = str(rows[int(parts[1])])
        renamed[".".join(parts)] = list(messages)
    return renamed
