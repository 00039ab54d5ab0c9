"""Countries a shop or a warehouse can be in: ISO 3166 alpha-2 codes, names from Babel."""

from __future__ import annotations

import functools

from babel import Locale
from flask_babel import get_locale

# Babel lists a few codes that are not countries (the EU, the eurozone, the UN, "unknown").
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"})


@functools.cache
def country_codes() -> frozenset[str]:
    return frozenset(code for code in Locale("en").territories
                     if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES)


def country_choices() -> list[tuple[str, str]]:
    """(code, name) pairs in the visitor's language, sorted by name."""
    names = (get_locale() or Locale("en")).territories
    return sorted(((code, names.get(code, code)) for code in country_codes()),
                  key=lambda pair: pair[1])


def country_name(code: str) -> str:
    return (get_locale() or Locale("en")).territories.get(code, code)
