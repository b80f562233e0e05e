"""Schemas shared across the API: pagination and problem details."""
from marshmallow import Schema, fields


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=lambda n: n >= 1)
    per_page = fields.Integer(load_default=50, validate=lambda n: 1 <= n <= 500)


class Problem(Schema):
    type = fields.String()
    code = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    field = fields.String()


def page_body(pagination, items) -> dict:
    return {"items": items, "total": pagination.total, "page": pagination.page,
            "per_page": pagination.per_page}
