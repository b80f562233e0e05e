"""Schemathesis against /api/v1/openapi.json: every operation of the document, fuzzed in-process
against the WSGI app as a cadre (李明) and as the organisation department's admin, must answer
without a server error and with a response that the document describes (status code, content
type and body schema).

The schema is loaded from the running app (the document is generated from the code), so an
operation added later is fuzzed without a change here. Objects come from `sec_world`
(tests/security/conftest.py): a path or query parameter that names an object (course_id,
paper_id, key, …) is drawn either from the schema or from the real objects of that world, so the
successful answers (and their schemas) are reached too, not only 404s.

Bounded and deterministic: Hypothesis runs derandomized, without an example database, with
MAX_EXAMPLES positive and NEGATIVE_EXAMPLES schema-violating cases per operation and role. Each
operation is a subtest and each example logs in afresh (from another address than the fuzzed
requests), so an example that ends the session (logout) does not affect the next one; the world
is rolled back at the end of each test.
"""
from __future__ import annotations

import itertools
import logging
import random
import traceback
from contextlib import contextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ApiClient
from tests.security.conftest import SecWorld, role_client

MAX_EXAMPLES = 12
NEGATIVE_EXAMPLES = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Fuzzed requests come from another address than the role's own login, so that the login
# operation's wrong passwords (per-IP throttle) never lock the next operation's login out.
FUZZ_ENVIRON = {"REMOTE_ADDR": "192.0.2.7"}
_SEEDS = itertools.count()


def _known_values(w: SecWorld, export_id: int | None) -> dict[str, list]:
    """Real objects by parameter name (渭滨区's, which the cadre owns, and 金台区's)."""
    return {
        "cadre_id": [w.wb.cadre, w.jt.cadre],
        "user_id": [w.wb.cadre, w.jt.cadre],
        "card_id": [w.wb.card, w.jt.card],
        "course_id": [w.course, w.papers_course, w.draft],
        "lesson_id": [w.lesson, w.draft_lesson],
        "job_id": [w.media_job],
        "class_id": [w.wb.training, w.jt.training],
        "entry_id": [w.wb.entry, w.jt.entry],
        "application_id": [w.wb.application, w.jt.application],
        "attempt_id": [w.wb.attempt, w.jt.attempt],
        "question_id": [w.question],
        "paper_id": [w.wb.paper, w.jt.paper],
        "number": [1],
        "export_id": [e for e in (export_id, w.wb.export) if e],
        "unit_id": [w.wb.unit, w.jt.unit, w.city],
        "year": [2026, 2025],
    }


def _keys(w: SecWorld, path: str) -> list[str]:
    if "/watch-sessions/" in path:
        return [w.wb.watch, w.jt.watch]
    if "/study-checks/" in path:
        return [w.wb.check, w.jt.check]
    return []


@pytest.fixture
def schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@contextmanager
def _unhandled_errors(app):
    """The records that app/errors.py logs for an unhandled exception during the block."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: records.append(record) if record.exc_info else None
    disabled, app.logger.disabled = app.logger.disabled, False  # alembic's logging setup disables it
    app.logger.addHandler(handler)
    try:
        yield records
    finally:
        app.logger.removeHandler(handler)
        app.logger.disabled = disabled


def _operations(schema):
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) >= 80, "the document lost operations"
    return ops


def _fuzz_operation(app, operation, w: SecWorld, role: str, known: dict[str, list]) -> None:
    keys = _keys(w, operation.path)
    query_names = [parameter.name for parameter in operation.query]

    def substitute(case, data) -> None:
        for name in list(case.path_parameters or {}):
            choices = keys if name == "key" else known.get(name)
            if choices and data.draw(st.booleans(), label=f"real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(choices), label=name)
        for name in query_names:    # optional filters too (user_id, unit_id, year …)
            choices = known.get(name)
            if choices and data.draw(st.booleans(), label=f"real {name}"):
                if case.query is None:
                    case.query = {}
                case.query[name] = data.draw(st.sampled_from(choices), label=name)

    def run(case, data) -> None:
        # Hypothesis seeds the global `random` alike for every example; Whoosh names its index
        # segments from it, so without this each example's segment would collide with the last.
        random.seed(next(_SEEDS))
        substitute(case, data)
        client: ApiClient = role_client(app, role, w)
        with _unhandled_errors(app) as logged:
            response = case.call(session=client.c, headers={"X-CSRFToken": client.csrf},
                                 environ_base=FUZZ_ENVIRON)
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
            for record in logged:   # the server's traceback of a 500, to go with the curl line
                exc.add_note("".join(traceback.format_exception(*record.exc_info)))
            raise

    common = dict(derandomize=True, database=None, deadline=None, print_blob=False,
                  phases=[Phase.explicit, Phase.generate, Phase.shrink],
                  suppress_health_check=list(HealthCheck))
    for mode, count in ((GenerationMode.POSITIVE, MAX_EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):
        strategy = operation.as_strategy(generation_mode=mode)
        try:
            settings(max_examples=count, **common)(given(case=strategy, data=st.data())(run))()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            # nothing in the request can be made invalid (no parameters, no body)


@pytest.mark.parametrize("role", ["cadre", "orgadmin"])
def test_api_fuzz(app, sec_world, schema, role, subtests):
    export_id = None
    if role == "orgadmin":
        # an export of the org admin's own, so that getReportExport/download reach a 200
        org = role_client(app, role, sec_world)
        r = org.post("/api/v1/reports/exports", json={"kind": "unit", "format": "csv"})
        assert r.status_code in (201, 202), r.get_data(as_text=True)
        export_id = r.json["id"]
    known = _known_values(sec_world, export_id)
    for operation in _operations(schema):
        with subtests.test(msg=f"{role} {operation.method.upper()} {operation.path}"):
            _fuzz_operation(app, operation, sec_world, role, known)
