"""Reading portal pages the way a test needs them: field errors, flashes, table cells."""

from __future__ import annotations

import html as html_lib
import re

from flask.testing import FlaskClient

_TAG = re.compile(r"<[^>]+>")


def log_in(client: FlaskClient, user) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def text(fragment: str) -> str:
    return " ".join(html_lib.unescape(_TAG.sub(" ", fragment)).split())


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', page)
    return html_lib.unescape(match.group(1)) if match else None


def flashes(page: str) -> list[str]:
    return [text(m) for m in re.findall(r'<div class="flash flash-\w+">(.*?)</div>', page, re.S)]


def cell(page: str, row_attr: str, row_id: int, css_class: str) -> str:
    """The text of ``<td class="... css_class">`` in the row ``data-<row_attr>="row_id"``."""
    row = re.search(rf'<tr data-{row_attr}="{row_id}"[^>]*>(.*?)</tr>', page, re.S)
    assert row, f"no row {row_attr}={row_id}"
    match = re.search(rf'<td[^>]*\bclass="[^"]*\b{css_class}\b[^"]*"[^>]*>(.*?)</td>',
                      row.group(1), re.S)
    assert match, f"no {css_class} cell in row {row_id}"
    return text(match.group(1))


def rows(page: str, row_attr: str) -> list[int]:
    return [int(value) for value in re.findall(rf'<tr data-{row_attr}="(\d+)"', page)]
