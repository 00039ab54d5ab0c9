"""A live product's pending edit as data: only what it changes (:func:`changes_between`),
and that put back over the product as it is then (:func:`overlay`).

Storing the whole edited product would revert, on approval, whatever changed directly in the
meantime (an import's new prices); storing the difference applies only what the vendor
edited and what the moderator saw. Pure functions over ``vendors.catalog.snapshot`` data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EDITABLE = ("category_id", "texts", "attributes", "option_types", "variants")

VARIANT_FIELDS = ("sku", "price_minor", "compare_at_minor", "weight_grams", "options")


def overlay(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict:
    """``base`` (editable data) with a revision's ``changes`` (see :func:`changes_between`)
    over it: ``texts`` per locale, ``variants`` per field of the variant with that id (new
    variants, without an id, are added)."""
    result = {key: changes.get(key, base[key]) for key in EDITABLE}
    result["texts"] = {**base["texts"], **changes.get("texts", {})}
    edits = {v["id"]: v for v in changes.get("variants", []) if v.get("id") is not None}
    result["variants"] = [
        *({**v, **edits.get(v["id"], {})} for v in base["variants"]),
        *(v for v in changes.get("variants", []) if v.get("id") is None),
    ]
    return result


def changes_between(live: Mapping[str, Any], clean: Mapping[str, Any]) -> dict:
    """What ``clean`` (validated editable data) changes in ``live`` (its snapshot): only
    the keys, locales and variant fields that differ. A pending revision stores this, so
    approving it later leaves alone what changed directly since (an import's prices)."""
    diff: dict[str, Any] = {key: clean[key] for key in ("category_id", "attributes",
                                                          "option_types")
                            if clean[key] != live[key]}
    texts = {locale: text for locale, text in clean["texts"].items()
             if live["texts"].get(locale) != text}
    # A translation emptied by the vendor: written empty, which removes it.
    texts.update({locale: {"title": "", "description": ""}
                  for locale in live["texts"] if locale not in clean["texts"]})
    if texts:
        diff["texts"] = texts
    own = {v["id"]: v for v in live["variants"]}
    variants = []
    for variant in clean["variants"]:
        old = own.get(variant["id"]) if variant["id"] is not None else None
        if old is None:
            variants.append(dict(variant))
            continue
        changed = {key: variant[key] for key in VARIANT_FIELDS if variant[key] != old.get(key)}
        if changed:
            variants.append({"id": variant["id"], **changed})
    if variants:
        diff["variants"] = variants
    return diff
