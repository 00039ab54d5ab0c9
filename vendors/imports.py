"""Catalog CSV import: the file format, reading a file, and checking every row.

The format (the export writes the same, so a file can go out, be edited and come back):

- One row per variant, UTF-8 (with or without a byte-order mark), comma-separated, a header
  row first. Only ``sku`` is a required column; a missing column leaves that field as it is.
- ``product_handle``: the product's handle (its URL slug, unique in the shop). Rows with the
  same handle are the variants of one product. A new SKU needs it; a known SKU stays in its
  product (moving a variant to another product is refused).
- ``title``, ``category`` (a category's slug), ``description`` (sanitized like the catalog
  editor's): the product's. A new product needs a title and a category; rows of one product
  must agree, or leave them empty after the first.
- ``title:<locale>``, ``description:<locale>``: the product in another of the site's
  languages (``title:de``).
- ``sku``, ``price`` (major units with a dot, ``12.50``, converted exactly with the currency's
  decimals: no floats), ``currency`` (empty or the shop's own currency; any other is a row
  error: every price of a shop is in its one currency), ``compare_at_price``
  (the struck-through "was" price, above the price), ``weight_grams``,
  ``low_stock_threshold``, ``attr:<name>`` (one column per variant attribute, ``attr:size``).
- ``stock:<location name>``: the units on hand at that location, as counted. The import sets
  the level to it and records a ``count_correction`` movement (noted "CSV import #id") when it
  differs; an empty cell leaves the level alone.
- An empty cell never changes anything. New products are created as drafts. Products that are
  submitted, live or archived keep their content: a row may change only the price,
  compare-at price, low-stock threshold and stock of their existing variants (other edits go
  through the catalog editor and review).

:func:`validate_file` checks everything against the database without writing and returns a
:class:`Plan` (the valid rows plus the errors, each with its line number and column);
``vendors.import_apply.apply_plan`` writes a plan set-based. Both take a few queries per
thousand rows, so a 10,000-row file is checked in seconds.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from marketplace.money import Money, currency_exponent
from vendors.catalog import (
    MAX_NAME,
    MAX_PRICE_MINOR,
    MAX_SKU,
    MAX_TITLE,
    MAX_VALUE,
    MAX_WEIGHT_GRAMS,
    option_key,
)
from vendors.errors import InvalidInput
from vendors.inventory import MAX_ADJUSTMENT, MAX_THRESHOLD
from vendors.models import (
    ProductStatus,
)
from vendors.rich_text import MAX_DESCRIPTION, sanitize

_MARKUP = re.compile(r"<[a-zA-Z/!]")

# The file: what one upload may hold.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
# The first errors are kept for the report; a file with thousands of bad rows has one mistake.
MAX_REPORTED_ERRORS = 500

MAX_HANDLE = 220
# The catalog editor's bounds (vendors/catalog.py), so a file and the editor agree.
MAX_ATTRIBUTE_NAME = MAX_NAME
MAX_ATTRIBUTE = MAX_VALUE
QUERY_CHUNK = 500

HANDLE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SKU_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")
AMOUNT_RE = re.compile(r"^\d{1,12}(?:\.\d{1,6})?$")

PRODUCT_COLUMNS = ("product_handle", "title", "category", "description")
VARIANT_COLUMNS = ("sku", "price", "currency", "compare_at_price", "weight_grams",
                   "low_stock_threshold")
ATTR_PREFIX = "attr:"
STOCK_PREFIX = "stock:"
TRANSLATED = ("title", "description")
# Products in these states are on sale, in review or retired: their content is not the
# import's to change (see the module docstring).
EDITABLE_STATUSES = frozenset({ProductStatus.DRAFT, ProductStatus.REJECTED})
LOCKED_FIELDS = ("title", "category_id", "description")


class FileRejected(InvalidInput):
    """The file as a whole can't be imported (size, encoding, header): nothing is read on."""


class FileTooLarge(FileRejected):
    status = 413


@dataclass(frozen=True)
class RowError:
    """One problem: ``line`` in the file (None: the whole file), the ``column`` at fault."""

    line: int | None
    column: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class Row:
    """A row that passed the per-row checks, with its values converted (given ones only)."""

    line: int
    sku: str
    handle: str | None
    product: dict[str, Any]
    variant: dict[str, Any]
    attributes: dict[str, str]
    translations: dict[str, dict[str, str]]
    stock: dict[int, int]


# --- Reading the file ----------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The file's text. Raises FileRejected for a file that is empty or not UTF-8, naming
    the line of the first byte that isn't (a Latin-1 or Windows-1252 export, typically)."""
    if not data.strip():
        raise FileRejected(_("The file is empty."), field="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FileRejected(_(
            "The file isn't UTF-8 text: line %(line)d has a byte (0x%(byte)s) that UTF-8 "
            "doesn't allow; the file was probably saved as Latin-1 or Windows-1252. Save it "
            "as \"CSV UTF-8\" and upload it again.",
            line=line, byte=f"{data[error.start]:02X}"), field="file") from None


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells); raises FileRejected for CSV syntax errors."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as error:
        raise FileRejected(_("Line %(line)d can't be read as CSV: %(error)s.",
                             line=reader.line_num, error=str(error)), field="file") from None


@dataclass(frozen=True)
class Header:
    columns: list[str]
    attributes: dict[int, str]      # position -> attribute name
    stock: dict[int, int]           # position -> location id
    translations: dict[int, tuple[str, str]]  # position -> (locale, field)


def read_header(cells: list[str], locations: dict[str, int]) -> Header:
    """Check the header row. Raises FileRejected naming the column: unknown, repeated,
    a stock column for a location the shop doesn't have, or no ``sku`` column."""
    known = set(PRODUCT_COLUMNS) | set(VARIANT_COLUMNS)
    languages = [code for code in current_app.config["LANGUAGES"]
                 if code != current_app.config["BABEL_DEFAULT_LOCALE"]]
    columns = [cell.strip() for cell in cells]
    attributes: dict[int, str] = {}
    stock: dict[int, int] = {}
    translations: dict[int, tuple[str, str]] = {}
    seen: set[str] = set()
    for position, name in enumerate(columns):
        if not name:
            raise FileRejected(_("Column %(num)d has no name in the header row.",
                                 num=position + 1), field="file")
        if name.lower() in seen:
            raise FileRejected(_("The column \"%(name)s\" appears twice.", name=name),
                               field="file")
        seen.add(name.lower())
        prefix, _sep, rest = name.partition(":")
        rest = rest.strip()
        if name.startswith(STOCK_PREFIX):
            location_id = locations.get(rest.lower())
            if location_id is None:
                raise FileRejected(_(
                    "The column \"%(name)s\": you have no stock location named \"%(location)s\". "
                    "Add it under Locations first, or fix the name.",
                    name=name, location=rest), field="file")
            stock[position] = location_id
        elif name.startswith(ATTR_PREFIX):
            key = option_key(rest)
            if not key or len(key) > MAX_ATTRIBUTE_NAME:
                raise FileRejected(_("The column \"%(name)s\" needs an attribute name of 1 to "
                                     "%(num)d characters after \"attr:\".", name=name,
                                     num=MAX_ATTRIBUTE_NAME), field="file")
            attributes[position] = key
        elif prefix in TRANSLATED and rest:
            if rest not in languages:
                raise FileRejected(_(
                    "The column \"%(name)s\": \"%(locale)s\" is not one of the site's other "
                    "languages (%(languages)s).", name=name, locale=rest,
                    languages=", ".join(languages) or "-"), field="file")
            translations[position] = (rest, prefix)
        elif name not in known:
            raise FileRejected(_(
                "Unknown column \"%(name)s\". The columns are: %(columns)s, plus "
                "\"attr:<name>\", \"stock:<location>\" and \"title:<language>\"/"
                "\"description:<language>\".",
                name=name, columns=", ".join(PRODUCT_COLUMNS + VARIANT_COLUMNS)), field="file")
    if "sku" not in columns:
        raise FileRejected(_("The required column \"sku\" is missing from the header row."),
                           field="file")
    return Header(columns, attributes, stock, translations)


# --- Checking one row ----------------------------------------------------------------------


def _amount(value: str) -> None:
    if not AMOUNT_RE.match(value):
        raise ValidationError(_("Write an amount like 12.50: digits and a dot, without a "
                                "currency sign or thousands separator."))


def _currency(value: str) -> None:
    try:
        currency_exponent(value)
    except ValueError:
        raise ValidationError(_("Use a three-letter ISO currency code such as EUR.")) from None


class CatalogRowSchema(Schema):
    """One row's fixed columns, as text from the file (empty cells are left out before)."""

    class Meta:
        unknown = EXCLUDE

    product_handle = fields.String(validate=validate.Length(max=MAX_HANDLE))
    title = fields.String(validate=validate.Length(max=MAX_TITLE))
    category = fields.String(validate=validate.Length(max=140))
    description = fields.String(validate=validate.Length(max=MAX_DESCRIPTION))
    sku = fields.String(required=True, validate=[
        validate.Length(max=MAX_SKU),
        validate.Regexp(SKU_RE, error="Control characters are not allowed.")])
    price = fields.String(validate=_amount)
    currency = fields.String(validate=_currency)
    compare_at_price = fields.String(validate=_amount)
    weight_grams = fields.Integer(validate=validate.Range(min=0, max=MAX_WEIGHT_GRAMS))
    low_stock_threshold = fields.Integer(validate=validate.Range(min=0, max=MAX_THRESHOLD))


row_schema = CatalogRowSchema()


def clean_description(text: str) -> str:
    """Markup is sanitized like the catalog editor's; plain text stays as written (it is
    escaped when shown), so an exported plain description imports back unchanged."""
    return sanitize(text) if _MARKUP.search(text) else text


def _minor(amount: str, currency: str, column: str) -> int:
    """Major units to minor units, exactly; raises ValidationError naming the problem."""
    try:
        money = Money.from_decimal(Decimal(amount), currency)
    except ValueError:
        raise ValidationError(_("%(currency)s amounts have at most %(num)d decimal places.",
                                currency=currency, num=currency_exponent(currency))) from None
    if money.amount_minor > MAX_PRICE_MINOR:
        raise ValidationError(_("Enter at most %(max)s.",
                                max=Money(MAX_PRICE_MINOR, currency).to_decimal()))
    return money.amount_minor


def parse_row(line: int, cells: list[str], header: Header, shop_currency: str,
              categories: dict[str, int]) -> Row | list[RowError]:
    """The row's values converted, or its errors (every column at fault, not only the
    first)."""
    if len(cells) > len(header.columns):
        return [RowError(line, None, _(
            "This line has %(cells)d values but the header has %(columns)d columns (a comma "
            "inside a value needs quotes around the value).",
            cells=len(cells), columns=len(header.columns)))]
    raw = {name: cell.strip() for name, cell in zip(header.columns, cells, strict=False)
           if cell.strip()}
    errors: list[RowError] = []
    try:
        data = row_schema.load(raw)
    except ValidationError as error:
        for column, messages in error.messages_dict.items():
            errors.append(RowError(line, column, " ".join(map(str, messages))))
        data = error.valid_data or {}
    currency = (data.get("currency") or shop_currency).upper()
    variant: dict[str, Any] = {}
    if currency != shop_currency:
        # Prices, search and checkout all assume the shop's one currency.
        errors.append(RowError(line, "currency", _(
            "Your shop sells in %(shop)s: leave \"currency\" empty or write %(shop)s.",
            shop=shop_currency)))
    elif "currency" in data:
        variant["currency"] = currency
    for column, key in (("price", "price_minor"), ("compare_at_price", "compare_at_minor")):
        if column in data and "currency" not in {e.column for e in errors}:
            try:
                variant[key] = _minor(data[column], currency, column)
            except ValidationError as error:
                errors.append(RowError(line, column, " ".join(map(str, error.messages))))
    for key in ("weight_grams", "low_stock_threshold"):
        if key in data:
            variant[key] = data[key]
    product: dict[str, Any] = {}
    if "title" in data:
        product["title"] = " ".join(data["title"].split())
    if "description" in data:
        product["description"] = clean_description(data["description"])
    if "category" in data:
        category_id = categories.get(data["category"].lower())
        if category_id is None:
            errors.append(RowError(line, "category", _(
                "There is no category \"%(slug)s\"; use a category's slug from the "
                "category list.", slug=data["category"])))
        else:
            product["category_id"] = category_id
    stock: dict[int, int] = {}
    for position, location_id in header.stock.items():
        value = cells[position].strip() if position < len(cells) else ""
        if not value:
            continue
        if not value.isdecimal() or int(value) > MAX_ADJUSTMENT:
            errors.append(RowError(line, header.columns[position], _(
                "Enter the units on hand as a whole number from 0 to %(max)s.",
                max=f"{MAX_ADJUSTMENT:,}")))
        else:
            stock[location_id] = int(value)
    attributes: dict[str, str] = {}
    for position, name in header.attributes.items():
        value = cells[position].strip() if position < len(cells) else ""
        if len(value) > MAX_ATTRIBUTE:
            errors.append(RowError(line, header.columns[position], _(
                "Use at most %(num)d characters.", num=MAX_ATTRIBUTE)))
        elif value:
            attributes[name] = value
    translations: dict[str, dict[str, str]] = {}
    for position, (locale, name) in header.translations.items():
        value = cells[position].strip() if position < len(cells) else ""
        limit = MAX_TITLE if name == "title" else MAX_DESCRIPTION
        if len(value) > limit:
            errors.append(RowError(line, header.columns[position], _(
                "Use at most %(num)d characters.", num=limit)))
        elif value:
            translations.setdefault(locale, {})[name] = (
                clean_description(value) if name == "description" else value)
    if errors:
        return errors
    return Row(line=line, sku=data["sku"], handle=data.get("product_handle"), product=product,
               variant=variant, attributes=attributes, translations=translations, stock=stock)


def too_large() -> FileTooLarge:
    return FileTooLarge(_("The file is larger than %(size)s MB. Split it into smaller files "
                          "and import them one after the other.",
                          size=MAX_FILE_BYTES // (1024 * 1024)), field="file")
