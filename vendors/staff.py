"""A vendor's team: members with roles, and emailed invitations to join.

Owners invite people by email with a role; the email carries a link with a secret token (only
its SHA-256 is stored). The invitee opens it while logged in with that email address, or
registers with it first, and accepts. Owners change roles and remove members, but a vendor
never loses its last owner: those changes lock the vendor's row and count owners first, so
two owners demoting each other at the same moment can't both succeed.

Functions flush and never commit; the caller commits (or rolls back after an exception).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import Select, case, func, select, update

from marketplace.auth.services import InvalidEmail, normalise_email
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.mail import queue_email
from marketplace.models import User
from marketplace.scoping import vendor_select
from vendors.access import ROLE_LABELS, Actor, Permission
from vendors.errors import Conflict, InvalidInput, PermissionDenied, UnknownReference
from vendors.models import MemberRole, Vendor, VendorInvitation, VendorMembership

INVITATION_VALID_FOR = dt.timedelta(days=7)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def members_select(vendor_id: int) -> Select[tuple[VendorMembership]]:
    """The vendor's memberships with their users, owners first, then by name."""
    order = {MemberRole.OWNER: 0, MemberRole.MANAGER: 1, MemberRole.STAFF: 2}
    return (vendor_select(VendorMembership, vendor_id)
            .join(User, User.id == VendorMembership.user_id)
            .order_by(case(order, value=VendorMembership.role), User.name,
                      VendorMembership.id))


def pending_invitations(vendor_id: int) -> list[VendorInvitation]:
    now = utcnow()
    return list(db.session.scalars(
        vendor_select(VendorInvitation, vendor_id)
        .where(VendorInvitation.accepted_at.is_(None), VendorInvitation.revoked_at.is_(None),
               VendorInvitation.expires_at > now)
        .order_by(VendorInvitation.created_at.desc(), VendorInvitation.id.desc())
    ))


def invite_member(actor: Actor, *, email: str, role: Any) -> VendorInvitation:
    """Invite ``email`` to join the actor's vendor as ``role`` and email them the link.

    A pending invitation to the same address is replaced (its link stops working). Raises
    PermissionDenied, InvalidInput (``email``, ``role``), Conflict (``email``) when the
    address already belongs to a member.
    """
    actor.require(Permission.MANAGE_STAFF)
    try:
        email = normalise_email(email)
    except InvalidEmail as error:
        raise InvalidInput(error.message, field="email") from error
    role = _role(role)
    existing_member = db.session.scalar(
        vendor_select(VendorMembership, actor.vendor_id)
        .join(User, User.id == VendorMembership.user_id)
        .where(User.email == email)
    )
    if existing_member is not None:
        raise Conflict(_("%(email)s is already a member of this shop.", email=email),
                       field="email")
    now = utcnow()
    db.session.execute(
        update(VendorInvitation)
        .where(VendorInvitation.vendor_id == actor.vendor_id, VendorInvitation.email == email,
               VendorInvitation.accepted_at.is_(None), VendorInvitation.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    token = secrets.token_urlsafe(32)
    invitation = VendorInvitation(
        vendor_id=actor.vendor_id, email=email, role=role, token_hash=hash_token(token),
        invited_by_id=actor.user_id, created_at=now, expires_at=now + INVITATION_VALID_FOR,
    )
    db.session.add(invitation)
    db.session.flush()
    _send_invitation(invitation, token)
    return invitation


def _send_invitation(invitation: VendorInvitation, token: str) -> None:
    vendor = db.session.get(Vendor, invitation.vendor_id)
    inviter = db.session.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
    link = url_for("vendors.staff.invitation", token=token, _external=True)
    subject = _("You're invited to join %(shop)s", shop=vendor.name)
    body = _(
        "%(inviter)s invited you to help run %(shop)s on the marketplace (role: %(role)s).\n\n"
        "Accept the invitation here:\n%(link)s\n\n"
        "The link works for %(days)d days. Log in with this email address (%(email)s) to "
        "accept; if you have no account yet, create one with this address first, then open "
        "the link again.\n\n"
        "If you didn't expect this email, you can ignore it.",
        inviter=inviter.name if inviter else _("A shop owner"), shop=vendor.name,
        role=str(ROLE_LABELS[invitation.role]), link=link,
        days=INVITATION_VALID_FOR.days, email=invitation.email,
    )
    queue_email(invitation.email, subject, body)


def invitation_for_token(token: str) -> VendorInvitation:
    """The pending invitation behind a link. Raises Conflict when the link is unknown,
    expired, revoked or already used (one message for all: the link can't be used)."""
    invitation = db.session.scalar(
        select(VendorInvitation).where(VendorInvitation.token_hash == hash_token(token or ""))
    )
    if invitation is None or not invitation.is_pending(utcnow()):
        raise Conflict(_("This invitation link can't be used: it has expired, was withdrawn "
                         "or was already accepted. Ask the shop's owner for a new one."))
    return invitation


def accept_invitation(token: str, user_id: int) -> VendorMembership:
    """Make the logged-in user a member with the invited role.

    Raises Conflict for a link that can't be used, PermissionDenied when the user's email is
    not the invited address. A user who is already a member keeps their role.
    """
    invitation = invitation_for_token(token)
    user = db.session.get(User, user_id)
    if user.email != invitation.email:
        raise PermissionDenied(_("This invitation was sent to %(email)s. Log in with that "
                                 "address to accept it.", email=invitation.email))
    # Claim the invitation with a conditional UPDATE: a double click accepts once.
    claimed = db.session.execute(
        update(VendorInvitation)
        .where(VendorInvitation.id == invitation.id, VendorInvitation.accepted_at.is_(None),
               VendorInvitation.revoked_at.is_(None))
        .values(accepted_at=utcnow(), accepted_by_id=user_id)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if not claimed:
        raise Conflict(_("This invitation was already accepted or withdrawn."))
    membership = db.session.scalar(
        vendor_select(VendorMembership, invitation.vendor_id)
        .where(VendorMembership.user_id == user_id)
    )
    if membership is None:
        membership = VendorMembership(user_id=user_id, vendor_id=invitation.vendor_id,
                                      role=invitation.role)
        db.session.add(membership)
    db.session.flush()
    return membership


def revoke_invitation(actor: Actor, invitation_id: int) -> VendorInvitation:
    """Withdraw a pending invitation (its link stops working). Raises PermissionDenied,
    UnknownReference, Conflict when it was already accepted."""
    actor.require(Permission.MANAGE_STAFF)
    invitation = db.session.scalar(
        vendor_select(VendorInvitation, actor.vendor_id)
        .where(VendorInvitation.id == invitation_id)
    )
    if invitation is None:
        raise UnknownReference(_("There is no such invitation."), field="invitation_id")
    if invitation.accepted_at is not None:
        raise Conflict(_("This invitation was already accepted; remove the member instead."))
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
    db.session.flush()
    return invitation


def change_role(actor: Actor, membership_id: int, role: Any) -> VendorMembership:
    """Give a member another role. Raises PermissionDenied, UnknownReference, InvalidInput
    (``role``), Conflict when it would leave the vendor without an owner."""
    actor.require(Permission.MANAGE_STAFF)
    role = _role(role)
    membership = _member(actor.vendor_id, membership_id)
    if membership.role == MemberRole.OWNER and role != MemberRole.OWNER:
        _keep_an_owner(actor.vendor_id)
    membership.role = role
    db.session.flush()
    return membership


def remove_member(actor: Actor, membership_id: int) -> None:
    """Remove a member from the vendor. Raises PermissionDenied, UnknownReference, Conflict
    when they are the last owner."""
    actor.require(Permission.MANAGE_STAFF)
    membership = _member(actor.vendor_id, membership_id)
    if membership.role == MemberRole.OWNER:
        _keep_an_owner(actor.vendor_id)
    db.session.delete(membership)
    db.session.flush()


def _keep_an_owner(vendor_id: int) -> None:
    """Refuse to take away an owner when only one is left (the vendor row is locked first,
    so concurrent changes see each other's effect)."""
    db.session.execute(select(Vendor.id).where(Vendor.id == vendor_id).with_for_update())
    owners = db.session.scalar(
        vendor_select(VendorMembership, vendor_id)
        .with_only_columns(func.count())
        .where(VendorMembership.role == MemberRole.OWNER)
    )
    if owners <= 1:
        raise Conflict(_("A shop needs at least one owner. Make someone else an owner first."))


def _member(vendor_id: int, membership_id: int) -> VendorMembership:
    membership = db.session.scalar(
        vendor_select(VendorMembership, vendor_id).where(VendorMembership.id == membership_id)
    )
    if membership is None:
        raise UnknownReference(_("There is no such member."), field="membership_id")
    return membership


def _role(raw: Any) -> MemberRole:
    try:
        return MemberRole(raw)
    except ValueError:
        raise InvalidInput(_("Choose owner, manager or staff."), field="role") from None
