"""The English catalogue is complete and safe to format, and the English UI is really served."""
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.conftest import PASSWORD

PO = Path(__file__).resolve().parents[1] / "app" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


@pytest.fixture(scope="module")
def catalog():
    with PO.open("rb") as fh:
        return read_po(fh)


def _entries(catalog):
    return [m for m in catalog if m.id]


def test_every_entry_is_translated_and_not_fuzzy(catalog):
    entries = _entries(catalog)
    assert entries
    assert [m.id for m in entries if not m.string] == []
    assert [m.id for m in entries if m.fuzzy] == []
    assert not catalog.obsolete


def test_placeholders_are_kept(catalog):
    wrong = [(m.id, m.string) for m in _entries(catalog)
             if Counter(PLACEHOLDER.findall(m.id)) != Counter(PLACEHOLDER.findall(m.string))
             or m.id.count("%%") != m.string.count("%%")]
    assert wrong == []


def test_labels_translated_through_a_variable_are_in_the_catalogue(catalog):
    """Role, rank, state, audit-action labels and error titles reach _() via a dict: pybabel extract
    cannot see them, so a later `pybabel update` must not silently drop them."""
    from app.audit.views import ACTIONS
    from app.errors import _TITLES

    labels = {*ACTIONS.values(), *_TITLES.values(), "错误", "学员", "网络管理员", "部门查看", "组织部管理员",
              "县处级及以上", "乡科级", "其他", "草稿", "已发布", "已下架"}
    assert sorted(label for label in labels if label not in catalog or not catalog[label].string) == []


def test_english_navigation(app, world):
    c = app.test_client()
    html = c.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    r = c.post("/login", data={"login": "org", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    c.get("/locale/en")
    r = c.get("/courses/")
    assert r.status_code == 200
    nav = re.search(r"<nav class=\"mainnav\">(.*?)</nav>", r.get_data(as_text=True), re.S).group(1)
    with PO.open("rb") as fh:
        english = read_po(fh)["课程中心"].string
    assert english and english in nav
    assert "课程中心" not in nav
