"""What each role may do in the portal, request by request, and the README's table of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from tests.factories import make_vendor
from tests.vendors.factories import (
    make_location,
    make_member,
    make_person,
    make_token,
    make_variant,
)
from tests.vendors.pages import log_in, text
from vendors.access import ROLE_PERMISSIONS, Permission
from vendors.models import MemberRole, VendorMembership

OWNER, MANAGER, STAFF = MemberRole.OWNER, MemberRole.MANAGER, MemberRole.STAFF
EVERYONE = {OWNER, MANAGER, STAFF}

# (action, method, path template, form data, roles allowed, message for the others)
ACTIONS = [
    ("see stock", "GET", "/vendor/stock", None, EVERYONE, None),
    ("see movements", "GET", "/vendor/stock/movements", None, EVERYONE, None),
    ("see a variant's stock", "GET", "/vendor/variants/{variant}", None, EVERYONE, None),
    ("adjust stock", "POST", "/vendor/variants/{variant}/adjust",
     {"location_id": "{location}", "reason": "received", "quantity": "1"}, EVERYONE, None),
    ("see locations", "GET", "/vendor/locations", None, EVERYONE, None),
    ("add a location", "POST", "/vendor/locations/new",
     {"name": "Depot", "country": "DE", "priority": "1"}, {OWNER, MANAGER},
     "Only owners and managers can add or edit stock locations."),
    ("edit a location", "GET", "/vendor/locations/{location}/edit", None, {OWNER, MANAGER},
     "Only owners and managers can add or edit stock locations."),
    ("set a variant's threshold", "POST", "/vendor/variants/{variant}/threshold",
     {"threshold": "2"}, {OWNER, MANAGER},
     "Only owners and managers can change low-stock thresholds."),
    ("set the default threshold", "POST", "/vendor/stock/default-threshold",
     {"threshold": "2"}, {OWNER, MANAGER},
     "Only owners and managers can change low-stock thresholds."),
    ("see products", "GET", "/vendor/products", None, EVERYONE, None),
    ("see the team", "GET", "/vendor/team", None, EVERYONE, None),
    ("invite", "POST", "/vendor/team/invite", {"email": "new@example.com", "role": "staff"},
     {OWNER}, "Only owners can invite people, change roles or remove members."),
    ("change a role", "POST", "/vendor/team/members/{target}/role", {"role": "manager"},
     {OWNER}, "Only owners can invite people, change roles or remove members."),
    ("remove a member", "POST", "/vendor/team/members/{target}/remove", {}, {OWNER},
     "Only owners can invite people, change roles or remove members."),
    ("see the shop", "GET", "/vendor/shop", None, EVERYONE, None),
    ("edit the profile", "POST", "/vendor/shop/profile",
     {"contact_name": "Ola", "contact_email": "ola@example.com"}, {OWNER, MANAGER},
     "Only owners and managers can edit the shop's profile."),
    ("turn on vacation", "POST", "/vendor/shop/vacation", {"on_vacation": "y"},
     {OWNER, MANAGER}, "Only owners and managers can turn vacation mode on or off."),
    ("edit the application", "GET", "/vendor/shop/application", None, {OWNER},
     "Only owners can edit or resubmit the application."),
    ("see payouts", "GET", "/vendor/payouts", None, {OWNER, MANAGER},
     "Only owners and managers can see payout settings."),
    ("connect payouts", "POST", "/vendor/payouts/connect", {}, {OWNER},
     "Only owners can change payout settings."),
    ("change the payout currency", "POST", "/vendor/payouts/currency",
     {"payout_currency": "USD"}, {OWNER}, "Only owners can change payout settings."),
    ("see API tokens", "GET", "/vendor/api-tokens", None, {OWNER},
     "Only owners can see, create or revoke API tokens."),
    ("create an API token", "POST", "/vendor/api-tokens",
     {"name": "Sync", "scopes": "inventory:read"}, {OWNER},
     "Only owners can see, create or revoke API tokens."),
    ("revoke an API token", "POST", "/vendor/api-tokens/{token}/revoke", {}, {OWNER},
     "Only owners can see, create or revoke API tokens."),
]


@pytest.fixture
def shop(app):
    vendor = make_vendor("Nordic Goods", owner=make_person("owner@example.com"))
    members = {role: make_member(vendor, role) for role in (MANAGER, STAFF)}
    owner = db.session.scalars(select(VendorMembership)).first().user
    target = make_member(vendor, STAFF, email="target@example.com")
    ids = {
        "variant": make_variant(vendor).id,
        "location": make_location(vendor).id,
        "target": db.session.scalars(select(VendorMembership.id).where(
            VendorMembership.user_id == target.id)).one(),
        "token": make_token(vendor)[0].id,
    }
    db.session.commit()
    return {OWNER: owner, **members}, ids


@pytest.mark.parametrize("role", [OWNER, MANAGER, STAFF], ids=lambda r: r.value)
@pytest.mark.parametrize(("action", "method", "path", "data", "allowed", "refusal"), ACTIONS,
                         ids=[a[0] for a in ACTIONS])
def test_each_role_may_do_what_the_table_says(client, post_form, shop, role, action, method,
                                              path, data, allowed, refusal):
    users, ids = shop
    log_in(client, users[role])
    url = path.format(**ids)

    if method == "GET":
        answer = client.get(url)
    else:
        answer = post_form(url, {k: v.format(**ids) for k, v in (data or {}).items()})

    if role in allowed:
        assert answer.status_code in (200, 201, 303), (action, answer.status_code)
    else:
        assert answer.status_code == 403, action
        assert refusal in text(answer.get_data(as_text=True))


def test_the_navigation_only_offers_what_the_role_may_open(client, shop):
    users, _ids = shop
    links = {}
    for role in (OWNER, MANAGER, STAFF):
        log_in(client, users[role])
        page = client.get("/vendor/").get_data(as_text=True)
        nav = re.search(r'<ul class="categories admin-nav portal-nav">(.*?)</ul>', page, re.S)
        links[role] = re.findall(r'href="([^"]+)"', nav.group(1))

    assert "/vendor/api-tokens" in links[OWNER] and "/vendor/payouts" in links[OWNER]
    assert "/vendor/payouts" in links[MANAGER] and "/vendor/api-tokens" not in links[MANAGER]
    assert not {"/vendor/payouts", "/vendor/api-tokens"} & set(links[STAFF])
    assert "/vendor/stock" in links[STAFF] and "/vendor/team" in links[STAFF]


def test_the_readme_lists_what_each_role_may_do():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = {}
    for line in readme.splitlines():
        match = re.match(r"\|.*\(`(\w+)`\)\s*\|(.*)\|\s*$", line)
        if match:
            marks = [cell.strip() for cell in match.group(2).split("|")]
            table[Permission(match.group(1))] = {
                role for role, mark in zip((OWNER, MANAGER, STAFF), marks, strict=True)
                if mark == "✓"}

    assert table == {permission: {role for role in (OWNER, MANAGER, STAFF)
                                  if permission in ROLE_PERMISSIONS[role]}
                     for permission in Permission}
