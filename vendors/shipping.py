"""Vendors' shipping rates: profiles (a zone of countries, handling days) with their methods
(flat or by weight, free above an items subtotal), and the quote the checkout asks for.

Amounts are integer minor units of the method's currency, which is the vendor's own
(``Vendor.default_currency`` when the method was created). Input is loaded through the
schemas in ``vendors.shipping_schemas`` (shape and bounds); these services check the rules
again (role, ownership, bounds in the vendor's currency), flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Select, select

from marketplace import fx
from marketplace.extensions import db
from marketplace.money import Money, currency_exponent
from marketplace.scoping import vendor_select
from vendors.access import Actor, Permission
from vendors.countries import country_codes
from vendors.errors import InvalidInput, UnknownReference
from vendors.models import Vendor
from vendors.shipping_models import RateKind, ShippingMethod, ShippingProfile

MAX_NAME = 120
MAX_HANDLING_DAYS = 90
# No shipping rate or free-over threshold is above this many major units of any currency
# (100,000 EUR, USD, or JPY): a typo, not a price.
MAX_AMOUNT_MAJOR = 100_000
GRAMS_PER_KG = 1_000


def max_amount_minor(currency: str) -> int:
    """The largest rate or threshold accepted in ``currency``, in its minor units."""
    return MAX_AMOUNT_MAJOR * 10 ** currency_exponent(currency)


@dataclass(frozen=True)
class ProfileInput:
    name: str
    countries: tuple[str, ...]
    handling_days: int


@dataclass(frozen=True)
class MethodInput:
    name: str
    kind: RateKind
    base_minor: int
    per_kg_minor: int
    free_over_minor: int | None
    active: bool = True


@dataclass(frozen=True)
class ShippingOption:
    """One way a vendor can ship a parcel to the destination, priced for that parcel."""

    method_id: int
    name: str
    price: Money
    handling_days: int


# --- Reading -------------------------------------------------------------------------------


def profiles_select(vendor_id: int) -> Select[tuple[ShippingProfile]]:
    """The vendor's profiles by name."""
    return vendor_select(ShippingProfile, vendor_id).order_by(ShippingProfile.name,
                                                              ShippingProfile.id)


def covered_countries(vendor_id: int) -> set[str]:
    """Every destination one of the vendor's profiles with an active method serves."""
    rows = db.session.scalars(
        vendor_select(ShippingProfile, vendor_id).where(ShippingProfile.methods.any(
            ShippingMethod.active.is_(True)))
    ).all()
    return {code for profile in rows for code in profile.countries}


def method_price(method: ShippingMethod, weight_grams: int, items: Money) -> Money:
    """What ``method`` charges for a parcel of ``weight_grams`` whose items cost ``items``
    (already in the method's currency): base, plus per started kilogram for weight rates,
    nothing from the free-over threshold on."""
    if method.free_over_minor is not None and items.amount_minor >= method.free_over_minor:
        return Money.zero(method.currency)
    amount = method.base_minor
    if method.kind == RateKind.WEIGHT:
        started_kg = -(-max(weight_grams, 0) // GRAMS_PER_KG)
        amount += started_kg * method.per_kg_minor
    return Money(amount, method.currency)


def quote_options(vendor_id: int, country: str, weight_grams: int, items_minor: int,
                  currency: str, *, rates: dict[str, int] | None = None
                  ) -> list[ShippingOption]:
    """The vendor's shipping options to ``country`` for one parcel, cheapest first.

    ``items_minor`` is the parcel's items subtotal in ``currency``; it is converted to each
    method's currency (with ``rates``, default the current table) to compare with the
    free-over threshold. Only active methods of profiles listing ``country`` are offered; an
    empty list means the vendor doesn't ship there.

    Raises marketplace.fx.MissingRate when a needed exchange rate is missing.
    """
    country = (country or "").upper()
    methods = db.session.execute(
        vendor_select(ShippingMethod, vendor_id)
        .join(ShippingProfile, ShippingProfile.id == ShippingMethod.profile_id)
        .where(ShippingMethod.active.is_(True))
        .add_columns(ShippingProfile.countries, ShippingProfile.handling_days)
        .order_by(ShippingMethod.id)
    ).all()
    items = Money(items_minor, currency)
    options = []
    for method, countries, handling_days in methods:
        if country not in countries:
            continue
        if items.currency != method.currency and rates is None:
            rates = fx.load_rates()
        in_method_currency = fx.convert(items, method.currency, rates or {})
        options.append(ShippingOption(
            method_id=method.id, name=method.name,
            price=method_price(method, weight_grams, in_method_currency),
            handling_days=handling_days,
        ))
    return sorted(options, key=lambda o: (o.price.amount_minor, o.handling_days, o.name,
                                          o.method_id))


# --- Profiles ------------------------------------------------------------------------------


def _check_profile(data: ProfileInput) -> ProfileInput:
    name = " ".join(data.name.split())
    if not name:
        raise InvalidInput(_("Name the profile, e.g. \"Europe\"."), field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_NAME), field="name")
    countries = tuple(sorted({code.upper() for code in data.countries}))
    unknown = [code for code in countries if code not in country_codes()]
    if not countries or unknown:
        raise InvalidInput(_("Choose at least one country (two-letter ISO codes such as DE)."),
                           field="countries")
    if not 0 <= data.handling_days <= MAX_HANDLING_DAYS:
        raise InvalidInput(_("Use a number of days from 0 to %(num)d.", num=MAX_HANDLING_DAYS),
                           field="handling_days")
    return ProfileInput(name, countries, data.handling_days)


def _own_profile(actor: Actor, profile_id: int) -> ShippingProfile:
    profile = db.session.scalar(
        vendor_select(ShippingProfile, actor.vendor_id).where(ShippingProfile.id == profile_id))
    if profile is None:
        raise UnknownReference(_("There is no such shipping profile."), field="profile_id")
    return profile


def create_profile(actor: Actor, data: ProfileInput) -> ShippingProfile:
    """Raises PermissionDenied, InvalidInput (``name``, ``countries``, ``handling_days``)."""
    actor.require(Permission.MANAGE_SHIPPING)
    data = _check_profile(data)
    profile = ShippingProfile(vendor_id=actor.vendor_id, name=data.name,
                              countries=list(data.countries), handling_days=data.handling_days)
    db.session.add(profile)
    db.session.flush()
    return profile


def update_profile(actor: Actor, profile_id: int, data: ProfileInput) -> ShippingProfile:
    """Raises PermissionDenied, UnknownReference, InvalidInput."""
    actor.require(Permission.MANAGE_SHIPPING)
    profile = _own_profile(actor, profile_id)
    data = _check_profile(data)
    profile.name, profile.countries = data.name, list(data.countries)
    profile.handling_days = data.handling_days
    db.session.flush()
    return profile


def delete_profile(actor: Actor, profile_id: int) -> str:
    """Delete the profile and its methods; returns its name. Placed orders keep their own
    copy of the method they chose, so nothing else changes.

    Raises PermissionDenied, UnknownReference.
    """
    actor.require(Permission.MANAGE_SHIPPING)
    profile = _own_profile(actor, profile_id)
    name = profile.name
    for method in list(profile.methods):
        db.session.delete(method)
    db.session.delete(profile)
    db.session.flush()
    return name


# --- Methods -------------------------------------------------------------------------------


def _check_method(data: MethodInput, currency: str) -> MethodInput:
    name = " ".join(data.name.split())
    if not name:
        raise InvalidInput(_("Name the method, e.g. \"Standard\"."), field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(_("Use at most %(num)d characters.", num=MAX_NAME), field="name")
    if data.kind not in RateKind:
        raise InvalidInput(_("Choose flat or by weight."), field="kind")
    top = max_amount_minor(currency)
    amounts = {"base_minor": data.base_minor, "per_kg_minor": data.per_kg_minor,
               "free_over_minor": data.free_over_minor}
    for field, amount in amounts.items():
        if amount is not None and not 0 <= amount <= top:
            raise InvalidInput(_("Use an amount from 0 to %(max)s.",
                                 max=Money(top, currency).format()), field=field)
    per_kg = data.per_kg_minor if data.kind == RateKind.WEIGHT else 0
    return MethodInput(name, RateKind(data.kind), data.base_minor, per_kg,
                       data.free_over_minor, data.active)


def _own_method(actor: Actor, method_id: int) -> ShippingMethod:
    method = db.session.scalar(
        vendor_select(ShippingMethod, actor.vendor_id).where(ShippingMethod.id == method_id))
    if method is None:
        raise UnknownReference(_("There is no such shipping method."), field="method_id")
    return method


def create_method(actor: Actor, profile_id: int, data: MethodInput) -> ShippingMethod:
    """A method of the profile, priced in the vendor's currency.

    Raises PermissionDenied, UnknownReference (``profile_id``), InvalidInput (``name``,
    ``kind``, ``base_minor``, ``per_kg_minor``, ``free_over_minor``).
    """
    actor.require(Permission.MANAGE_SHIPPING)
    profile = _own_profile(actor, profile_id)
    currency = db.session.scalar(select(Vendor.default_currency)
                                 .where(Vendor.id == actor.vendor_id))
    data = _check_method(data, currency)
    method = ShippingMethod(
        vendor_id=actor.vendor_id, profile_id=profile.id, name=data.name, kind=data.kind,
        currency=currency, base_minor=data.base_minor, per_kg_minor=data.per_kg_minor,
        free_over_minor=data.free_over_minor, active=data.active,
    )
    db.session.add(method)
    db.session.flush()
    return method


def update_method(actor: Actor, method_id: int, data: MethodInput) -> ShippingMethod:
    """Raises PermissionDenied, UnknownReference, InvalidInput (as create_method)."""
    actor.require(Permission.MANAGE_SHIPPING)
    method = _own_method(actor, method_id)
    data = _check_method(data, method.currency)
    method.name, method.kind, method.active = data.name, data.kind, data.active
    method.base_minor, method.per_kg_minor = data.base_minor, data.per_kg_minor
    method.free_over_minor = data.free_over_minor
    db.session.flush()
    return method


def delete_method(actor: Actor, method_id: int) -> str:
    """Returns the deleted method's name. Raises PermissionDenied, UnknownReference."""
    actor.require(Permission.MANAGE_SHIPPING)
    method = _own_method(actor, method_id)
    name = method.name
    db.session.delete(method)
    db.session.flush()
    return name
