"""What the report tests share: a logged-in API client and an XLSX read back as rows."""
from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.conftest import ApiClient


def logged_in(app, login: str) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login).status_code == 200
    return c


def xlsx_rows(body: bytes) -> dict[str, list[list]]:
    """Each sheet's rows (header first) as lists of cell values."""
    wb = load_workbook(io.BytesIO(body))
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
