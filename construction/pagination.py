"""One way to page a list: count and slice the query, one envelope, one Link header.

A service returns `paginate(query, page, per_page)`; its view declares
`page_schema(ItemSchema, "ItemPageSchema")` and returns `paged(page)`. Every list
answers `items`, `total`, `page`, `per_page` and `pages`, with a `Link` header
naming the first, previous, next and last pages (RFC 8288).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import after_this_request, request
from marshmallow import Schema, fields
from sqlalchemy import Select, func, select

from construction.extensions import db


@dataclass
class Page:
    """One page of a list: its items and where it stands in the whole."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0


def paginate(query: Select, page: int, per_page: int) -> Page:
    """Return one page of an ordered select of ORM rows, with the list's total."""
    total = db.session.scalar(
        select(func.count()).select_from(query.order_by(None).subquery()))
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), total, page, per_page)


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """Return the schema of one page of `item`s (named `name` in the OpenAPI document)."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item)),
        "total": fields.Integer(metadata={"description": "Items in the whole list"}),
        "page": fields.Integer(),
        "per_page": fields.Integer(),
        "pages": fields.Integer(metadata={"description": "Pages in the whole list"}),
    }, name=name)


def paged(page: Page, items: list[Any] | None = None) -> dict[str, Any]:
    """Return a page's envelope (its items, or `items` made from them) and set its Link header."""
    links = link_header(page)

    @after_this_request
    def _link(response):
        response.headers["Link"] = links
        return response
    return {"items": page.items if items is None else items, "total": page.total,
            "page": page.page, "per_page": page.per_page, "pages": page.pages}


def link_header(page: Page) -> str:
    """Return the Link header of a page of the list the current request asked for."""
    arguments = request.args.to_dict(flat=False)
    last = max(page.pages, 1)
    relations = [("first", 1)]
    if page.page > 1:
        relations.append(("prev", min(page.page - 1, last)))
    if page.page < page.pages:
        relations.append(("next", page.page + 1))
    relations.append(("last", last))

    def url(number: int) -> str:
        arguments["page"] = [str(number)]
        return f"<{request.path}?{urlencode(arguments, doseq=True)}>"
    return ", ".join(f'{url(number)}; rel="{relation}"' for relation, number in relations)
