"""Catalogue and media through the JSON API."""
from __future__ import annotations


def test_cadre_lists_published_courses_only(cadre_api, catalogue):
    r = cadre_api.get("/api/v1/courses")
    assert r.status_code == 200
    titles = [c["title"] for c in r.json["items"]]
    assert "新时代党的建设总要求" in titles and "新能源汽车产业发展与政策" in titles
    assert "尚未发布的课程草稿" not in titles
    assert titles[0] == "新时代党的建设总要求"  # required first
    assert cadre_api.get(f"/api/v1/courses/{catalogue.draft}").status_code == 404
