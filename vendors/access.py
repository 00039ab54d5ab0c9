"""Who may act for a vendor, and what each role or API token may do.

Every portal request works for one vendor: the member's current vendor (chosen with the
switcher when they belong to several) is loaded by :func:`vendor_member_required` into
``g.vendor``, ``g.membership`` and ``g.actor``. API requests get an :class:`Actor` built from
their token instead. Services receive the actor and call :meth:`Actor.require` for each
action; the role table below is the single place that says who may do what (the README's
"Vendor roles" table mirrors it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import abort, g, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from marketplace.extensions import db
from vendors.errors import PermissionDenied
from vendors.models import MemberRole, VendorMembership

# The session key holding the vendor a member of several vendors is working in.
SESSION_VENDOR_KEY = "vendor_id"


class Permission(enum.StrEnum):
    VIEW_INVENTORY = "view_inventory"
    ADJUST_STOCK = "adjust_stock"
    MANAGE_LOCATIONS = "manage_locations"
    MANAGE_THRESHOLDS = "manage_thresholds"
    VIEW_CATALOG = "view_catalog"
    EDIT_CATALOG = "edit_catalog"
    ARCHIVE_CATALOG = "archive_catalog"
    VIEW_STAFF = "view_staff"
    MANAGE_STAFF = "manage_staff"
    EDIT_PROFILE = "edit_profile"
    SET_VACATION = "set_vacation"
    EDIT_APPLICATION = "edit_application"
    VIEW_PAYOUTS = "view_payouts"
    MANAGE_PAYOUTS = "manage_payouts"
    MANAGE_TOKENS = "manage_tokens"
    IMPORT_CATALOG = "import_catalog"
    EXPORT_CATALOG = "export_catalog"
    VIEW_SHIPPING = "view_shipping"
    MANAGE_SHIPPING = "manage_shipping"
    VIEW_ORDERS = "view_orders"
    FULFIL_ORDERS = "fulfil_orders"
    REJECT_ORDERS = "reject_orders"


_EVERYONE = {
    Permission.VIEW_INVENTORY, Permission.ADJUST_STOCK, Permission.VIEW_CATALOG,
    Permission.EDIT_CATALOG, Permission.VIEW_STAFF, Permission.VIEW_SHIPPING,
    Permission.VIEW_ORDERS, Permission.FULFIL_ORDERS,
}
_MANAGERS = _EVERYONE | {
    Permission.ARCHIVE_CATALOG, Permission.MANAGE_LOCATIONS, Permission.MANAGE_THRESHOLDS,
    Permission.EDIT_PROFILE,
    Permission.SET_VACATION, Permission.VIEW_PAYOUTS, Permission.IMPORT_CATALOG,
    Permission.EXPORT_CATALOG, Permission.MANAGE_SHIPPING, Permission.REJECT_ORDERS,
}
ROLE_PERMISSIONS: dict[MemberRole, frozenset[Permission]] = {
    MemberRole.STAFF: frozenset(_EVERYONE),
    MemberRole.MANAGER: frozenset(_MANAGERS),
    MemberRole.OWNER: frozenset(Permission),
}

# API token scopes and what each allows; inventory:write includes reading inventory.
SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "inventory:read": frozenset({Permission.VIEW_INVENTORY}),
    "inventory:write": frozenset({
        Permission.VIEW_INVENTORY, Permission.ADJUST_STOCK, Permission.MANAGE_LOCATIONS,
        Permission.MANAGE_THRESHOLDS,
    }),
    "catalog:read": frozenset({Permission.VIEW_CATALOG}),
    "catalog:write": frozenset({
        Permission.VIEW_CATALOG, Permission.EDIT_CATALOG, Permission.ARCHIVE_CATALOG,
    }),
    "catalog:import": frozenset({
        Permission.VIEW_CATALOG, Permission.IMPORT_CATALOG, Permission.EXPORT_CATALOG,
    }),
    "orders:read": frozenset({Permission.VIEW_ORDERS}),
    "orders:write": frozenset({
        Permission.VIEW_ORDERS, Permission.FULFIL_ORDERS, Permission.REJECT_ORDERS,
    }),
}
SCOPES = tuple(SCOPE_PERMISSIONS)
SCOPE_LABELS = {
    "inventory:read": _l("Read stock locations, stock levels and movements"),
    "inventory:write": _l("Adjust stock, edit locations and low-stock thresholds "
                          "(includes reading inventory)"),
    "catalog:read": _l("Read products and variants"),
    "catalog:write": _l("Create and edit products, variants and images, submit them for "
                        "review, archive them (includes reading the catalog)"),
    "catalog:import": _l("Import and export products, variants and stock as CSV files "
                         "(includes reading products)"),
    "orders:read": _l("Read the shop's orders"),
    "orders:write": _l("Accept, reject and mark orders ready to ship (includes reading "
                       "orders)"),
}

ROLE_LABELS = {
    MemberRole.OWNER: _l("Owner"),
    MemberRole.MANAGER: _l("Manager"),
    MemberRole.STAFF: _l("Staff"),
}

# Why an action is refused, by permission: says who may do it instead.
_REFUSALS = {
    Permission.VIEW_INVENTORY: _l("You can't see this shop's inventory."),
    Permission.ADJUST_STOCK: _l("You can't adjust this shop's stock."),
    Permission.MANAGE_LOCATIONS: _l("Only owners and managers can add or edit stock locations."),
    Permission.MANAGE_THRESHOLDS: _l("Only owners and managers can change low-stock "
                                     "thresholds."),
    Permission.VIEW_CATALOG: _l("You can't see this shop's products."),
    Permission.EDIT_CATALOG: _l("You can't edit this shop's products."),
    Permission.ARCHIVE_CATALOG: _l("Only owners and managers can archive or restore "
                                   "products."),
    Permission.VIEW_STAFF: _l("You can't see this shop's team."),
    Permission.MANAGE_STAFF: _l("Only owners can invite people, change roles or remove "
                                "members."),
    Permission.EDIT_PROFILE: _l("Only owners and managers can edit the shop's profile."),
    Permission.SET_VACATION: _l("Only owners and managers can turn vacation mode on or off."),
    Permission.EDIT_APPLICATION: _l("Only owners can edit or resubmit the application."),
    Permission.VIEW_PAYOUTS: _l("Only owners and managers can see payout settings."),
    Permission.MANAGE_PAYOUTS: _l("Only owners can change payout settings."),
    Permission.MANAGE_TOKENS: _l("Only owners can see, create or revoke API tokens."),
    Permission.IMPORT_CATALOG: _l("Only owners and managers can import catalog files."),
    Permission.EXPORT_CATALOG: _l("Only owners and managers can export the catalog."),
    Permission.VIEW_SHIPPING: _l("You can't see this shop's shipping rates."),
    Permission.MANAGE_SHIPPING: _l("Only owners and managers can change shipping profiles "
                                   "and rates."),
    Permission.VIEW_ORDERS: _l("You can't see this shop's orders."),
    Permission.FULFIL_ORDERS: _l("You can't accept orders or mark them ready to ship."),
    Permission.REJECT_ORDERS: _l("Only owners and managers can reject an order."),
}


@dataclass(frozen=True)
class Actor:
    """Someone acting for one vendor: a member (``user_id``, ``role``) or an API token
    (``token_id``, ``scopes``). ``permissions`` is what they may do."""

    vendor_id: int
    permissions: frozenset[Permission]
    user_id: int | None = None
    role: MemberRole | None = None
    token_id: int | None = None
    scopes: tuple[str, ...] = field(default=())

    @classmethod
    def member(cls, membership: VendorMembership) -> Actor:
        return cls(vendor_id=membership.vendor_id, user_id=membership.user_id,
                   role=membership.role, permissions=ROLE_PERMISSIONS[membership.role])

    @classmethod
    def token(cls, vendor_id: int, token_id: int, scopes: list[str] | tuple[str, ...]) -> Actor:
        granted = frozenset().union(*(SCOPE_PERMISSIONS.get(s, frozenset()) for s in scopes))
        return cls(vendor_id=vendor_id, token_id=token_id, scopes=tuple(scopes),
                   permissions=granted)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise PermissionDenied (with who may do it instead) unless allowed."""
        if permission not in self.permissions:
            raise PermissionDenied(str(_REFUSALS[permission]))


def current_membership(user_id: int) -> VendorMembership | None:
    """The membership the user works in: the vendor picked with the switcher if they still
    belong to it, else their oldest membership."""
    memberships = db.session.scalars(
        db.select(VendorMembership)
        .where(VendorMembership.user_id == user_id)
        .order_by(VendorMembership.id)
    ).all()
    chosen = session.get(SESSION_VENDOR_KEY)
    for membership in memberships:
        if membership.vendor_id == chosen:
            return membership
    return memberships[0] if memberships else None


def vendor_member_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Members of a vendor only (others get 403); sets ``g.vendor``, ``g.membership`` and
    ``g.actor``. Views scope every query with ``g.vendor.id`` through ``vendor_select``."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        membership = current_membership(current_user.id)
        if membership is None:
            abort(403, description=_("The vendor portal is for sellers. To sell on this "
                                     "marketplace, apply first: /vendor/apply"))
        g.membership = membership
        g.vendor = membership.vendor
        g.actor = Actor.member(membership)
        return view(*args, **kwargs)

    return wrapped
