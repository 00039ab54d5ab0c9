"""API tokens in the portal: created with scopes, the secret shown once, revoked at once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from tests.factories import make_vendor
from tests.vendors.factories import make_person
from tests.vendors.pages import field_error, flashes, log_in, text
from vendors import tokens
from vendors.models import Vendor, VendorApiToken, VendorStatus


@pytest.fixture
def owner(app):
    owner = make_person("owner@example.com", name="Olga Owner")
    make_vendor("Nordic Goods", owner=owner)
    db.session.commit()
    return owner


def _secret(page: str) -> str | None:
    match = re.search(r'<code id="new-token-secret">([^<]+)</code>', page)
    return match.group(1) if match else None


def test_a_new_token_is_shown_once_and_stored_as_a_hash(client, post_form, owner):
    log_in(client, owner)

    created = post_form("/vendor/api-tokens", {"name": "Warehouse sync",
                                               "scopes": ["inventory:read", "inventory:write"]})
    secret = _secret(created.get_data(as_text=True))
    later = client.get("/vendor/api-tokens").get_data(as_text=True)

    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    assert "Copy it now. It won't be shown again" in text(created.get_data(as_text=True))
    token = db.session.scalars(select(VendorApiToken)).one()
    assert (token.name, token.scopes, token.created_by_id) == (
        "Warehouse sync", ["inventory:read", "inventory:write"], owner.id)
    assert token.token_hash == tokens.hash_secret(secret)
    assert _secret(later) is None and secret not in later
    assert f"<code>{token.prefix}…</code>" in later


def test_the_secret_works_until_the_token_is_revoked(client, post_form, owner):
    log_in(client, owner)
    secret = _secret(post_form("/vendor/api-tokens", {
        "name": "Feed", "scopes": "catalog:read"}).get_data(as_text=True))
    token = db.session.scalars(select(VendorApiToken)).one()
    headers = {"Authorization": f"Bearer {secret}"}

    before = client.get("/api/v1/vendor/products", headers=headers)
    revoked = post_form(f"/vendor/api-tokens/{token.id}/revoke")
    after = client.get("/api/v1/vendor/products", headers=headers)

    assert (before.status_code, revoked.status_code, after.status_code) == (200, 303, 401)
    page = client.get("/vendor/api-tokens").get_data(as_text=True)
    assert ("The token Feed was revoked; requests using it are refused from now on."
            in flashes(page))


def test_a_suspended_shops_tokens_are_refused_until_it_is_reinstated(client, post_form, owner):
    log_in(client, owner)
    secret = _secret(post_form("/vendor/api-tokens", {
        "name": "Feed", "scopes": "catalog:read"}).get_data(as_text=True))
    headers = {"Authorization": f"Bearer {secret}"}
    vendor = db.session.scalars(select(Vendor)).one()

    vendor.set_status(VendorStatus.SUSPENDED)
    db.session.commit()
    suspended = client.get("/api/v1/vendor/products", headers=headers)
    vendor.set_status(VendorStatus.APPROVED)
    db.session.commit()
    reinstated = client.get("/api/v1/vendor/products", headers=headers)

    assert suspended.status_code == 403
    assert suspended.json["error"]["message"] == (
        "This shop is suspended, so its API tokens don't work until the marketplace "
        "reinstates it. The vendor portal shows why.")
    assert reinstated.status_code == 200


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": "Sync"}, "scopes", "Choose at least one scope."),
    ({"name": "Sync", "scopes": "payouts:write"}, "scopes",
     "'payouts:write' is not a valid choice for this field."),
    ({"name": "", "scopes": "catalog:read"}, "name", "This field is required."),
    ({"name": "x" * 81, "scopes": "catalog:read"}, "name",
     "Field cannot be longer than 80 characters."),
])
def test_a_bad_token_request_is_refused_naming_the_field(client, post_form, owner, data, field,
                                                         message):
    log_in(client, owner)

    answer = post_form("/vendor/api-tokens", data)

    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), field) == message
    assert db.session.scalars(select(VendorApiToken)).all() == []
