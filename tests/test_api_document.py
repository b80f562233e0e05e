"""The OpenAPI document describes what the API answers (regressions found by
tests/security/test_api_fuzz.py)."""
from __future__ import annotations

import jsonschema
import pytest

from tests.conftest import ApiClient

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
def doc(app):
    return app.test_client().get("/api/v1/openapi.json").get_json()


def test_errors_are_documented_as_problem_details_with_their_media_type(doc):
    """Errors are sent as application/problem+json (app/errors.py): the shared responses and every
    operation's error responses say so, with the Problem schema (not flask-smorest's own)."""
    for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"):
        assert doc["components"]["responses"][name]["content"] == {"application/problem+json": {"schema": PROBLEM}}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op["responses"]["default"] == {"$ref": "#/components/responses/DEFAULT_ERROR"}, (method, path)
            for status, response in op["responses"].items():
                if status != "default" and int(status) >= 400 and "content" in response:
                    assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, (method, path)
    assert "errors" in doc["components"]["schemas"]["Problem"]["properties"]


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '{"name": 5}'])
def test_bad_input_is_a_problem_that_fits_the_documented_schema(app, world, doc, body):
    api = ApiClient(app.test_client())
    assert api.login("org").status_code == 200
    r = api.post("/api/v1/units", data=body, content_type="application/json")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert isinstance(r.json["errors"], dict) and r.json["errors"]
    # `errors` is an object of messages per field; a body that is not JSON has them under "json"
    if body == "not json":
        assert list(r.json["errors"]) == ["json"]
    jsonschema.validate(r.json, doc["components"]["schemas"]["Problem"])


@pytest.mark.parametrize("url", ["/api/v1/notifications", "/api/v1/papers", "/api/v1/credits/entries"])
@pytest.mark.parametrize("per_page", ["0", "501", "6454701358982415942997245952"])
def test_per_page_out_of_range_is_a_400_not_a_500(app, world, url, per_page):
    api = ApiClient(app.test_client())
    assert api.login("org").status_code == 200
    r = api.get(f"{url}?per_page={per_page}")
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.json["field"] == "per_page"


def test_per_page_bounds_are_documented(doc):
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/notifications"]["get"]["parameters"]}
    assert (params["per_page"]["minimum"], params["per_page"]["maximum"]) == (1, 500)
