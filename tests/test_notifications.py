"""In-site notifications: the list with the unread count, marking read (one's own only), opening
one (marks it read, follows only a link of this site), and the header's unread count."""
from __future__ import annotations

import re

import pytest
from flask import render_template_string
from flask_login import login_user
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.notifications import services
from app.notifications.models import Notification
from tests.conftest import ApiClient


def staff(app, login) -> ApiClient:
    c = ApiClient(app.test_client())
    assert c.login(login).status_code == 200
    return c


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def inbox(app, world):
    """Three notifications for the 渭滨 administrator, one for the 金台 administrator."""
    with app.test_request_context():
        ids = [services.notify(world.wb_admin, "第一条", "/credits/applications/").id,
               services.notify(world.wb_admin, "第二条:外部链接", "https://evil.example/phish").id,
               services.notify(world.wb_admin, "第三条:协议相对链接", "//evil.example/x").id,
               services.notify(world.jt_admin, "金台的通知", "/credits/applications/").id]
        db.session.commit()
        return ids


def read_state(app, ids) -> list[bool]:
    with app.app_context():
        return [db.session.get(Notification, i).read_at is not None for i in ids]


def test_api_lists_newest_first_with_the_unread_count(app, world, inbox):
    c = staff(app, "wbadmin")
    body = c.get("/api/v1/notifications").json
    assert body["total"] == 3 and body["unread"] == 3
    assert [n["message"] for n in body["items"]] == ["第三条:协议相对链接", "第二条:外部链接", "第一条"]
    assert body["items"][0]["read"] is False
    assert c.get("/api/v1/notifications?per_page=1&page=2").json["items"][0]["message"] == "第二条:外部链接"


def test_api_marks_given_ids_or_all_and_never_another_users(app, world, inbox):
    c = staff(app, "wbadmin")
    first, second, third, other = inbox
    r = c.post("/api/v1/notifications/read", json={"ids": [first, other]})
    assert r.status_code == 200 and r.json == {"marked": 1, "unread": 2}
    assert read_state(app, inbox) == [True, False, False, False]  # 金台's notification untouched
    r = c.post("/api/v1/notifications/read", json={})
    assert r.json == {"marked": 2, "unread": 0}
    assert read_state(app, inbox) == [True, True, True, False]
    jt = staff(app, "jtadmin")
    assert jt.get("/api/v1/notifications").json["unread"] == 1


def test_api_needs_login_and_csrf(app, world, inbox):
    anonymous = app.test_client()
    assert anonymous.get("/api/v1/notifications").status_code == 401
    c = staff(app, "wbadmin")
    assert c.c.post("/api/v1/notifications/read", json={}).status_code == 400  # no X-CSRFToken
    assert read_state(app, inbox[:1]) == [False]


def test_page_lists_and_opens_a_notification_marking_it_read(app, world, inbox):
    c = staff(app, "wbadmin")
    html = c.get("/notifications/").get_data(as_text=True)
    assert "3 条未读" in html and "第一条" in html and "金台的通知" not in html
    token = csrf(html)
    r = c.c.post(f"/notifications/{inbox[0]}/open", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/credits/applications/"
    assert read_state(app, inbox) == [True, False, False, False]


@pytest.mark.parametrize("index", [1, 2])
def test_page_does_not_follow_a_link_off_the_site(app, world, inbox, index):
    c = staff(app, "wbadmin")
    token = csrf(c.get("/notifications/").get_data(as_text=True))
    r = c.c.post(f"/notifications/{inbox[index]}/open", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/notifications/"
    assert read_state(app, inbox[index:index + 1]) == [True]


def test_page_cannot_open_another_users_notification(app, world, inbox):
    c = staff(app, "wbadmin")
    token = csrf(c.get("/notifications/").get_data(as_text=True))
    assert c.c.post(f"/notifications/{inbox[3]}/open", data={"csrf_token": token}).status_code == 404
    assert c.c.post(f"/notifications/{inbox[0]}/open").status_code == 400  # without the CSRF token
    assert read_state(app, inbox) == [False, False, False, False]


def test_page_marks_all_read(app, world, inbox):
    c = staff(app, "wbadmin")
    token = csrf(c.get("/notifications/").get_data(as_text=True))
    r = c.c.post("/notifications/read-all", data={"csrf_token": token})
    assert r.status_code == 302
    html = c.get("/notifications/").get_data(as_text=True)
    assert "已将 3 条通知标记为已读" in html and "条未读" not in html
    assert read_state(app, inbox) == [True, True, True, False]


def test_templates_get_the_unread_count_of_the_logged_in_user(app, world, inbox):
    with app.test_request_context():
        assert render_template_string("{{ unread_notifications }}") == "0"  # nobody logged in
        login_user(db.session.get(User, world.wb_admin))
        assert render_template_string("{{ unread_notifications }}") == "3"
        services.mark_read(world.wb_admin, inbox[0])
        assert render_template_string("{{ unread_notifications }}") == "2"
        assert db.session.scalar(select(Notification.user_id).where(Notification.id == inbox[3])) == world.jt_admin
