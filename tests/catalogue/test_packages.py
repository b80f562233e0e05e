"""Course packages: validation names file and field; importing is idempotent; real sample videos."""
from __future__ import annotations

import os
import shutil
import textwrap

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.catalogue.models import Category, Course, CourseState, Lesson
from app.catalogue.packages import import_catalogue, read_catalogue
from app.exams.models import ExamSetting, Question
from app.extensions import db

REPO_COURSES = os.path.join(os.path.dirname(__file__), "..", "..", "courses")

COURSE = textwrap.dedent("""\
    title = "测试课程:依法行政"
    category = "law-test"
    lecturer = "周法"
    description = "用于测试的课程包,讲授依法行政的基本要求。"
    class_hours = 3
    credits = 8
    required = false
    target_ranks = ["county", "other"]

    [exam]
    question_count = 2
    time_limit_minutes = 20
    pass_mark = 60

    [[lessons]]
    title = "第一讲 职权法定"
    sample_video_seconds = 2

    [[lessons]]
    title = "第二讲 程序正当"
    sample_video_seconds = 2
    """)

QUESTIONS = textwrap.dedent("""\
    [[questions]]
    type = "single"
    stem = "依法行政的核心要求是?"
    options = ["职权法定", "随意决策"]
    answer = "A"
    explanation = "行政机关的职权来自法律授权。"

    [[questions]]
    type = "truefalse"
    stem = "程序正当是依法行政的要求之一。"
    answer = true
    explanation = "程序正当是基本要求。"

    [[questions]]
    type = "multiple"
    stem = "以下哪些属于依法行政的基本要求?"
    options = ["合法行政", "合理行政", "程序正当", "越权行政"]
    answer = "ABC"
    explanation = "越权行政违反职权法定。"
    """)


def make_root(tmp_path, course=COURSE, questions=QUESTIONS, code="rule-of-law-test"):
    root = tmp_path / "courses"
    (root / code).mkdir(parents=True)
    shutil.copytree(os.path.join(REPO_COURSES, "schema"), root / "schema")
    (root / "categories.toml").write_text('[[categories]]\ncode = "law-test"\nname = "法治测试"\nkind = "subject"\n',
                                          encoding="utf-8")
    (root / code / "course.toml").write_text(course, encoding="utf-8")
    (root / code / "questions.toml").write_text(questions, encoding="utf-8")
    return root


def test_bad_field_is_reported_with_file_and_field_and_nothing_is_written(ctx, tmp_path):
    root = make_root(tmp_path, course=COURSE.replace("credits = 8", "credits = 30"),
                     questions=QUESTIONS.replace('answer = "A"', 'answer = "C"'))
    report = import_catalogue(str(root), make_videos=False)
    assert not report.ok
    messages = [str(e) for e in report.errors]
    assert any(m.startswith("rule-of-law-test/course.toml: credits: 大于允许的最大值") for m in messages), messages
    assert any(m.startswith("rule-of-law-test/questions.toml: questions[1].answer:") for m in messages), messages
    assert db.session.scalar(select(func.count(Course.id))) == 0
    assert db.session.scalar(select(func.count(Category.id))) == 0


def test_missing_field_unknown_key_and_unknown_category_are_named(ctx, tmp_path):
    course = COURSE.replace('lecturer = "周法"\n', 'lecturer_name = "周法"\n').replace('"law-test"', '"no-such"')
    report = import_catalogue(str(make_root(tmp_path, course=course)), make_videos=False)
    fields = {(e.file, e.field) for e in report.errors}
    assert ("rule-of-law-test/course.toml", "lecturer") in fields
    assert ("rule-of-law-test/course.toml", "lecturer_name") in fields
    report = import_catalogue(str(make_root(tmp_path / "b", course=COURSE.replace('"law-test"', '"no-such"'))),
                              make_videos=False)
    assert [(e.field, "no-such" in e.reason) for e in report.errors] == [("category", True)]


def test_syntax_error_names_the_file(ctx, tmp_path):
    report = import_catalogue(str(make_root(tmp_path, questions="[[questions]\n")), make_videos=False)
    assert report.errors[0].file == "rule-of-law-test/questions.toml"
    assert "TOML" in report.errors[0].reason


def test_package_import_generates_videos_publishes_and_is_idempotent(ctx, tmp_path, app):
    root = make_root(tmp_path)
    first = import_catalogue(str(root))
    assert first.ok and first.created == 1 and first.videos_made == 2
    db.session.commit()
    course = db.session.scalar(select(Course).where(Course.code == "rule-of-law-test"))
    assert course.state == CourseState.PUBLISHED and course.credits == 8 and course.rank_list == ["county", "other"]
    assert [lesson.title for lesson in course.lessons] == ["第一讲 职权法定", "第二讲 程序正当"]
    for lesson in course.lessons:
        assert os.path.getsize(os.path.join(app.config["MEDIA_ROOT"], lesson.video.video_relpath)) > 1000
        assert 1.5 < lesson.video.duration < 2.6
    assert db.session.get(ExamSetting, course.id).question_count == 2
    answers = [q.answer for q in db.session.scalars(select(Question).where(Question.course_id == course.id)
                                                   .order_by(Question.position))]
    assert answers == ["A", "T", "ABC"]
    events = db.session.scalar(select(func.count(AuditEvent.id)))

    again = import_catalogue(str(root))
    assert (again.created, again.updated, again.unchanged, again.videos_made) == (0, 0, 1, 0)
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events
    assert db.session.scalar(select(func.count(Lesson.id))) == 2

    # A changed package updates its course in place: the edited question keeps its row, the
    # dropped one is retired, unchanged lessons keep their videos.
    q_ids = {q.position: q.id for q in db.session.scalars(select(Question).where(Question.course_id == course.id))}
    video_ids = [lesson.video_id for lesson in course.lessons]
    changed = QUESTIONS.replace("依法行政的核心要求是?", "依法行政的首要要求是?")
    changed = changed[: changed.index('[[questions]]\ntype = "multiple"')]
    (root / "rule-of-law-test" / "questions.toml").write_text(changed, encoding="utf-8")
    (root / "rule-of-law-test" / "course.toml").write_text(COURSE.replace("credits = 8", "credits = 12"),
                                                           encoding="utf-8")
    third = import_catalogue(str(root))
    assert (third.updated, third.videos_made) == (1, 0)
    db.session.commit()
    assert course.credits == 12
    q1 = db.session.get(Question, q_ids[1])
    assert q1.stem == "依法行政的首要要求是?"
    assert db.session.get(Question, q_ids[3]).retired_at is not None
    assert [lesson.video_id for lesson in course.lessons] == video_ids


def test_sample_catalogue_is_valid_covers_every_category_and_imports_twice_without_change(ctx):
    cats, packages, errors = read_catalogue(REPO_COURSES)
    assert errors == []
    assert len(packages) >= 40
    assert {c["code"] for c in cats} == {p.course["category"] for p in packages}
    assert sum(1 for c in cats if c["kind"] == "subject") >= 30
    assert {c["name"] for c in cats if c["kind"] == "local"} >= {"汽车制造", "现代农业", "水电开发", "生物制药", "旅游经济"}
    for p in packages:
        assert len(p.course["lessons"]) >= 2 and len(p.questions) >= 10, p.code
        assert all(60 <= lesson["sample_video_seconds"] <= 180 for lesson in p.course["lessons"]), p.code

    first = import_catalogue(REPO_COURSES, make_videos=False)
    assert first.ok and first.created == len(packages)
    db.session.commit()
    snapshot = db.session.execute(select(Course.id, Course.updated_at, Course.package_hash).order_by(Course.id)).all()
    questions = db.session.scalar(select(func.count(Question.id)))
    events = db.session.scalar(select(func.count(AuditEvent.id)))
    second = import_catalogue(REPO_COURSES, make_videos=False)
    db.session.commit()
    assert (second.created, second.updated, second.unchanged) == (0, 0, len(packages))
    assert db.session.execute(select(Course.id, Course.updated_at, Course.package_hash).order_by(Course.id)).all() == snapshot
    assert db.session.scalar(select(func.count(Question.id))) == questions
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events


def test_cli_reports_errors_and_exit_code(app, tmp_path):
    root = make_root(tmp_path, course=COURSE.replace("class_hours = 3", 'class_hours = "三"'))
    result = app.test_cli_runner().invoke(args=["courses", "import", str(root), "--no-videos"])
    assert result.exit_code != 0
    assert "rule-of-law-test/course.toml: class_hours: 类型不对" in result.output


def test_reimport_keeps_uploads_retirement_and_lessons_the_package_dropped(ctx, tmp_path, world):
    from app.accounts.models import User
    from app.catalogue import services
    from app.catalogue.models import VideoAsset

    root = make_root(tmp_path)
    assert import_catalogue(str(root)).ok
    db.session.commit()
    org = db.session.get(User, world.orgadmin)
    course = db.session.scalar(select(Course).where(Course.code == "rule-of-law-test"))
    lesson1 = course.lessons[0]
    uploaded = VideoAsset(storage_dir=lesson1.video.storage_dir, duration=2, width=640, height=360,
                          size_bytes=1, origin="upload")
    lesson1.video, lesson1.video_source = uploaded, "upload:1"
    services.update_course(org, course, {"title": "依法行政(管理员改名)"})
    services.set_course_state(org, course, CourseState.RETIRED)
    db.session.commit()

    again = import_catalogue(str(root))
    assert (again.unchanged, again.updated, again.videos_made) == (1, 0, 0)
    db.session.commit()
    assert course.state == CourseState.RETIRED and course.title == "依法行政(管理员改名)"
    assert course.lessons[0].video_id == uploaded.id

    # the package changes and drops lesson 2: fields follow the package, the retirement, the
    # upload and the dropped lesson stay
    one_lesson = COURSE.replace("credits = 8", "credits = 9")
    one_lesson = one_lesson[: one_lesson.index('[[lessons]]\ntitle = "第二讲')]
    (root / "rule-of-law-test" / "course.toml").write_text(one_lesson, encoding="utf-8")
    changed = import_catalogue(str(root))
    assert changed.updated == 1 and changed.ok
    assert [w.field for w in changed.warnings] == ["lessons"] and "第 2 课时" in changed.warnings[0].reason
    db.session.commit()
    assert course.credits == 9 and course.title == "测试课程:依法行政"
    assert course.state == CourseState.RETIRED
    assert len(course.lessons) == 2 and course.lessons[0].video_id == uploaded.id
