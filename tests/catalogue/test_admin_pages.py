"""Catalogue administration pages through the test client."""
from __future__ import annotations

import io
import re

from app.catalogue.models import Category, Course, CourseState
from app.extensions import db
from tests.conftest import PASSWORD


def _login(app, username="org"):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"login": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    return client, token


def _token(client, url):
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def test_only_the_organisation_department_manages_the_catalogue(app, world):
    client, _ = _login(app, "wbadmin")
    assert client.get("/admin/catalogue/courses").status_code == 403
    assert app.test_client().get("/admin/catalogue/courses").status_code == 302


def test_create_rename_reorder_and_retire_a_category_keeps_its_courses(app, world, catalogue):
    client, _ = _login(app)
    token = _token(client, "/admin/catalogue/categories")
    r = client.post("/admin/catalogue/categories", data={"csrf_token": token, "name": "红色文化", "code": "red-culture",
                                                          "kind": "subject"})
    assert r.status_code == 302
    dup = client.post("/admin/catalogue/categories", data={"csrf_token": token, "name": "红色文化", "code": "red-2",
                                                            "kind": "subject"})
    assert dup.status_code == 400 and "已有同名分类" in dup.get_data(as_text=True)
    with app.app_context():
        red = db.session.scalar(db.select(Category).where(Category.code == "red-culture"))
        red_id, pol_position = red.id, db.session.get(Category, catalogue.politics).position
    client.post(f"/admin/catalogue/categories/{red_id}", data={"csrf_token": token, "action": "up"})
    client.post(f"/admin/catalogue/categories/{catalogue.politics}",
                data={"csrf_token": token, "action": "rename", "name": "政治理论与时事"})
    r = client.post(f"/admin/catalogue/categories/{catalogue.politics}", data={"csrf_token": token, "action": "retire"})
    assert r.status_code == 303
    with app.app_context():
        pol = db.session.get(Category, catalogue.politics)
        assert pol.name == "政治理论与时事" and pol.retired
        assert db.session.get(Category, red_id).position < pol.position or pol_position > 1
        # the courses are untouched and still reachable
        assert db.session.get(Course, catalogue.party).state == CourseState.PUBLISHED
    page = client.get("/admin/catalogue/categories").get_data(as_text=True)
    assert "已停用" in page and "政治理论与时事" in page
    from app.audit.models import AuditEvent
    with app.app_context():
        actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {"category.create", "category.update", "category.retire"} <= actions


def test_course_editor_creates_a_draft_adds_lessons_and_refuses_to_publish_without_video(app, world, catalogue):
    client, _ = _login(app)
    token = _token(client, "/admin/catalogue/courses/new")
    bad = client.post("/admin/catalogue/courses/new", data={
        "csrf_token": token, "title": "乡村治理现代化", "category_id": catalogue.politics, "lecturer": "郑治",
        "class_hours": 4, "credits": 30, "target_ranks": ["county"]})
    assert bad.status_code == 400 and "学分须为 5–20" in bad.get_data(as_text=True)
    r = client.post("/admin/catalogue/courses/new", data={
        "csrf_token": token, "title": "乡村治理现代化", "category_id": catalogue.politics, "lecturer": "郑治",
        "class_hours": 4, "credits": 12, "target_ranks": ["county", "township"], "description": "自治法治德治"})
    assert r.status_code == 302
    course_url = r.headers["Location"]
    cid = int(course_url.rstrip("/").rsplit("/", 1)[1])
    client.post(f"/admin/catalogue/courses/{cid}/lessons", data={"csrf_token": token, "title": "第一讲 三治融合"})
    page = client.get(course_url).get_data(as_text=True)
    assert "第一讲 三治融合" in page and "尚无视频" in page
    r = client.post(f"/admin/catalogue/courses/{cid}/state", data={"csrf_token": token, "state": "published"},
                    follow_redirects=True)
    assert "还没有可播放的视频" in r.get_data(as_text=True)
    with app.app_context():
        course = db.session.get(Course, cid)
        assert course.state == CourseState.DRAFT and course.rank_list == ["county", "township"]
        lesson_id = course.lessons[0].id
    # uploading a non-video without JavaScript: a clear message, nothing published
    r = client.post(f"/admin/catalogue/lessons/{lesson_id}/video", content_type="multipart/form-data",
                    data={"csrf_token": token, "file": (io.BytesIO(b"hello world, not a video" * 20), "talk.mp4")},
                    follow_redirects=True)
    assert "视频无法使用" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Course, cid).lessons[0].video_id is None
