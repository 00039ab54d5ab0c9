"""The storefront's HTML pages: home, category, search, product and vendor storefront.

URLs (stable; the benchmark and shared links rely on them):
``/``, ``/c/<category-slug>``, ``/search?q=...``, ``/p/<id>-<product-slug>``,
``/v/<vendor-slug>``; listings take the filters of ``buyers.schemas.CatalogQuerySchema``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from babel import Locale
from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from buyers import services
from buyers.browse import SORT_LABELS, Scope, attribute_label, build_listing, shorter_queries
from buyers.catalog import category_tree, current_rates, product_detail, vendor_profile
from buyers.page_cache import (
    anonymous_visitor,
    cached_for_anonymous,
    install,
    placeholder_tokens,
    with_visitor_token,
)
from buyers.prices import approximate
from buyers.product_page import product_view
from buyers.schemas import ATTRIBUTE_PREFIX, CatalogQuerySchema
from marketplace.cache import cached, memoized
from marketplace.i18n import current_currency
from marketplace.money import Money

bp = Blueprint("buyers", __name__, template_folder="templates")
# Cache hits for visitors without cookies are answered before Flask (buyers.page_cache).
bp.record_once(lambda state: install(state.app))

# Logos change rarely; a day of caching spares the database, and the ETag lets browsers
# revalidate cheaply after that.
LOGO_MAX_AGE = 86_400
SUGGESTED_PRODUCTS = 4

page_query = CatalogQuerySchema()


def _locale() -> str:
    """This request's locale as a string (asked for once per price on a page: kept in g)."""
    locale = g.get("_storefront_locale")
    if locale is None:
        locale = g._storefront_locale = str(get_locale())
    return locale


def _listing(args: dict[str, Any], scope: Scope, base_path: str, **kwargs: Any):
    # An anonymous visitor's page is cached whole; caching its listing too would only cost a
    # second Redis write.
    return build_listing(args, scope, tree=category_tree(), locale=_locale(),
                         currency=current_currency(), rates=current_rates(),
                         base_path=base_path, use_cache=not anonymous_visitor(), **kwargs)


def _category_url(slug: str) -> str:
    return url_for("buyers.category", slug=slug)


# Template globals and filters rather than a context processor: macros imported without
# context (and so compiled once) can use them.


@bp.app_template_global("storefront_nav")
def storefront_nav() -> Markup:
    """The header's category menu as HTML, rendered once per catalog generation, language and
    URL prefix in each process (it is on every page). Empty when the database is down, so
    the 503 page, which extends the same layout, still renders."""
    key = f"category-nav:{_locale()}:{request.script_root}"
    try:
        return memoized(key, lambda: Markup(render_template(
            "buyers/_category_nav.html", roots=category_tree().roots)))
    except SQLAlchemyError:
        return Markup("")


@bp.app_template_filter("country_name")
def country_name(code: str) -> str:
    """``{{ "DE"|country_name }}``: the country's name in the page's language."""
    return Locale.parse(_locale()).territories.get(code, code)


@bp.app_template_global("sort_labels")
def sort_labels() -> list[tuple[str, str]]:
    return [(sort.value, str(label)) for sort, label in SORT_LABELS.items()]


@bp.get("/")
@cached_for_anonymous("home")
def home() -> ResponseReturnValue:
    return render_template(
        "buyers/home.html",
        categories=services.root_categories(),
        products=services.featured_products(locale=_locale()),
        vendors=services.storefront_vendors(),
    )


def _fragment(name: str, parts: Any, template: str,
              context: Callable[[], dict[str, Any]]) -> Markup:
    """The page's main content, rendered by ``template`` with ``context()`` once per catalog
    generation for the same ``parts`` (the page's normalised arguments), language, currency
    and URL prefix, and kept in Redis (``marketplace.cache``). The layout around it, with
    everything that differs per visitor, is rendered per request; so is a CSRF token in the
    content (a form's ``{{ csrf_token() }}``): it is stored as a placeholder and filled in with
    this visitor's own."""
    if anonymous_visitor():  # the whole page is cached (buyers.page_cache): don't store twice
        return Markup(render_template(template, **context()))

    def render() -> str:
        with placeholder_tokens():
            return render_template(template, **context())

    raw = repr((parts, _locale(), current_currency(), request.script_root))
    key = hashlib.sha256(raw.encode()).hexdigest()[:40]
    return Markup(with_visitor_token(cached(f"page:{name}", key, render)))


def _page(title: str, content: Markup, *, description: str = "",
          description_locale: str = "") -> str:
    """The layout around ``content``; ``description`` is the page's meta description, in
    ``description_locale`` when that is not the page's language."""
    return render_template("buyers/_page.html", page_title=title, content=content,
                           page_description=description,
                           page_description_locale=description_locale)


@bp.get("/c/<slug>")
@cached_for_anonymous("category")
def category(slug: str) -> ResponseReturnValue:
    tree = category_tree()
    node = tree.by_slug.get(slug)
    if node is None:
        abort(404)
    args = page_query.load(request.args)
    content = _fragment("category", (node.id, sorted(args.items())), "buyers/category.html",
                        lambda: {"category": node, "breadcrumbs": tree.path(node.id),
                                 "listing": _listing(args, Scope(category=node),
                                                     url_for("buyers.category", slug=slug),
                                                     category_url=_category_url)})
    return _page(node.name, content)


@bp.get("/search")
@cached_for_anonymous("search")
def search() -> ResponseReturnValue:
    args = page_query.load(request.args)

    def context() -> dict[str, Any]:
        listing = _listing(args, Scope(), url_for("buyers.search"))
        suggestions: dict[str, Any] = {}
        if not listing.total:
            suggestions = {
                "queries": shorter_queries(args["q"]),
                "categories": category_tree().roots,
                "products": services.featured_products(SUGGESTED_PRODUCTS,
                                                       locale=_locale()),
            }
        return {"listing": listing, "suggestions": suggestions}

    content = _fragment("search", sorted(args.items()), "buyers/search.html", context)
    title = _("Search: %(q)s", q=args["q"]) if args["q"] else _("All products")
    return _page(title, content)


@bp.get("/p/<int:product_id>-<slug>")
@bp.get("/p/<int:product_id>")
@cached_for_anonymous("product")
def product(product_id: int, slug: str | None = None) -> ResponseReturnValue:
    # Title and description in the visitor's language where the vendor translated them; the
    # language is part of every cache key below, so no visitor gets another's text.
    detail = product_detail(product_id, _locale())
    if detail is None:
        abort(404)
    if slug != detail.slug:
        return redirect(url_for("buyers.product", product_id=detail.id, slug=detail.slug,
                                **request.args.to_dict(flat=False)), 301)
    # Only what picks a variant shapes the page; other parameters don't make new entries.
    choice = sorted((key, value[:100]) for key, value in request.args.items()
                    if key == "variant" or key.startswith(ATTRIBUTE_PREFIX))[:20]
    content = _fragment("product", (detail.id, choice), "buyers/product.html", lambda: {
        "product": detail,
        "view": product_view(detail, request.args, currency=current_currency(),
                             rates=current_rates(), locale=_locale()),
        "breadcrumbs": category_tree().path(detail.category_id),
    })
    return _page(detail.title, content, description=detail.summary,
                 description_locale=detail.description_locale)


@bp.get("/v/<slug>")
@cached_for_anonymous("vendor")
def vendor(slug: str) -> ResponseReturnValue:
    profile = vendor_profile(slug)
    if profile is None:
        abort(404)
    args = page_query.load(request.args)
    content = _fragment("vendor", (profile.id, sorted(args.items())), "buyers/vendor.html",
                        lambda: {"vendor": profile,
                                 "listing": _listing(args, Scope(vendor_id=profile.id),
                                                     url_for("buyers.vendor", slug=slug))})
    return _page(profile.name, content)


bp.add_app_template_global(attribute_label, "axis_label")


@bp.app_template_filter("money")
def money_filter(price: Money) -> str:
    """``{{ price|money }}``: the amount as the page's language writes it."""
    return _formatted(price.amount_minor, price.currency, _locale())


# Babel's formatting is the slowest part of a product card; the same few thousand prices
# recur on every page. A pure function of its arguments, so every process agrees.
@functools.lru_cache(maxsize=16_384)
def _formatted(amount_minor: int, currency: str, locale: str) -> str:
    return Money(amount_minor, currency).format(locale)


@bp.app_template_global("card_labels")
def card_labels() -> dict[str, str]:
    """A product card's words, translated once per page rather than once per card."""
    return {
        "from_price": _("from %(price)s"),
        "approximately": _("≈ %(price)s"),
        "in_stock": _("In stock"),
        "out_of_stock": _("Out of stock"),
        "out_of_five": _("out of 5 stars"),
        # A compare-at price struck through beside the price ("Was <del>€49.00</del>").
        "was": _("Was %(price)s"),
    }


@bp.app_template_global("product_path")
def product_path(product_id: int, slug: str) -> str:
    """``url_for("buyers.product", ...)`` without the URL map: a listing has dozens of
    these, and building each through the map costs more than the rest of the card."""
    return f"{request.script_root}/p/{int(product_id)}-{quote(slug, safe='')}"


@bp.app_template_filter("approximate")
def approximate_filter(price, currency: str | None = None):
    """``{{ price|approximate }}``: the price in the buyer's currency, or None."""
    return approximate(price, currency or current_currency(), current_rates())


@bp.get("/csrf-token")
def csrf_token() -> ResponseReturnValue:
    """This visitor's CSRF token, for the forms of a page the page cache served without one
    (``marketplace/static/csrf.js`` asks when a form is used). Starts the session that holds it."""
    response = jsonify(csrf_token=generate_csrf())
    response.cache_control.no_store = True
    return response


@bp.get("/vendors/<int:vendor_id>/logo")
def vendor_logo(vendor_id: int) -> ResponseReturnValue:
    logo = services.vendor_logo(vendor_id)
    if logo is None:
        abort(404)
    response = Response(logo.data, mimetype=logo.mime)
    response.set_etag(logo.etag)
    response.cache_control.public = True
    response.cache_control.max_age = LOGO_MAX_AGE
    return response.make_conditional(request)
