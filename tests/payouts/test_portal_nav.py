"""The vendor portal's and the admin area's navigation labels are text, escaped once."""

from __future__ import annotations

from html.parser import HTMLParser

from marketplace.extensions import db
from marketplace.models import Role
from tests.factories import make_user
from tests.payouts.payout_factories import make_payable_vendor
from tests.vendors.factories import make_person
from tests.vendors.pages import log_in


class _Links(HTMLParser):
    """Each link's text as a browser shows it (character references decoded once)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self.links.setdefault(self._href, "")

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links[self._href] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None


def _link_text(page: str, href: str) -> str:
    parser = _Links()
    parser.feed(page)
    return parser.links[href]


def test_the_portal_link_reads_balance_and_payouts_escaped_once(client):
    owner = make_person("ingrid@example.com")
    make_payable_vendor(owner=owner)
    db.session.commit()
    log_in(client, owner)

    page = client.get("/vendor/").get_data(as_text=True)

    assert _link_text(page, "/vendor/balance") == "Balance & payouts"
    assert '<a href="/vendor/balance">Balance &amp; payouts</a>' in page


def test_the_admin_navigation_labels_are_text(client):
    log_in(client, make_user("root@example.com", role=Role.ADMIN))
    db.session.commit()

    page = client.get("/admin/").get_data(as_text=True)

    assert _link_text(page, "/admin/commission") == "Commission"
    assert _link_text(page, "/admin/payouts") == "Payouts"
