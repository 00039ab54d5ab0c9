"""Vendor statements: the printable month page, the CSV download and the balance page's
picker. The figures are worked out here from the postings the test makes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from marketplace.extensions import db
from payouts import ledger, statement_export
from payouts.models import AccountKind
from payouts.statement_export import Month, decimal_text, default_month, safe_text
from tests.factories import make_vendor
from tests.order_factories import Part, make_order
from tests.payouts.finance_support import (
    ledger_clock,
    post_payout,
    post_refund,
    post_sale,
    post_settle,
)
from tests.vendors.factories import make_member, make_person, make_variant
from tests.vendors.pages import cell, log_in, text
from vendors.models import MemberRole

DAY = dt.timedelta(days=1)


@pytest.fixture
def books(app):
    """Ingrid's shop over three months, and another shop's sale in the same month.

    Before the month: a sale of 119.00 (19.00 tax, 10.00 commission) -> 90.00 pending.
    In the month: released 90.00; a sale of 50.00 (5.00 commission) -> 45.00 pending; a
    payout of 60.00; a refund taking 9.00 of the vendor's share and 1.00 of commission;
    a JPY sale of 1500 (150 commission). After the month: a sale of 7.00.
    """
    owner = make_person("ingrid@example.com")
    vendor = make_vendor("Fjord & Field", owner=owner)
    other_owner = make_person("olaf@example.com")
    other = make_vendor("Other Shop", owner=other_owner)
    buyer = make_person("buyer@example.com")
    order = make_order(buyer, Part(((make_variant(vendor, price_minor=50_00), 1),),
                                   shipping_minor=0))
    month = default_month()
    with ledger_clock(month.previous().start + 5 * DAY):
        post_sale(vendor, gross=119_00, commission=10_00, tax=19_00)
    with ledger_clock(month.start + 1 * DAY):
        post_settle(vendor, 90_00)
    with ledger_clock(month.start + 2 * DAY):
        post_sale(vendor, gross=50_00, commission=5_00, order=order)
    with ledger_clock(month.start + 3 * DAY):
        payout = post_payout(vendor, 60_00)
    with ledger_clock(month.start + 4 * DAY):
        post_refund(vendor, vendor_share=9_00, commission=1_00)
    with ledger_clock(month.start + 5 * DAY):
        post_sale(vendor, gross=1_500, commission=150, currency="JPY")
        post_sale(other, gross=999_99, commission=0)
    with ledger_clock(month.end + dt.timedelta(seconds=1)):
        post_sale(vendor, gross=7_00, commission=0)
    db.session.commit()
    return {"owner": owner, "vendor": vendor, "other": other, "other_owner": other_owner,
            "order": order, "payout": payout, "month": month}


def _get(client, url: str):
    """GET a streamed page, read whole inside the request (the suite's client runs each
    request in a context of its own, and a stream read later would leave it)."""
    return client.get(url, buffered=True)


def _line(page: str, line: str, column: str) -> str:
    return cell(page, "line", line, column)


def test_the_statement_page_adds_up_from_opening_to_closing(client, books):
    log_in(client, books["owner"])
    month = books["month"]

    response = _get(client, f"/vendor/balance/statements/{month.key}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    eur = re.search(r'<section[^>]*data-currency="EUR".*?</section>', page, re.S).group(0)
    columns = ("pending", "available", "paid-out")
    assert [_line(eur, "opening", c) for c in columns] == ["€90.00", "€0.00", "€0.00"]
    assert [_line(eur, "settlement_release", c) for c in columns] == ["-€90.00", "€90.00", ""]
    assert [_line(eur, "payment_captured", c) for c in columns] == ["€45.00", "", ""]
    assert [_line(eur, "payout_sent", c) for c in columns] == ["", "-€60.00", "€60.00"]
    assert [_line(eur, "refund", c) for c in columns] == ["", "-€9.00", ""]
    assert [_line(eur, "closing", c) for c in columns] == ["€45.00", "€21.00", "€60.00"]
    assert [_line(eur, name, "amount") for name in ("gross", "commission", "tax", "refunded")] \
        == ["€50.00", "€4.00", "€0.00", "€10.00"]
    assert "Print / Save as PDF" in page and "@media print" in page
    # Every transaction of the month, and none of the other shop's or of other months.
    assert len(re.findall(r'<tr data-transaction="\d+" data-currency="EUR"', page)) == 4
    assert len(re.findall(r'<tr data-transaction="\d+" data-currency="JPY"', page)) == 1
    assert books["order"].number in page and f"payout-{books['payout'].id}" in page
    assert "999.99" not in page and "€7.00" not in page


def test_closing_balances_are_what_the_ledger_says_at_the_end_of_the_month(books):
    vendor, month = books["vendor"], books["month"]

    statement = statement_export.build_statement(vendor.id, month)

    by_currency = {c.currency: c for c in statement.currencies}
    eur = by_currency["EUR"]
    assert eur.opening + eur.movement == eur.closing
    now = {row.kind: row.amount_minor for row in ledger.balances(vendor_id=vendor.id)
           if row.currency == "EUR"}
    # Today's balances less the sale of 7.00 made after the month.
    assert (eur.closing.pending, eur.closing.available, eur.closing.paid_out) == (
        now[AccountKind.VENDOR_PENDING] - 7_00, now[AccountKind.VENDOR_AVAILABLE],
        now[AccountKind.VENDOR_PAID_OUT])
    jpy = by_currency["JPY"]
    assert (jpy.opening, jpy.closing) == (statement_export.Balances(),
                                          statement_export.Balances(pending=1_350))


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_the_csv_has_one_exact_row_per_transaction_with_running_balances(client, books):
    log_in(client, books["owner"])
    month, payout, order = books["month"], books["payout"], books["order"]

    response = _get(client, f"/vendor/balance/statements/{month.key}.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (f'filename="statement-{books["vendor"].slug}-{month.key}.csv"'
            in response.headers["Content-Disposition"])
    rows = _csv(response)
    day = [(month.start + n * DAY).strftime("%Y-%m-%dT%H:%M:%SZ") for n in range(6)]
    assert rows == [
        list(statement_export.CSV_COLUMNS),
        [day[1], "settlement_release", "", "Released for payout", "EUR",
         "-90.00", "90.00", "0.00", "0.00", "90.00", "0.00"],
        [day[2], "payment_captured", order.number, "Sale paid", "EUR",
         "45.00", "0.00", "0.00", "45.00", "90.00", "0.00"],
        [day[3], "payout_sent", f"payout-{payout.id}", "Payout", "EUR",
         "0.00", "-60.00", "60.00", "45.00", "30.00", "60.00"],
        [day[4], "refund", "", "Refund", "EUR",
         "0.00", "-9.00", "0.00", "45.00", "21.00", "60.00"],
        [day[5], "payment_captured", "", "Sale paid", "JPY",
         "1350", "0", "0", "1350", "0", "0"],
    ]


def test_the_csv_groups_postings_across_fetched_batches(client, books, monkeypatch):
    log_in(client, books["owner"])
    url = f"/vendor/balance/statements/{books['month'].key}.csv"
    whole = _csv(_get(client, url))
    monkeypatch.setattr(statement_export, "YIELD_PER", 1)

    one_at_a_time = _csv(_get(client, url))

    assert one_at_a_time == whole


def test_text_cells_cannot_become_formulas_and_amounts_stay_numbers():
    assert [safe_text(v) for v in ("=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx",
                                   "MK-123", "Sale paid")] == [
        "'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "MK-123", "Sale paid"]
    assert [decimal_text(v, c) for v, c in ((-9_00, "EUR"), (1, "EUR"), (1_500, "JPY"),
                                            (123_456_789_012_345, "EUR"), (-5, "KWD"))] == [
        "-9.00", "0.01", "1500", "1234567890123.45", "-0.005"]


def test_each_shop_sees_only_its_own_statement(client, books):
    log_in(client, books["other_owner"])
    month = books["month"]

    page = _get(client, f"/vendor/balance/statements/{month.key}").get_data(as_text=True)
    rows = _csv(_get(client, f"/vendor/balance/statements/{month.key}.csv"))

    assert [_line(page, "payment_captured", "pending")] == ["€999.99"]
    assert len(re.findall(r'<tr data-transaction=', page)) == 1
    assert "€90.00" not in page and books["order"].number not in page
    assert [row[5] for row in rows[1:]] == ["999.99"]


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26-01", "abcd", "1999-12",
                                    "2026-1", "2026-10-01", "２０２６-０１", "next"])
def test_a_bad_period_is_a_400_with_a_message(client, period):
    owner = make_person("ingrid@example.com")
    make_vendor("Fjord & Field", owner=owner)
    db.session.commit()
    log_in(client, owner)
    if period == "next":
        period = Month.of(dt.datetime.now(dt.UTC)).next().key

    for url in (f"/vendor/balance/statements/{period}",
                f"/vendor/balance/statements/{period}.csv",
                f"/vendor/balance/statements?month={period}"):
        response = _get(client, url)
        body = text(response.get_data(as_text=True))
        assert response.status_code == 400, url
        assert re.search(r"YYYY-MM|months run from 01 to 12|Statements start in 2000|"
                         r"has not started yet", body), url


def test_the_balance_page_picks_a_month_with_activity(client, books):
    log_in(client, books["owner"])
    month = books["month"]

    page = client.get("/vendor/balance").get_data(as_text=True)
    to_csv = client.get(f"/vendor/balance/statements?month={month.key}&format=csv")
    to_page = client.get(f"/vendor/balance/statements?month={month.key}")
    bad_format = client.get(f"/vendor/balance/statements?month={month.key}&format=pdf")

    options = re.findall(r'<option value="(\d{4}-\d{2})"( selected)?>', page)
    assert options == [(month.next().key, ""), (month.key, " selected"),
                       (month.previous().key, "")]
    assert to_csv.status_code == 303
    assert to_csv.headers["Location"].endswith(f"/vendor/balance/statements/{month.key}.csv")
    assert to_page.headers["Location"].endswith(f"/vendor/balance/statements/{month.key}")
    assert bad_format.status_code == 400


def test_a_shop_without_transactions_gets_an_empty_statement(client):
    owner = make_person("new@example.com")
    make_vendor("New Shop", owner=owner)
    db.session.commit()
    log_in(client, owner)

    page = client.get("/vendor/balance").get_data(as_text=True)
    statement = _get(client, f"/vendor/balance/statements/{default_month().key}")

    assert "Statements appear once your balance has moved." in page
    assert statement.status_code == 200
    assert "Nothing moved on your balances in this month." in statement.get_data(as_text=True)


def test_staff_and_strangers_may_not_see_statements(client, books):
    staff = make_member(books["vendor"], MemberRole.STAFF, email="staff@example.com")
    db.session.commit()
    url = f"/vendor/balance/statements/{books['month'].key}"

    anonymous = _get(client, url)
    log_in(client, staff)
    as_staff = _get(client, url)
    as_staff_csv = _get(client, url + ".csv")

    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert as_staff.status_code == 403 and as_staff_csv.status_code == 403
