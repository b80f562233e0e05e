"""Schemas shared across the API: pagination and problem details."""
from apispec import BasePlugin
from marshmallow import Schema, fields, validate

DB_INT_MAX = 2**31 - 1


def DbId(**kwargs) -> fields.Integer:
    """An id field bounded to the database's integer range (a larger number is a 400, not a 500)."""
    return fields.Integer(validate=validate.Range(min=1, max=DB_INT_MAX), **kwargs)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    # a validator must raise (marshmallow 4 ignores one that returns False): Range does, and is documented
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class Ref(Schema):
    """A named object referred to from another: a person, a unit."""

    id = fields.Integer()
    name = fields.String()


class Problem(Schema):
    """RFC 9457 problem details, as app/errors.py answers every API error."""

    type = fields.String()
    code = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    field = fields.String()
    # extension members that some errors carry
    errors = fields.Dict(metadata={
        "description": "bad input: messages per field (`json` when the body is not JSON at all)"})
    received = fields.Integer(metadata={"description": "bytes the server holds of an upload"})
    job_id = fields.Integer(metadata={"description": "the media job whose video could not be used"})


PROBLEM_JSON = "application/problem+json"


class ProblemDetailsPlugin(BasePlugin):
    """Documents every response whose body is a Problem with the media type it is sent with,
    application/problem+json (flask-smorest would write application/json), in operations and in
    the shared responses (DEFAULT_ERROR, UNPROCESSABLE_ENTITY, …)."""

    REF = {"$ref": "#/components/schemas/Problem"}

    def _fix(self, response) -> None:
        content = response.get("content") if isinstance(response, dict) else None
        if content and content.get("application/json", {}).get("schema") == self.REF:
            content[PROBLEM_JSON] = content.pop("application/json")

    def response_helper(self, response, **kwargs):
        self._fix(response)
        return response

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            for response in (operation.get("responses") or {}).values():
                self._fix(response)


def page_body(pagination, items) -> dict:
    return {"items": items, "total": pagination.total, "page": pagination.page,
            "per_page": pagination.per_page}
