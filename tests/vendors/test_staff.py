"""The team: inviting by email, accepting, roles, removal, the last owner, the shop switcher."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import OutboxJob
from tests.factories import PASSWORD, make_vendor
from tests.vendors.factories import make_member, make_person
from tests.vendors.pages import field_error, flashes, log_in, text
from vendors import staff
from vendors.access import Actor
from vendors.errors import Conflict
from vendors.models import MemberRole, VendorInvitation, VendorMembership


@pytest.fixture
def team(app):
    owner = make_person("olga@example.com", name="Olga Owner")
    vendor = make_vendor("Nordic Goods", owner=owner)
    db.session.commit()
    return owner, vendor


def _invitation_email() -> tuple[str, str, str]:
    job = db.session.scalars(select(OutboxJob).where(OutboxJob.queue == "email")).one()
    return job.args[0], job.args[1], job.args[2]


def _link(body: str) -> str:
    match = re.search(r"http://localhost(/vendor/team/join/\S+)", body)
    assert match, body
    return match.group(1)


def _members(vendor) -> dict[str, MemberRole]:
    return {m.user.email: m.role for m in db.session.scalars(
        select(VendorMembership).where(VendorMembership.vendor_id == vendor.id))}


def _invite(post_form, email: str, role: str = "staff"):
    return post_form("/vendor/team/invite", {"email": email, "role": role})


def test_an_owner_invites_by_email_and_the_invitee_accepts(client, post_form, team):
    owner, vendor = team
    log_in(client, owner)

    sent = _invite(post_form, "Sam@Example.com", "manager")
    to, subject, body = _invitation_email()
    sam = make_person("sam@example.com", name="Sam Stock")
    db.session.commit()
    log_in(client, sam)
    invitation_page = client.get(_link(body))
    accepted = post_form(_link(body))

    assert sent.status_code == 303
    assert (to, subject) == ("sam@example.com", "You're invited to join Nordic Goods")
    assert ("Olga Owner invited you to help run Nordic Goods on the marketplace (role: Manager)."
            in body)
    assert "You are invited to help run Nordic Goods (role: Manager)." in text(
        invitation_page.get_data(as_text=True))
    assert accepted.status_code == 303 and accepted.headers["Location"] == "/vendor/"
    assert _members(vendor) == {"olga@example.com": MemberRole.OWNER,
                                "sam@example.com": MemberRole.MANAGER}
    # The link is used up.
    assert client.get(_link(body)).status_code == 410


def test_the_invitation_stores_only_a_hash_of_the_link(post_form, client, team):
    owner, vendor = team
    log_in(client, owner)

    _invite(post_form, "sam@example.com")

    token = _link(_invitation_email()[2]).rsplit("/", 1)[1]
    stored = db.session.scalars(select(VendorInvitation)).one()
    assert stored.token_hash == staff.hash_token(token) and token not in stored.token_hash


def test_someone_logged_in_with_another_email_cannot_accept(client, post_form, team):
    owner, vendor = team
    log_in(client, owner)
    _invite(post_form, "sam@example.com")
    link = _link(_invitation_email()[2])
    mallory = make_person("mallory@example.com")
    db.session.commit()
    log_in(client, mallory)

    page = client.get(link)
    accepted = post_form(link)

    assert page.status_code == 403
    assert "This invitation was sent to sam@example.com" in text(page.get_data(as_text=True))
    assert accepted.status_code == 403
    assert "mallory@example.com" not in _members(vendor)


def test_an_anonymous_visitor_is_asked_to_log_in_with_the_invited_address(client, post_form,
                                                                           team):
    owner, vendor = team
    log_in(client, owner)
    _invite(post_form, "new.person@example.com")
    link = _link(_invitation_email()[2])
    client.post("/logout", data={"csrf_token": ""})
    with client.session_transaction() as session:
        session.clear()

    page = client.get(link).get_data(as_text=True)

    assert "Log in with that address to accept it." in text(page)
    assert f'href="/login?next={link}"' in page
    assert "No account yet? Create one with new.person@example.com" in text(page)


def test_registering_with_the_invited_address_then_accepting(client, post_form, team):
    owner, vendor = team
    log_in(client, owner)
    _invite(post_form, "new.person@example.com")
    link = _link(_invitation_email()[2])
    with client.session_transaction() as session:
        session.clear()

    post_form("/register", {"name": "New Person", "email": "new.person@example.com",
                            "password": PASSWORD, "confirm": PASSWORD})
    accepted = post_form(link)

    assert accepted.status_code == 303
    assert _members(vendor)["new.person@example.com"] == MemberRole.STAFF


def test_expired_and_withdrawn_invitations_cannot_be_used(client, post_form, team):
    owner, vendor = team
    log_in(client, owner)
    _invite(post_form, "late@example.com")
    late_link = _link(_invitation_email()[2])
    db.session.scalars(select(VendorInvitation)).one().expires_at = (
        dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    db.session.commit()
    db.session.execute(db.delete(OutboxJob))
    db.session.commit()
    _invite(post_form, "withdrawn@example.com")
    withdrawn_link = _link(_invitation_email()[2])
    withdrawn = db.session.scalars(select(VendorInvitation).where(
        VendorInvitation.email == "withdrawn@example.com")).one()
    post_form(f"/vendor/team/invitations/{withdrawn.id}/revoke")

    for link in (late_link, withdrawn_link):
        page = client.get(link)
        assert page.status_code == 410
        assert "This invitation link can't be used" in text(page.get_data(as_text=True))


def test_inviting_again_replaces_the_earlier_link(client, post_form, team):
    owner, vendor = team
    log_in(client, owner)
    _invite(post_form, "sam@example.com")
    first = _link(_invitation_email()[2])
    db.session.execute(db.delete(OutboxJob))
    db.session.commit()

    _invite(post_form, "sam@example.com", "manager")
    second = _link(_invitation_email()[2])
    log_in(client, make_person("sam@example.com"))
    db.session.commit()

    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200


@pytest.mark.parametrize(("email", "role", "field", "message"), [
    ("not an email", "staff", "email", "Enter a valid email address."),
    ("olga@example.com", "staff", "email", "olga@example.com is already a member of this shop."),
    ("sam@example.com", "emperor", "role", "Not a valid choice."),
])
def test_a_bad_invitation_is_refused_naming_the_field(client, post_form, team, email, role,
                                                      field, message):
    owner, vendor = team
    log_in(client, owner)

    answer = _invite(post_form, email, role)

    assert answer.status_code in (409, 422)
    assert field_error(answer.get_data(as_text=True), field) == message
    assert db.session.scalars(select(VendorInvitation)).all() == []


def test_owners_change_roles_and_remove_members(client, post_form, team):
    owner, vendor = team
    sam = make_member(vendor, MemberRole.STAFF, email="sam@example.com", name="Sam Stock")
    kim = make_member(vendor, MemberRole.STAFF, email="kim@example.com", name="Kim Keeper")
    db.session.commit()
    log_in(client, owner)
    sam_membership = db.session.scalars(select(VendorMembership).where(
        VendorMembership.user_id == sam.id)).one()
    kim_membership = db.session.scalars(select(VendorMembership).where(
        VendorMembership.user_id == kim.id)).one()

    promoted = post_form(f"/vendor/team/members/{sam_membership.id}/role", {"role": "manager"})
    removed = post_form(f"/vendor/team/members/{kim_membership.id}/remove")

    assert (promoted.status_code, removed.status_code) == (303, 303)
    assert _members(vendor) == {"olga@example.com": MemberRole.OWNER,
                                "sam@example.com": MemberRole.MANAGER}
    page = client.get("/vendor/team").get_data(as_text=True)
    assert "Kim Keeper was removed from the team." in flashes(page)


def test_a_shop_never_loses_its_last_owner(client, post_form, team):
    owner, vendor = team
    log_in(client, owner)
    membership = db.session.scalars(select(VendorMembership)).one()

    demoted = post_form(f"/vendor/team/members/{membership.id}/role", {"role": "manager"})
    removed = post_form(f"/vendor/team/members/{membership.id}/remove")

    for answer in (demoted, removed):
        assert answer.status_code == 409
        assert ("A shop needs at least one owner. Make someone else an owner first."
                in flashes(answer.get_data(as_text=True)))
    assert _members(vendor) == {"olga@example.com": MemberRole.OWNER}


def test_with_two_owners_one_may_step_down(team):
    owner, vendor = team
    second = make_member(vendor, MemberRole.OWNER, email="otto@example.com")
    db.session.commit()
    olga = db.session.scalars(select(VendorMembership).where(
        VendorMembership.user_id == owner.id)).one()
    otto = db.session.scalars(select(VendorMembership).where(
        VendorMembership.user_id == second.id)).one()

    staff.change_role(Actor.member(olga), olga.id, "staff")
    db.session.commit()

    with pytest.raises(Conflict):
        staff.remove_member(Actor.member(otto), otto.id)
    assert _members(vendor) == {"olga@example.com": MemberRole.STAFF,
                                "otto@example.com": MemberRole.OWNER}


def test_a_member_of_two_shops_switches_between_them(client, post_form, team):
    owner, vendor = team
    other = make_vendor("Second Shop")
    db.session.add(VendorMembership(user_id=owner.id, vendor_id=other.id,
                                    role=MemberRole.STAFF))
    stranger = make_vendor("Stranger Shop")
    db.session.commit()
    log_in(client, owner)

    before = client.get("/vendor/").get_data(as_text=True)
    switched = post_form("/vendor/switch", {"vendor_id": other.id})
    after = client.get("/vendor/").get_data(as_text=True)
    foreign = post_form("/vendor/switch", {"vendor_id": stranger.id})

    assert "<h1>Nordic Goods</h1>" in before
    assert switched.status_code == 303
    assert "<h1>Second Shop</h1>" in after and "You are now working in Second Shop." in after
    assert foreign.status_code == 404
    assert "<h1>Second Shop</h1>" in client.get("/vendor/").get_data(as_text=True)


def test_the_team_page_lists_members_and_pending_invitations(client, post_form, team):
    owner, vendor = team
    make_member(vendor, MemberRole.MANAGER, email="mia@example.com", name="Mia Manager")
    db.session.commit()
    log_in(client, owner)
    _invite(post_form, "sam@example.com")

    page = text(client.get("/vendor/team").get_data(as_text=True))

    assert page.index("Olga Owner") < page.index("Mia Manager")
    assert "sam@example.com Staff" in page
