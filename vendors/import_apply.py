"""Writing a checked import plan, set-based, in the caller's transaction.

Each step is a few multi-row statements per thousand rows (one INSERT ... RETURNING for the
new products, one for the new variants, executemany UPDATEs by primary key for the changes),
never one ORM flush per row, so 10,000 rows take seconds.

Stock follows the inventory rules (``vendors/inventory.py``): the levels the file counts are
locked first (an UPDATE takes the row locks on PostgreSQL and the write lock on SQLite), then
read, so the figure a movement's delta is computed from can't change before it is written; a
count below the units reserved for orders is refused; every change is a ``count_correction``
movement noted "CSV import #<id>". Nothing here commits: the job commits the whole import
with the transfer's final status, or rolls it all back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, column, insert, select, update
from sqlalchemy import values as values_clause
from sqlalchemy.dialects import postgresql, sqlite

from marketplace.db import utcnow
from marketplace.extensions import db
from vendors.import_plan import Plan, existing_translations
from vendors.imports import EDITABLE_STATUSES, STOCK_PREFIX, Row, RowError
from vendors.models import (
    MovementReason,
    Product,
    ProductStatus,
    ProductTranslation,
    StockLevel,
    StockMovement,
    Variant,
)
from vendors.search import queue_reindex_products

CHUNK = 1_000
VARIANT_FIELDS = ("price_minor", "currency", "compare_at_minor", "weight_grams",
                  "low_stock_threshold")


class StockChanged(Exception):
    """Between the check and the write, orders reserved more units than a row counts."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} stock count(s) below the reserved units")
        self.errors = errors


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_lines: set[int] = field(default_factory=set)


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def apply_plan(plan: Plan, *, transfer_id: int, user_id: int | None, token_id: int | None,
               progress: Callable[[int], None] | None = None) -> Outcome:
    """Write ``plan.rows``: new products (drafts) and variants, changes, translations and
    stock. Raises StockChanged (nothing should be committed then)."""
    outcome = Outcome()
    step = progress or (lambda done: None)
    total = len(plan.rows)
    product_ids = _write_products(plan, outcome)
    _write_translations(plan, product_ids, outcome)
    step(total // 5)
    variant_ids = _write_variants(plan, product_ids, outcome)
    step(total // 2)
    _write_stock(plan, variant_ids, outcome, transfer_id=transfer_id, user_id=user_id,
                 token_id=token_id)
    step(total * 9 // 10)
    new_skus = {row.sku for row in plan.rows if row.sku not in plan.variants}
    outcome.created = len(new_skus)
    outcome.updated = len({row.line for row in plan.rows if row.sku not in new_skus}
                          & outcome.changed_lines)
    outcome.unchanged = total - outcome.created - outcome.updated
    # Stock and prices of visible products changed: one reindex job for all of them (new
    # products are drafts, invisible until approved).
    queue_reindex_products({plan.products[row.handle].id for row in plan.rows
                            if row.handle in plan.products and row.line in outcome.changed_lines})
    step(total)
    return outcome


def _write_products(plan: Plan, outcome: Outcome) -> dict[str, int]:
    now = utcnow()
    ids = {handle: facts.id for handle, facts in plan.products.items()}
    new: dict[str, dict[str, Any]] = {}
    changes: dict[int, dict[str, Any]] = {}
    # Products whose variants gain a SKU or change attributes: the option types the editor
    # stored no longer describe them; None makes the editor derive them from the variants.
    reshaped = {row.handle for row in plan.rows if row.sku not in plan.variants
                or any(plan.variants[row.sku].attributes.get(name) != value
                       for name, value in row.attributes.items())}
    for row in plan.rows:
        facts = plan.products.get(row.handle)
        if facts is None:
            values = new.setdefault(row.handle, {
                "vendor_id": plan.vendor_id, "slug": row.handle, "description": "",
                "status": ProductStatus.DRAFT, "featured": False,
                "created_at": now, "updated_at": now})
            values.update(row.product)
        elif facts.status in EDITABLE_STATUSES:
            changed = {key: value for key, value in row.product.items()
                       if value != getattr(facts, key)}
            if row.handle in reshaped:
                changed["option_types"] = None
            if changed:
                changes.setdefault(facts.id, {"id": facts.id, "updated_at": now}).update(changed)
                outcome.changed_lines.add(row.line)
    for chunk in _chunks(list(new.values())):
        for product_id, slug in db.session.execute(
                insert(Product).returning(Product.id, Product.slug), chunk):
            ids[slug] = product_id
    _update_by_id(Product, list(changes.values()))
    return ids


def _update_by_id(model: Any, changes: list[dict[str, Any]]) -> None:
    """Executemany UPDATEs by primary key; one statement needs the same keys in every row,
    so the changes are grouped by the keys they set."""
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in changes:
        by_keys.setdefault(tuple(sorted(values)), []).append(values)
    for group in by_keys.values():
        for chunk in _chunks(group):
            db.session.execute(update(model), chunk)


def _write_translations(plan: Plan, product_ids: dict[str, int], outcome: Outcome) -> None:
    wanted: dict[tuple[int, str], tuple[dict[str, str], Row]] = {}
    for row in plan.rows:
        for locale, values in row.translations.items():
            key = (product_ids[row.handle], locale)
            wanted.setdefault(key, ({}, row))[0].update(values)
    if not wanted:
        return
    current = existing_translations(product_id for product_id, _locale in wanted)
    titles = dict(db.session.execute(
        select(Product.id, Product.title).where(
            Product.id.in_(sorted({product_id for product_id, _locale in wanted})))).all())
    inserts, updates = [], []
    for (product_id, locale), (values, row) in wanted.items():
        if (product_id, locale) in current:
            title, description = current[(product_id, locale)]
            changed = {k: v for k, v in values.items()
                       if v != {"title": title, "description": description}[k]}
            if changed:
                updates.append({"product_id": product_id, "locale": locale, **changed})
                outcome.changed_lines.add(row.line)
        else:
            inserts.append({"vendor_id": plan.vendor_id, "product_id": product_id,
                            "locale": locale, "title": values.get("title", titles[product_id]),
                            "description": values.get("description", "")})
            outcome.changed_lines.add(row.line)
    if inserts:
        db.session.execute(insert(ProductTranslation), inserts)
    table = ProductTranslation.__table__
    for values in updates:
        db.session.execute(
            update(table).where(table.c.product_id == values.pop("product_id"),
                                table.c.locale == values.pop("locale")).values(**values))


def _write_variants(plan: Plan, product_ids: dict[str, int], outcome: Outcome) -> dict[str, int]:
    now = utcnow()
    ids = {sku: facts.id for sku, facts in plan.variants.items()}
    new: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for row in plan.rows:
        known = plan.variants.get(row.sku)
        if known is None:
            new.append({"vendor_id": plan.vendor_id, "product_id": product_ids[row.handle],
                        "sku": row.sku, "currency": plan.currency, "attributes": row.attributes,
                        "created_at": now, "updated_at": now, **row.variant})
            continue
        changed = {key: value for key, value in row.variant.items()
                   if value != getattr(known, key)}
        attributes = {**known.attributes, **row.attributes}
        if attributes != known.attributes:
            changed["attributes"] = attributes
        if changed:
            changes.append({"id": known.id, "updated_at": now, **changed})
            outcome.changed_lines.add(row.line)
    for chunk in _chunks(new):
        # Rows without an optional column still get it, so one statement covers the chunk.
        for values in chunk:
            for key in VARIANT_FIELDS:
                values.setdefault(key, None)
        for variant_id, sku in db.session.execute(
                insert(Variant).returning(Variant.id, Variant.sku), chunk):
            ids[sku] = variant_id
    _update_by_id(Variant, changes)
    return ids


def _write_stock(plan: Plan, variant_ids: dict[str, int], outcome: Outcome, *,
                 transfer_id: int, user_id: int | None, token_id: int | None) -> None:
    counts: dict[tuple[int, int], tuple[int, Row]] = {}
    for row in plan.rows:
        for location_id, counted in row.stock.items():
            counts[(variant_ids[row.sku], location_id)] = (counted, row)
    if not counts:
        return
    now = utcnow()
    table = StockLevel.__table__
    note = _("CSV import #%(id)d", id=transfer_id)
    movements: list[dict[str, Any]] = []

    def moved(variant_id: int, location_id: int, before: int, counted: int, row: Row) -> None:
        movements.append({"vendor_id": plan.vendor_id, "variant_id": variant_id,
                          "location_id": location_id, "delta": counted - before,
                          "on_hand_after": counted, "reason": MovementReason.COUNT_CORRECTION,
                          "note": note, "user_id": user_id, "token_id": token_id,
                          "created_at": now})
        outcome.changed_lines.add(row.line)

    # Levels that don't exist yet are inserted with the count. ON CONFLICT DO NOTHING: one
    # created meanwhile (an adjustment) is left to the locked update below.
    postgres = db.session.get_bind().dialect.name == "postgresql"
    dialect = postgresql if postgres else sqlite
    new = [{"vendor_id": plan.vendor_id, "variant_id": variant_id, "location_id": location_id,
            "on_hand": counted, "reserved": 0, "created_at": now, "updated_at": now}
           for (variant_id, location_id), (counted, _row) in counts.items()
           if (variant_id, location_id) not in plan.levels]
    inserted: set[tuple[int, int]] = set()
    for chunk in _chunks(new):
        inserted.update(tuple(r) for r in db.session.execute(
            dialect.insert(table).on_conflict_do_nothing(
                index_elements=["variant_id", "location_id"])
            .returning(table.c.variant_id, table.c.location_id, sort_by_parameter_order=True),
            chunk))
    for pair in inserted:
        counted, row = counts[pair]
        if counted:
            moved(*pair, 0, counted, row)

    # The others are locked and read in one statement (UPDATE ... RETURNING takes the row
    # locks on PostgreSQL and the write lock on SQLite), then set.
    existing = [pair for pair in counts if pair not in inserted]
    location_ids = sorted({location_id for _variant, location_id in existing})
    levels: dict[tuple[int, int], tuple[int, int, int]] = {}
    for chunk in _chunks(sorted({variant_id for variant_id, _location in existing})):
        for level_id, variant_id, location_id, on_hand, reserved in db.session.execute(
                update(table).where(table.c.vendor_id == plan.vendor_id,
                                    table.c.variant_id.in_(chunk),
                                    table.c.location_id.in_(location_ids))
                .values(updated_at=now)
                .returning(table.c.id, table.c.variant_id, table.c.location_id,
                           table.c.on_hand, table.c.reserved)):
            levels[(variant_id, location_id)] = (level_id, on_hand, reserved)
    updates, refused = [], []
    for pair in existing:
        counted, row = counts[pair]
        level_id, on_hand, reserved = levels[pair]
        if counted == on_hand:
            continue
        if counted < reserved:
            refused.append(RowError(row.line, STOCK_PREFIX + plan.locations[pair[1]], _(
                "%(reserved)d units here are reserved for orders, so the count can't be "
                "lower than that.", reserved=reserved)))
            continue
        updates.append({"level_id": level_id, "counted": counted})
        moved(*pair, on_hand, counted, row)
    if refused:
        raise StockChanged(refused)
    for chunk in _chunks(updates):
        _set_on_hand(table, chunk, postgres)
    for chunk in _chunks(movements):
        db.session.execute(insert(StockMovement.__table__), chunk)


def _set_on_hand(table: Any, chunk: list[dict[str, int]], postgres: bool) -> None:
    """Set ``on_hand`` of each ``level_id`` to ``counted``: on PostgreSQL one UPDATE ... FROM
    (VALUES ...) per chunk (an executemany would be a statement per row), elsewhere an
    executemany (SQLite runs those in-process, as fast)."""
    if postgres:
        counted = values_clause(column("level_id", Integer), column("counted", Integer),
                         name="counted").data([(r["level_id"], r["counted"]) for r in chunk])
        db.session.execute(update(table).where(table.c.id == counted.c.level_id)
                           .values(on_hand=counted.c.counted))
    else:
        db.session.execute(update(table).where(table.c.id == bindparam("level_id"))
                           .values(on_hand=bindparam("counted")), chunk)
