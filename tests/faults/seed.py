"""Seed a fault test's own database (run in a subprocess: the test process's `db.session` belongs to
the suite's rolled-back transaction). Prints one JSON line: logins and ids.

    python -m tests.faults.seed '{"url": "...", "media": "...", "cadres": 8, "completed": 4,
                                   "lessons": [10, 10], "video_seconds": 0}'

`completed` cadres have the course completed already (they go straight to the exam); with
`video_seconds` > 0 the lessons play one real sample video of that length (for the browser).
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone

PASSWORD = "Passw0rd!x"


def main(spec: dict) -> dict:
    from flask_migrate import upgrade

    from app import create_app
    from app.accounts import services as accounts
    from app.accounts.idnumber import check_digit
    from app.accounts.models import Rank, Role
    from app.accounts.passwords import hash_password
    from app.catalogue import media, search_sync, services as catalogue
    from app.catalogue.models import CourseState, VideoAsset
    from app.exams.models import ExamSetting, Question, QuestionKind
    from app.extensions import db
    from app.learning.models import CourseProgress

    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": spec["url"],
                      "MEDIA_ROOT": spec["media"], "SEARCH_INDEX_DIR": ":memory:"})
    out: dict = {"password": PASSWORD}
    with app.app_context():
        upgrade()
    with app.test_request_context():
        city = accounts.create_unit(None, "故障测试市", parent=None, code="F61")
        org = accounts.create_staff(None, username="org", name="组织部", role=Role.ORGADMIN, unit=city,
                                    password=PASSWORD)
        cat = catalogue.create_category(org, code="faults", name="故障演练", kind="subject")
        course = catalogue.create_course(org, catalogue.CourseInfo(
            title="断电与重启演练课程", category_id=cat.id, lecturer="钱稳定", description="故障测试用课程。",
            class_hours=4, credits=10, required=True))
        video = None
        if spec.get("video_seconds"):
            rel = "samples/faults/clip"
            dest = os.path.join(spec["media"], rel)
            os.makedirs(dest, exist_ok=True)
            video = (rel, media.generate_sample(dest, "故障演练", int(spec["video_seconds"]), subtitle="播放器重试"))
        for n, seconds in enumerate(spec["lessons"], start=1):
            lesson = catalogue.add_lesson(org, course, f"第{n}讲 稳定运行", "")
            if video:
                rel, res = video
                lesson.video = VideoAsset(storage_dir=rel, duration=res.duration, width=res.width, height=res.height,
                                          size_bytes=res.size_bytes, origin="sample")
            else:
                lesson.video = VideoAsset(storage_dir=f"none/{n}", duration=float(seconds), width=640, height=360,
                                          size_bytes=1, origin="sample")
        db.session.flush()
        catalogue.set_course_state(org, course, CourseState.PUBLISHED)
        # Five true/false questions whose answer is T: all "T" passes (100), all "F" fails (0).
        db.session.add(ExamSetting(course_id=course.id, question_count=5, time_limit_minutes=30, pass_mark=60,
                                   attempts_per_day=0, attempts_total=0))
        for pos in range(1, 6):
            db.session.add(Question(course_id=course.id, position=pos, kind=QuestionKind.TRUEFALSE,
                                    stem=f"判断题第{pos}题:系统断电后已确认的记录不会丢失。", options=[], answer="T",
                                    explanation="已提交的事务是持久的。"))
        cards = []
        pw_hash = hash_password(PASSWORD)
        for i in range(int(spec["cadres"])):
            first17 = f"610302199001{i % 28 + 1:02d}{i:03d}"
            user = accounts.register_cadre(org, accounts.CadreInfo(
                name=f"演练学员{i + 1}", id_number=first17 + check_digit(first17), unit_id=city.id, rank=Rank.OTHER))
            issued = accounts.issue_card(org, user)
            user.password_hash = pw_hash
            user.must_change_password = False
            if i < int(spec.get("completed", 0)):
                db.session.add(CourseProgress(user_id=user.id, course_id=course.id, lessons_completed=len(spec["lessons"]),
                                              completed_at=datetime(2026, 11, 1, tzinfo=timezone.utc)))
            cards.append({"user_id": user.id, "card": issued.card.number})
        db.session.info.pop(search_sync._KEY, None)  # nothing here searches the catalogue: no index to build
        db.session.commit()
        out.update(course_id=course.id, lessons=[lesson.id for lesson in course.lessons],
                   durations=[float(lesson.video.duration) for lesson in course.lessons], cadres=cards)
    with app.app_context():
        db.engine.dispose()
    return out


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
    sys.stdout.flush()
