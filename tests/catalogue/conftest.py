"""Catalogue fixtures: a few categories and courses whose lessons play one real sample video
(generated once per session with ffmpeg), a logged-in cadre and admin, and a clean search index."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from app.accounts import services as accounts
from app.accounts.models import User
from app.catalogue import media, services
from app.catalogue.models import CourseState, VideoAsset
from app.catalogue.search_sync import all_docs
from app.extensions import db
from app.search import get_engine
from tests.conftest import PASSWORD, ApiClient


@pytest.fixture(scope="session")
def sample_files(app):
    """One real 3-second sample video under MEDIA_ROOT/samples/test (made once per session)."""
    rel = "samples/test/clip"
    dest = os.path.join(app.config["MEDIA_ROOT"], rel)
    os.makedirs(dest, exist_ok=True)
    result = media.generate_sample(dest, "测试课时", 3, subtitle="测试课程")
    return rel, result


@dataclass
class Catalogue:
    politics: int      # category 政治理论 (subject)
    auto: int          # category 汽车制造 (local)
    party: int         # published, required course with two lessons
    car: int           # published, elective course in the local module
    draft: int         # draft course, one lesson without video
    lesson: int        # first lesson of `party`
    asset: int         # its video asset


@pytest.fixture
def catalogue(app, world, sample_files) -> Catalogue:
    rel, res = sample_files
    with app.test_request_context():
        org = db.session.get(User, world.orgadmin)
        politics = services.create_category(org, code="politics", name="政治理论", kind="subject")
        auto = services.create_category(org, code="auto", name="汽车制造", kind="local")

        def course(title, cat, required, lecturer, description, lessons):
            c = services.create_course(org, services.CourseInfo(
                title=title, category_id=cat.id, lecturer=lecturer, description=description,
                class_hours=4, credits=10, required=required))
            for t in lessons:
                lesson = services.add_lesson(org, c, t, "")
                lesson.video = VideoAsset(storage_dir=rel, duration=res.duration, width=res.width,
                                          height=res.height, size_bytes=res.size_bytes, origin="sample")
            return c

        party = course("新时代党的建设总要求", politics, True, "赵建国", "全面从严治党与基层党组织建设。",
                       ["第一讲 党的政治建设", "第二讲 基层组织建设"])
        car = course("新能源汽车产业发展与政策", auto, False, "钱汽强", "本市汽车制造业的转型升级。",
                     ["第一讲 产业链", "第二讲 智能制造"])
        db.session.flush()
        services.set_course_state(org, party, CourseState.PUBLISHED)
        services.set_course_state(org, car, CourseState.PUBLISHED)
        draft = services.create_course(org, services.CourseInfo(
            title="尚未发布的课程草稿", category_id=politics.id, lecturer="孙草稿", description="草稿",
            class_hours=2, credits=5))
        services.add_lesson(org, draft, "第一讲 无视频", "")
        db.session.commit()
        get_engine().rebuild(all_docs(db.session))
        first = party.lessons[0]
        return Catalogue(politics.id, auto.id, party.id, car.id, draft.id, first.id, first.video_id)


def _cadre_login(app, user_id: int) -> ApiClient:
    with app.test_request_context():
        user = db.session.get(User, user_id)
        org = db.session.scalar(db.select(User).where(User.username == "org"))
        issued = accounts.issue_card(org, user)
        number = issued.card.number
        db.session.commit()
    client = ApiClient(app.test_client())
    assert client.login(number, issued.password).status_code == 200
    assert client.post("/api/v1/me/password", json={"old_password": issued.password,
                                                    "new_password": PASSWORD}).status_code == 204
    return client


@pytest.fixture
def cadre_api(app, world, catalogue) -> ApiClient:
    """李明, a cadre, logged in (card issued, first password changed)."""
    return _cadre_login(app, world.wb_cadre)


@pytest.fixture
def org_api(app, world) -> ApiClient:
    client = ApiClient(app.test_client())
    assert client.login("org").status_code == 200
    return client
