"""Schemas shared across the API: pagination and problem details."""
from marshmallow import Schema, fields, validate

DB_INT_MAX = 2**31 - 1


def DbId(**kwargs) -> fields.Integer:
    """An id field bounded to the database's integer range (a larger number is a 400, not a 500)."""
    return fields.Integer(validate=validate.Range(min=1, max=DB_INT_MAX), **kwargs)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=lambda n: 1 <= n <= 500)


class Ref(Schema):
    """A named object referred to from another: a person, a unit."""

    id = fields.Integer()
    name = fields.String()


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
