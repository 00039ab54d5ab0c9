"""Page-at-a-time reads for lists of any size, shared by the JSON API and the HTML pages.

A view loads ``page`` and ``per_page`` through :class:`PageQuerySchema`, calls
:func:`paginate` with a ``select()``, and either renders the :class:`Page` in a template or
returns ``page.to_dict(SomeSchema())`` as the API envelope::

    {"items": [...], "meta": {"page", "per_page", "total", "pages"},
     "links": {"self", "next", "prev"}}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, fields, post_load, validate
from sqlalchemy import Select, func, select

from marketplace.extensions import db

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


class PageQuerySchema(Schema):
    """``?page=&per_page=`` from a query string.

    - ``page``: integer >= 1, default 1. A page past the last one is not an error: it is empty,
      like the end of any list.
    - ``per_page``: integer >= 1, default 20. Values above 100 are clamped to 100 rather than
      refused, because a client asking for "everything" should get the most we serve, and the
      ``meta.per_page`` of the answer tells it what it got.
    - Anything that is not a whole number (``page=abc``, ``per_page=2.5``), zero or negative is
      a 422 naming the field: guessing what a client meant there would hide its bug.

    Other query parameters are ignored here so list endpoints can add their own filters by
    subclassing this schema.
    """

    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, error=_l("Must be 1 or more.")),
        metadata={"description": "Page number, starting at 1."},
    )
    per_page = fields.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=validate.Range(min=1, error=_l("Must be 1 or more.")),
        metadata={"description": f"Items per page; values above {MAX_PER_PAGE} are clamped."},
    )

    @post_load
    def clamp_per_page(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["per_page"] = min(data["per_page"], MAX_PER_PAGE)
        return data


class PageMetaSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "Items in all pages."})
    pages = fields.Integer(required=True, metadata={"description": "Number of pages."})


class PageLinksSchema(Schema):
    # Named self_ so the class body does not read like a method argument; "self" on the wire.
    self_ = fields.String(required=True, data_key="self")
    next = fields.String(required=True, allow_none=True)
    prev = fields.String(required=True, allow_none=True)


@dataclass(frozen=True)
class Page:
    """One page of a list: its items plus what a client needs to ask for the others."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1 and self.pages > 0

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def prev_num(self) -> int | None:
        # From past the end, "previous" is the last page that has items.
        return min(self.page - 1, self.pages) if self.has_prev else None

    def url_for_page(self, number: int) -> str:
        """The current request's URL with ``page`` (and ``per_page``) replaced.

        Other query parameters (filters, sorting) are kept, so links stay on the same list.
        """
        args = request.args.to_dict()
        args.update(page=number, per_page=self.per_page)
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    def to_dict(self, schema: Schema) -> dict[str, Any]:
        """The API envelope, with ``schema`` (a ``many``-agnostic instance) dumping each item."""
        return {
            "items": schema.dump(self.items, many=True),
            "meta": {
                "page": self.page,
                "per_page": self.per_page,
                "total": self.total,
                "pages": self.pages,
            },
            "links": {
                "self": self.url_for_page(self.page),
                "next": self.url_for_page(self.next_num) if self.next_num else None,
                "prev": self.url_for_page(self.prev_num) if self.prev_num else None,
            },
        }


def paginate(stmt: Select, page: int, per_page: int) -> Page:
    """Run ``stmt`` for one page: one COUNT query, then one LIMIT/OFFSET query.

    ``stmt`` must have a deterministic ORDER BY (end it with the primary key), or rows can
    repeat or vanish between pages. A statement selecting one entity or column yields those
    objects as items; one selecting several yields ``Row`` tuples. A page past the end returns
    no items without running the second query (and without computing a huge OFFSET).
    """
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    total = total or 0
    items: list[Any] = []
    if total and (page - 1) * per_page < total:
        window = stmt.limit(per_page).offset((page - 1) * per_page)
        if len(stmt.column_descriptions) == 1:
            items = list(db.session.scalars(window).all())
        else:
            items = list(db.session.execute(window).all())
    return Page(items=items, total=total, page=page, per_page=per_page)
