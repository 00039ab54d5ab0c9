"""The vendor's catalog: creating and editing products, their variants and translations, and
the vendor's side of the product lifecycle (submit, withdraw, archive, restore).

The service API (the portal, the vendor API and the CSV import all call it):

- :func:`create_product` (actor, data) -> Product, a draft;
- :func:`update_product` (actor, product_id, changes) -> Product or ProductRevision: a live
  (approved) product is not changed; the edit waits as a pending revision (only the changed
  fields) for moderation; a submitted product goes back to draft;
- :func:`generate_variants` (option_types, ...) -> one variant input per combination;
- :func:`submit_product`, :func:`withdraw_product`, :func:`archive_product`,
  :func:`restore_product`; the moderator's side is in ``vendors.moderation``.

``data`` is what ``vendors.catalog_schemas.ProductInputSchema`` loads (shape and bounds
checked there); the rules that need the database or the whole product (the category exists,
the default locale has a title, SKUs are unique in the shop, variants match the option types)
are checked here, before anything is written, so a refused edit writes nothing. Functions
flush, never commit, and raise ``InvalidInput`` naming the field (``variants.2.sku``),
``PermissionDenied`` and ``Conflict``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from marketplace.extensions import db
from marketplace.models import Category
from marketplace.scoping import vendor_select
from vendors.access import Actor, Permission
from vendors.catalog_revisions import EDITABLE, changes_between, overlay
from vendors.errors import Conflict, InvalidInput, UnknownReference
from vendors.models import (
    InvalidTransition,
    Product,
    ProductRevision,
    ProductStatus,
    ProductTranslation,
    RevisionStatus,
    Variant,
    Vendor,
)
from vendors.onboarding import slugify
from vendors.rich_text import MAX_DESCRIPTION, sanitize
from vendors.search import queue_reindex_products

# Bounds, shared with the schemas and forms. A price above MAX_PRICE_MINOR minor units
# (1,000,000.00 in a two-decimal currency) is a typo, not a product.
MAX_PRICE_MINOR = 100_000_000
MAX_WEIGHT_GRAMS = 1_000_000
MAX_TITLE = 200
MAX_SKU = 64
MAX_OPTION_TYPES = 3
MAX_OPTION_VALUES = 20
MAX_VARIANTS = 100
MAX_ATTRIBUTES = 20
MAX_NAME = 40
MAX_VALUE = 60



def supported_locales() -> list[str]:
    """The locales a product can be written in: the default first, then the others."""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    return [default, *sorted(set(current_app.config["LANGUAGES"]) - {default})]


def default_locale() -> str:
    return current_app.config["BABEL_DEFAULT_LOCALE"]


# --- Variants from option types ------------------------------------------------------------


def option_key(name: str) -> str:
    """The attribute key of an option type ("Size " -> "size"): the storefront's facets and
    picker use the key, so two shops' "Size" and "size" are one filter."""
    return " ".join(name.split()).lower()


def combinations(option_types: list[dict]) -> list[dict[str, str]]:
    """Every combination of the option types' values, in the order they were given:
    [{"size": "S", "colour": "red"}, {"size": "S", "colour": "blue"}, ...]; one empty
    combination when there are no option types (a product with a single variant)."""
    names = [option["name"] for option in option_types]
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(option["values"] for option in option_types))]


def _sku_part(value: str) -> str:
    return slugify(value).upper()[:12] or "X"


def generate_variants(option_types: list[dict], *, sku_prefix: str, price_minor: int,
                      compare_at_minor: int | None = None,
                      weight_grams: int | None = None) -> list[dict]:
    """One variant input per combination of ``option_types``, with SKUs made from the prefix
    and the values (``TEE-S-RED``) and the same price, compare-at price and weight."""
    prefix = sku_prefix.strip().upper()
    return [
        {"sku": "-".join([prefix, *(_sku_part(v) for v in options.values())])[:MAX_SKU],
         "price_minor": price_minor, "compare_at_minor": compare_at_minor,
         "weight_grams": weight_grams, "options": options}
        for options in combinations(option_types)
    ]


# --- Reading a product as editable data ----------------------------------------------------


def _derived_option_types(variants: Iterable[Variant]) -> list[dict]:
    """Option types of a product made before option types were stored: its variants' axes."""
    found: dict[str, list[str]] = {}
    for variant in variants:
        for name, value in (variant.attributes or {}).items():
            values = found.setdefault(str(name), [])
            if str(value) not in values:
                values.append(str(value))
    return [{"name": name, "values": values} for name, values in found.items()]


def snapshot(product: Product) -> dict[str, Any]:
    """The product as editable data, in the shape ``create_product`` takes (with ids)."""
    texts = {default_locale(): {"title": product.title, "description": product.description}}
    for translation in product.translations:
        texts[translation.locale] = {"title": translation.title,
                                     "description": translation.description}
    return {
        "category_id": product.category_id,
        "texts": texts,
        "attributes": dict(product.attributes or {}),
        "option_types": (list(product.option_types) if product.option_types is not None
                         else _derived_option_types(product.variants)),
        "variants": [
            {"id": v.id, "sku": v.sku, "price_minor": v.price_minor,
             "compare_at_minor": v.compare_at_minor, "weight_grams": v.weight_grams,
             "options": {str(k): str(val) for k, val in (v.attributes or {}).items()}}
            for v in product.variants
        ],
    }


def pending_revision(product_id: int) -> ProductRevision | None:
    return db.session.scalar(
        select(ProductRevision).where(ProductRevision.product_id == product_id,
                                      ProductRevision.status == RevisionStatus.PENDING)
        .order_by(ProductRevision.id.desc()).limit(1)
    )


def latest_revision(product_id: int) -> ProductRevision | None:
    return db.session.scalar(
        select(ProductRevision).where(ProductRevision.product_id == product_id)
        .order_by(ProductRevision.id.desc()).limit(1)
    )


# --- Validation ----------------------------------------------------------------------------


def _check_category(category_id: int) -> None:
    if db.session.get(Category, category_id) is None:
        raise UnknownReference(_("There is no such category."), field="category_id")


def _clean_texts(texts: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    locales = supported_locales()
    cleaned: dict[str, dict[str, str]] = {}
    for locale, entry in texts.items():
        if locale not in locales:
            raise InvalidInput(_("Use one of these languages: %(list)s.",
                                 list=", ".join(locales)), field="texts")
        title = " ".join((entry.get("title") or "").split())
        description = sanitize(entry.get("description") or "")
        if not title and not description and locale != default_locale():
            continue  # an empty translation: the default locale's text is shown
        if not title:
            raise InvalidInput(_("Give the product a title."), field=f"texts.{locale}.title")
        if len(title) > MAX_TITLE:
            raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_TITLE),
                               field=f"texts.{locale}.title")
        if len(description) > MAX_DESCRIPTION:
            raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_DESCRIPTION),
                               field=f"texts.{locale}.description")
        cleaned[locale] = {"title": title, "description": description}
    if default_locale() not in cleaned:
        raise InvalidInput(_("A title in the default language (%(locale)s) is required.",
                             locale=default_locale()), field=f"texts.{default_locale()}.title")
    return cleaned


def clean_option_types(option_types: list[Mapping[str, Any]]) -> list[dict]:
    """The option types with normalised names and values, within the limits (options,
    MAX_VARIANTS combinations); raises InvalidInput naming the field."""
    cleaned: list[dict] = []
    for index, option in enumerate(option_types):
        name = option_key(option.get("name") or "")
        field = f"option_types.{index}"
        if not name:
            raise InvalidInput(_("Name the option, e.g. Size."), field=f"{field}.name")
        if any(other["name"] == name for other in cleaned):
            raise InvalidInput(_("The option %(name)s is listed twice.", name=name),
                               field=f"{field}.name")
        values: list[str] = []
        for value in option.get("values") or []:
            value = " ".join(str(value).split())
            if value and value not in values:
                values.append(value)
        if not values:
            raise InvalidInput(_("List the values of %(name)s, separated by commas.",
                                 name=name), field=f"{field}.values")
        if len(values) > MAX_OPTION_VALUES:
            raise InvalidInput(_("Use at most %(num)d values.", num=MAX_OPTION_VALUES),
                               field=f"{field}.values")
        cleaned.append({"name": name, "values": values})
    if len(cleaned) > MAX_OPTION_TYPES:
        raise InvalidInput(_("Use at most %(num)d options.", num=MAX_OPTION_TYPES),
                           field="option_types")
    if len(combinations(cleaned)) > MAX_VARIANTS:
        raise InvalidInput(_("These options make more than %(num)d variants.",
                             num=MAX_VARIANTS), field="option_types")
    return cleaned


def _check_price(index: int, variant: Mapping[str, Any]) -> None:
    field = f"variants.{index}"
    price = variant["price_minor"]
    if not 0 <= price <= MAX_PRICE_MINOR:
        raise InvalidInput(_("Enter a price from 0 to %(max)d (in cents).", max=MAX_PRICE_MINOR),
                           field=f"{field}.price_minor")
    compare_at = variant.get("compare_at_minor")
    if compare_at is not None and not price < compare_at <= MAX_PRICE_MINOR:
        raise InvalidInput(_("The compare-at price must be higher than the price."),
                           field=f"{field}.compare_at_minor")
    weight = variant.get("weight_grams")
    if weight is not None and not 0 <= weight <= MAX_WEIGHT_GRAMS:
        raise InvalidInput(_("Enter a weight from 0 to %(max)d grams.", max=MAX_WEIGHT_GRAMS),
                           field=f"{field}.weight_grams")


def _clean_variants(vendor_id: int, product: Product | None, option_types: list[dict],
                    variants: list[Mapping[str, Any]]) -> list[dict]:
    """The variants with their options checked against the option types and SKUs unique in
    the shop. A variant with an ``id`` (or the SKU of one of this product's variants) edits
    that variant; the others are new. The product's variants not listed are kept."""
    own = {v.id: v for v in (product.variants if product is not None else [])}
    own_by_sku = {v.sku: v for v in own.values()}
    allowed = {tuple(sorted(c.items())) for c in combinations(option_types)}
    names = {o["name"] for o in option_types}
    cleaned: list[dict] = []
    seen_skus: dict[str, int] = {}
    seen_options: set[tuple] = set()
    for index, variant in enumerate(variants):
        field = f"variants.{index}"
        sku = (variant.get("sku") or "").strip()
        if not sku:
            raise InvalidInput(_("Give every variant a SKU."), field=f"{field}.sku")
        variant_id = variant.get("id")
        if variant_id is not None and variant_id not in own:
            raise UnknownReference(_("This product has no such variant."), field=f"{field}.id")
        if variant_id is None and sku in own_by_sku:
            variant_id = own_by_sku[sku].id
        options = {option_key(str(k)): " ".join(str(v).split())
                   for k, v in (variant.get("options") or {}).items()}
        key = tuple(sorted(options.items()))
        if key not in allowed:
            raise InvalidInput(
                _("Choose one value of each option (%(names)s).", names=", ".join(sorted(names)))
                if names else _("Without options a product has a single variant."),
                field=f"{field}.options")
        if key in seen_options:
            raise InvalidInput(_("Two variants have the same options."), field=f"{field}.options")
        if sku in seen_skus:
            raise InvalidInput(_("The SKU %(sku)s is used twice.", sku=sku), field=f"{field}.sku")
        _check_price(index, variant)
        seen_skus[sku] = index
        seen_options.add(key)
        cleaned.append({"id": variant_id, "sku": sku, "price_minor": variant["price_minor"],
                        "compare_at_minor": variant.get("compare_at_minor"),
                        "weight_grams": variant.get("weight_grams"), "options": options})
    listed = {v["id"] for v in cleaned if v["id"] is not None}
    for kept in own.values():
        if kept.id in listed:
            continue
        kept_key = tuple(sorted((kept.attributes or {}).items()))
        if kept_key not in allowed:
            raise InvalidInput(_("Variant %(sku)s doesn't fit the options; list it with its "
                                 "new options.", sku=kept.sku), field="variants")
        if kept.sku in seen_skus or kept_key in seen_options:
            raise InvalidInput(_("Another variant of this product already has the SKU or the "
                                 "options of variant %(sku)s.", sku=kept.sku), field="variants")
    if not cleaned and not own:
        raise InvalidInput(_("Add at least one variant."), field="variants")
    taken = dict(db.session.execute(
        select(Variant.sku, Variant.id).where(Variant.vendor_id == vendor_id,
                                               Variant.sku.in_(list(seen_skus)))
    ).all())
    for sku, index in seen_skus.items():
        if sku in taken and taken[sku] != cleaned[index]["id"]:
            raise InvalidInput(_("The SKU %(sku)s is already used by another of your products.",
                                 sku=sku), field=f"variants.{index}.sku")
    return cleaned


def _clean_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    cleaned = {}
    for name, value in attributes.items():
        key, text = option_key(str(name)), " ".join(str(value).split())
        if key and text:
            cleaned[key[:MAX_NAME]] = text[:MAX_VALUE]
    if len(cleaned) > MAX_ATTRIBUTES:
        raise InvalidInput(_("Use at most %(num)d attributes.", num=MAX_ATTRIBUTES),
                           field="attributes")
    return cleaned


def validate(vendor_id: int, data: Mapping[str, Any], product: Product | None = None) -> dict:
    """The whole product, cleaned (sanitized descriptions, normalised option names) and
    checked against the database; raises InvalidInput naming the first field at fault."""
    _check_category(data["category_id"])
    option_types = clean_option_types(data.get("option_types") or [])
    return {
        "category_id": data["category_id"],
        "texts": _clean_texts(data["texts"]),
        "attributes": _clean_attributes(data.get("attributes") or {}),
        "option_types": option_types,
        "variants": _clean_variants(vendor_id, product, option_types, data.get("variants") or []),
    }


# --- Writing -------------------------------------------------------------------------------


def _free_slug(vendor_id: int, title: str, product_id: int | None = None) -> str:
    base = slugify(title)[:200]
    taken = set(db.session.scalars(
        select(Product.slug).where(Product.vendor_id == vendor_id,
                                   Product.slug.like(f"{base}%"),
                                   Product.id != (product_id or 0))
    ))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _apply(product: Product, clean: dict) -> None:
    """Write validated data onto ``product`` (its variants and translations too)."""
    with db.session.no_autoflush:  # a new product has no columns set until below
        currency = db.session.scalar(select(Vendor.default_currency)
                                     .where(Vendor.id == product.vendor_id))
    main = clean["texts"][default_locale()]
    product.category_id = clean["category_id"]
    product.title, product.description = main["title"], main["description"]
    product.attributes = clean["attributes"]
    product.option_types = clean["option_types"]
    existing = {t.locale: t for t in product.translations}
    for locale, text in clean["texts"].items():
        if locale == default_locale():
            continue
        translation = existing.pop(locale, None)
        if translation is None:
            translation = ProductTranslation(vendor_id=product.vendor_id, locale=locale)
            product.translations.append(translation)
        translation.title, translation.description = text["title"], text["description"]
    for stale in existing.values():
        product.translations.remove(stale)
        db.session.delete(stale)
    variants = {v.id: v for v in product.variants}
    for item in clean["variants"]:
        variant = variants.get(item["id"]) if item["id"] is not None else None
        if variant is None:
            variant = Variant(vendor_id=product.vendor_id, currency=currency)
            product.variants.append(variant)
        variant.sku, variant.price_minor = item["sku"], item["price_minor"]
        variant.compare_at_minor, variant.weight_grams = (item["compare_at_minor"],
                                                          item["weight_grams"])
        variant.attributes = item["options"]
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # Another request took one of the SKUs between the check and this write.
        raise InvalidInput(_("One of these SKUs was just taken by another product; reload "
                             "and try again."), field="variants") from None


def _expanded(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with ``generate_variants`` (SKU prefix, price...) turned into ``variants``:
    one per combination of the option types."""
    result = dict(data)
    defaults = result.pop("generate_variants", None)
    if defaults is not None:
        option_types = clean_option_types(result.get("option_types") or [])
        result["variants"] = generate_variants(option_types, **defaults)
    return result


def _owned(actor: Actor, product_id: int) -> Product:
    """The actor's product, its row locked until commit (SELECT ... FOR UPDATE): a
    moderator's decision and a vendor's change of the same product run one after the
    other, each seeing the other's result."""
    product = db.session.scalar(
        vendor_select(Product, actor.vendor_id).where(Product.id == product_id)
        .with_for_update().execution_options(populate_existing=True))
    if product is None:
        raise UnknownReference(_("There is no such product."), field="product_id")
    return product


def create_product(actor: Actor, data: Mapping[str, Any]) -> Product:
    """A new draft product with its variants and translations, priced in the vendor's
    currency. Raises PermissionDenied, InvalidInput."""
    actor.require(Permission.EDIT_CATALOG)
    clean = validate(actor.vendor_id, _expanded(data))
    product = Product(vendor_id=actor.vendor_id, status=ProductStatus.DRAFT,
                      slug=_free_slug(actor.vendor_id,
                                      clean["texts"][default_locale()]["title"]))
    product.variants = []
    product.translations = []
    db.session.add(product)
    _apply(product, clean)
    return product


def editable(product: Product) -> dict:
    """The product's editable data as its vendor sees it: a live product's pending revision
    over the live version."""
    base = snapshot(product)
    revision = pending_revision(product.id) if product.status == ProductStatus.APPROVED else None
    return overlay(base, revision.data) if revision is not None else base


def merged(product: Product, changes: Mapping[str, Any]) -> dict:
    """The product's editable data (:func:`editable`) with ``changes`` over it; ``texts``
    merge per locale and ``variants`` per variant. The variants in ``changes`` come first,
    in their order, so that an error's ``variants.<n>`` is the n-th one sent."""
    base = editable(product)
    result = {key: changes.get(key, base[key]) for key in EDITABLE}
    if "texts" in changes:
        result["texts"] = {**base["texts"], **changes["texts"]}
    if "variants" in changes:
        ids = {v["id"] for v in changes["variants"] if v.get("id") is not None}
        skus = {v.get("sku") for v in changes["variants"]}
        result["variants"] = [
            *changes["variants"],
            *(v for v in base["variants"]
              if (v["id"] is None or v["id"] not in ids) and v["sku"] not in skus),
        ]
    return result


def _options_key(options: Mapping[str, Any]) -> tuple:
    return tuple(sorted((option_key(str(k)), " ".join(str(v).split()))
                        for k, v in options.items()))


def _regenerated(product: Product, changes: Mapping[str, Any],
                 defaults: Mapping[str, Any]) -> list[dict]:
    """The variants ``generate_variants`` adds to ``product``: one per combination of the
    option types that no variant has yet. Existing variants are kept as they are (same id,
    SKU and price), never deleted."""
    current = merged(product, changes)
    taken = {_options_key(v.get("options") or {}) for v in current["variants"]}
    return [variant for variant in generate_variants(
                clean_option_types(current["option_types"]), **defaults)
            if _options_key(variant["options"]) not in taken]


def update_product(actor: Actor, product_id: int,
                   changes: Mapping[str, Any]) -> Product | ProductRevision:
    """Change a product; keys left out of ``changes`` keep their values. A draft or
    rejected product changes at once; a submitted one changes and goes back to draft (the
    moderator must see what they approve: the vendor sends it again). A live one keeps
    selling unchanged and the edit is stored as a pending revision holding only what differs
    from the live version (merged with an earlier pending one) for a moderator; that revision
    is returned. ``generate_variants`` adds the missing combinations and keeps the existing
    variants. Raises PermissionDenied, UnknownReference, InvalidInput, Conflict (an archived
    product: restore it first)."""
    actor.require(Permission.EDIT_CATALOG)
    product = _owned(actor, product_id)
    if product.status == ProductStatus.ARCHIVED:
        raise Conflict(_("This product is archived; restore it before editing."))
    changes = dict(changes)
    defaults = changes.pop("generate_variants", None)
    if defaults is not None:
        changes["variants"] = _regenerated(product, changes, defaults)
    clean = validate(actor.vendor_id, merged(product, changes), product)
    if product.status != ProductStatus.APPROVED:
        if product.status == ProductStatus.SUBMITTED:
            product.set_status(ProductStatus.DRAFT)
        _apply(product, clean)
        return product
    revision = pending_revision(product.id)
    if revision is None:
        revision = ProductRevision(vendor_id=product.vendor_id, product_id=product.id)
        db.session.add(revision)
    revision.data = changes_between(snapshot(product), clean)
    revision.created_by_id = actor.user_id
    db.session.flush()
    return revision


def revision_for_photos(actor: Actor, product: Product) -> ProductRevision:
    """The live ``product``'s pending revision, created without changes when there is none,
    so that a photo added to a live product reaches the review queue."""
    revision = pending_revision(product.id)
    if revision is None:
        revision = ProductRevision(vendor_id=product.vendor_id, product_id=product.id,
                                   data={}, created_by_id=actor.user_id)
        db.session.add(revision)
        db.session.flush()
    return revision


def apply_revision(revision: ProductRevision) -> Product:
    """Apply an approved revision's changes to its product as it is now (validated again: a
    SKU may have been taken since). Raises InvalidInput."""
    product = db.session.get(Product, revision.product_id)
    clean = validate(product.vendor_id, overlay(snapshot(product), revision.data), product)
    _apply(product, clean)
    return product


# --- The vendor's side of the lifecycle ----------------------------------------------------


def _move(product: Product, new: ProductStatus, message: str) -> None:
    try:
        product.set_status(new)
    except InvalidTransition:
        raise Conflict(message) from None


def submit_product(actor: Actor, product_id: int) -> Product:
    """Send a draft or rejected product for review. Raises PermissionDenied,
    UnknownReference, Conflict (wrong status, no variant)."""
    actor.require(Permission.EDIT_CATALOG)
    product = _owned(actor, product_id)
    if not product.variants:
        raise Conflict(_("Add at least one variant before sending the product for review."))
    _move(product, ProductStatus.SUBMITTED,
          _("Only drafts and rejected products can be sent for review."))
    product.rejection_reason = None
    db.session.flush()
    return product


def withdraw_product(actor: Actor, product_id: int) -> Product:
    """Take a submitted product back to draft. Raises PermissionDenied, UnknownReference,
    Conflict."""
    actor.require(Permission.EDIT_CATALOG)
    product = _owned(actor, product_id)
    _move(product, ProductStatus.DRAFT, _("Only products awaiting review can be withdrawn."))
    db.session.flush()
    return product


def archive_product(actor: Actor, product_id: int) -> Product:
    """Take a product off sale for good (a live one leaves the storefront); its pending
    revision is dropped. Raises PermissionDenied, UnknownReference, Conflict."""
    actor.require(Permission.ARCHIVE_CATALOG)
    product = _owned(actor, product_id)
    was_live = product.status == ProductStatus.APPROVED
    _move(product, ProductStatus.ARCHIVED, _("This product can't be archived now."))
    revision = pending_revision(product.id)
    if revision is not None:
        db.session.delete(revision)
    if was_live:
        queue_reindex_products([product.id])
    db.session.flush()
    return product


def restore_product(actor: Actor, product_id: int) -> Product:
    """Bring an archived product back as a draft (it goes through review again). Raises
    PermissionDenied, UnknownReference, Conflict."""
    actor.require(Permission.ARCHIVE_CATALOG)
    product = _owned(actor, product_id)
    _move(product, ProductStatus.DRAFT, _("Only archived products can be restored."))
    db.session.flush()
    return product


def products_select(vendor_id: int, *, status: ProductStatus | None = None):
    """The vendor's products, newest first, optionally of one status."""
    stmt = vendor_select(Product, vendor_id)
    if status is not None:
        stmt = stmt.where(Product.status == status)
    return stmt.order_by(Product.id.desc())


def count_by_status(vendor_id: int) -> dict[ProductStatus, int]:
    rows = db.session.execute(
        select(Product.status, func.count()).where(Product.vendor_id == vendor_id)
        .group_by(Product.status)
    ).all()
    return {status: count for status, count in rows}
