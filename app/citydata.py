"""A city-sized dataset for reports and benchmarks (`flask demo --size city`): ~300 units, tens of
thousands of cadres with cards, the full catalogue, and a year of study written the way the
platform writes it (lesson and course progress, daily roll-ups of study time and time online,
exam attempts with their papers, the ledger's entries, offline training classes), with realistic
variation: some units lag, some cadres study little, most qualify.

Rows are bulk-inserted in chunks (services would take hours at this size); every figure follows
the platform's own rules, so that reports computed on it mean what they say. Generated cadres are
not audited one by one: the run is recorded as one audit event."""
from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

from flask import current_app
from sqlalchemy import func, insert, select, text

from app.accounts import services as accounts
from app.accounts.models import (
    Cadre, CardState, Gender, Rank, RegistrationKind, Role, StudyCard, Unit, User,
)
from app.accounts.passwords import hash_password
from app.audit.services import record_event
from app.catalogue.models import Course, CourseState, VideoAsset
from app.credits.models import CATEGORY_OF, CreditEntry, CreditKind, TrainingAttendance, TrainingClass
from app.exams.models import AttemptEnd, AttemptItem, ExamAttempt, ExamSetting, Question, QuestionKind
from app.exams.services import KIND_ORDER, draw_paper
from app.extensions import db
from app.learning.models import CourseProgress, LessonProgress, OnlineDay, StudyDay

DISTRICTS = [  # name, region code, number of sub-units, zeal (how keen the district is)
    ("渭滨区", "610302", 26, 1.05), ("金台区", "610303", 25, 0.95), ("陈仓区", "610304", 27, 1.0),
    ("凤翔区", "610305", 24, 0.9), ("岐山县", "610323", 23, 1.1), ("扶风县", "610324", 23, 0.8),
    ("眉县", "610326", 22, 1.0), ("陇县", "610327", 22, 0.7), ("千阳县", "610328", 21, 1.0),
    ("麟游县", "610329", 21, 0.85), ("凤县", "610330", 21, 1.05), ("太白县", "610331", 20, 0.95),
]
SUB_UNITS = ["委办公室", "组织部", "宣传部", "统战部", "政法委", "纪委监委", "发展和改革局", "教育局", "公安局",
             "民政局", "司法局", "财政局", "人力资源和社会保障局", "自然资源局", "生态环境局", "住房和城乡建设局",
             "交通运输局", "水利局", "农业农村局", "商务局", "文化和旅游局", "卫生健康局", "应急管理局", "审计局",
             "市场监督管理局", "统计局", "医疗保障局"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌宏波辉玲鹏飞云峰海燕亮晨雪梅鑫宇浩然"
POSITIONS = ["科员", "副科长", "科长", "副主任", "主任", "副局长", "局长", "副镇长", "镇长", "党委委员"]
TRAININGS = [("中青年干部培训班", "市委党校", 5), ("学习贯彻党的二十届四中全会精神专题培训班", "市委组织部", 3),
             ("基层治理能力提升专题研讨班", "区县委党校", 4), ("县处级干部进修班", "省委党校", 10)]
CHUNK = 1000
LESSON_SECONDS_PER_HOUR = 2700  # a class hour (学时) of video is 45 minutes


def _tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _id_number(rng: random.Random, region: str, born: date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _reset_sequences() -> None:
    """After rows with explicit ids, PostgreSQL's sequences must move past them."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in ("units", "users", "study_cards", "lessons", "video_assets", "course_progress", "lesson_progress",
                  "study_days", "online_days", "exam_attempts", "exam_attempt_items", "credit_entries",
                  "training_classes", "training_attendances"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))


class _Ids:
    """Explicit ids for bulk inserts, from each table's current maximum."""

    def __init__(self):
        self.next: dict[str, int] = {}

    def take(self, model) -> int:
        name = model.__tablename__
        if name not in self.next:
            self.next[name] = (db.session.scalar(select(func.max(model.id))) or 0) + 1
        n = self.next[name]
        self.next[name] = n + 1
        return n


def _catalogue(courses_dir: str, log: Callable[[str], None]) -> list[Course]:
    """The full catalogue, metadata from the course packages; every lesson given a video of the
    course's declared length (one shared sample clip is what plays)."""
    from app.catalogue import media
    from app.catalogue.packages import import_catalogue

    report = import_catalogue(courses_dir, make_videos=False)
    if report.errors:
        raise RuntimeError(f"course packages have errors: {report.errors[:3]}")
    rel = "samples/city/clip"
    dest = os.path.join(current_app.config["MEDIA_ROOT"] or os.path.join(current_app.root_path, os.pardir, "media"),
                        rel)
    if not os.path.exists(os.path.join(dest, "video.mp4")):
        os.makedirs(dest, exist_ok=True)
        media.generate_sample(dest, "示例课时", 3, subtitle="城市数据集")
    courses = list(db.session.scalars(select(Course).order_by(Course.id)))
    now = datetime.now(timezone.utc)
    for course in courses:
        per_lesson = course.class_hours * LESSON_SECONDS_PER_HOUR / max(1, len(course.lessons))
        for lesson in course.lessons:
            if lesson.video is None:
                lesson.video = VideoAsset(storage_dir=rel, duration=round(per_lesson), width=640, height=360,
                                          size_bytes=0, origin="sample")
        if course.state == CourseState.DRAFT:
            course.state, course.published_at = CourseState.PUBLISHED, now
    db.session.flush()
    log(f"catalogue: {len(courses)} courses")
    return courses


def seed_city(*, cadres: int = 50_000, seed: int = 2026, year: int | None = None, courses_dir: str = "courses",
              log: Callable[[str], None] = print, commit_every: int = 0) -> dict:
    """Generate the city into an empty database. Rows are flushed in chunks of 1,000 cadres and,
    with commit_every=N, committed every N chunks (the command does; a failed run then leaves a
    partial city behind: start again on an empty database). The caller commits the rest."""
    if db.session.scalar(select(func.count(Unit.id))):
        raise RuntimeError("database is not empty")
    rng = random.Random(seed)
    tz = _tz()
    today = datetime.now(tz).date()
    year = year or today.year
    last_day = min(today, date(year, 12, 31))
    first_day = date(year, 1, 1)
    span = (last_day - first_day).days + 1
    password = current_app.config["DEMO_PASSWORD"]

    # units and staff (through the services: few rows, and they carry the audit trail)
    city = accounts.create_unit(None, "宝鸡市", parent=None, code="6103")
    admin = accounts.create_staff(None, username="admin", name="组织部管理员", role=Role.ORGADMIN, unit=city,
                                  password=password)
    cfg = current_app.config
    saved = cfg.get("ARGON2_TIME_COST"), cfg.get("ARGON2_MEMORY_COST")
    cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"] = 1, 1024
    leaves: list[tuple[Unit, str, float, User]] = []  # unit, region, zeal, its network administrator
    for d_index, (dname, region, n_sub, zeal) in enumerate(DISTRICTS):
        d = accounts.create_unit(admin, dname, parent=city, code=region)
        short = f"d{d_index + 1:02d}"
        na = accounts.create_staff(admin, username=f"{short}_admin", name=f"{dname}网络管理员", role=Role.NETADMIN,
                                   unit=d, password=password)
        accounts.create_staff(admin, username=f"{short}_viewer", name=f"{dname}干部科", role=Role.VIEWER, unit=d,
                              password=password)
        leaves.append((d, region, zeal, na))
        for i in range(n_sub):
            name = SUB_UNITS[i % len(SUB_UNITS)] if i < len(SUB_UNITS) else f"{['城关', '东关', '西关', '南关', '北关'][i % 5]}街道"
            u = accounts.create_unit(admin, f"{dname}{name}", parent=d, code=f"{region}{i + 1:02d}")
            # a few units lag far behind (the year-end 通报 has names on it)
            lag = rng.choice([0.55, 0.7]) if rng.random() < 0.08 else rng.uniform(0.9, 1.1)
            leaves.append((u, region, zeal * lag, na))
    cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"] = saved[0] or 3, saved[1] or 65536
    db.session.flush()
    n_units = db.session.scalar(select(func.count(Unit.id)))
    log(f"units: {n_units}")

    courses = _catalogue(courses_dir, log)
    settings = {s.course_id: s for s in db.session.scalars(select(ExamSetting))}
    pools: dict[int, dict[str, list[int]]] = {}
    answers: dict[int, tuple[str, str, int]] = {}
    for q in db.session.scalars(select(Question).where(Question.retired_at.is_(None)).order_by(Question.id)):
        pools.setdefault(q.course_id, {k.value: [] for k in KIND_ORDER})[q.kind.value].append(q.id)
        answers[q.id] = (q.kind.value, q.answer, 2 if q.kind == QuestionKind.TRUEFALSE else len(q.options))
    examined = [c for c in courses if c.id in settings and c.id in pools
                and sum(map(len, pools[c.id].values())) >= settings[c.id].question_count]
    lessons = {c.id: [(lesson.id, lesson.video.duration) for lesson in c.lessons] for c in courses}
    option_counts = {qid: n for qid, (_k, _a, n) in answers.items()}

    ids = _Ids()
    demo_hash = hash_password(password)
    totals: dict[str, int] = defaultdict(int)
    seen_numbers: set[str] = set()
    seen_ids: set[str] = set()
    # offline training classes: a few per district, attended by some of its cadres
    classes: dict[int, list[tuple[int, int, date]]] = defaultdict(list)  # district unit id → (class id, days, end)
    for d, _region, _z, na in [x for x in leaves if x[0].parent_id == city.id]:
        for name, organiser, days in TRAININGS:
            end = first_day + timedelta(days=rng.randint(30, max(31, span - 5)))
            end = min(end, last_day)
            cid = ids.take(TrainingClass)
            db.session.execute(insert(TrainingClass), [dict(
                id=cid, name=f"{d.name}{name}", organiser=organiser, start_date=end - timedelta(days=days - 1),
                end_date=end, days=days, unit_id=d.id, recorded_by_id=na.id,
                recorded_at=datetime.combine(end, time(9), tz))])
            classes[d.id].append((cid, days, end))
    district_of = {u.id: (u.id if u.parent_id == city.id else u.parent_id) for u, *_rest in leaves}

    def day_time(day: date, hour: float) -> datetime:
        return datetime.combine(day, time(0), tz) + timedelta(hours=hour)

    batch: dict[type, list[dict]] = defaultdict(list)

    def flush_batch() -> None:
        for model in (User, Cadre, StudyCard, CourseProgress, LessonProgress, StudyDay, OnlineDay,
                      TrainingAttendance, CreditEntry, ExamAttempt, AttemptItem):
            rows = batch.pop(model, None)
            if rows:
                db.session.execute(insert(model), rows)
                totals[model.__tablename__] += len(rows)
        db.session.flush()

    for n in range(cadres):
        unit, region, zeal, na = rng.choice(leaves)
        uid = ids.take(User)
        rank = rng.choices([Rank.COUNTY, Rank.TOWNSHIP, Rank.OTHER], weights=[1, 4, 5])[0]
        born = date(rng.randint(1966, 1998), rng.randint(1, 12), rng.randint(1, 28))
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        registered = datetime(year - 1, rng.randint(1, 12), rng.randint(1, 28), 2, tzinfo=timezone.utc)
        batch[User].append(dict(id=uid, name=name, role=Role.CADRE, unit_id=unit.id, password_hash=demo_hash,
                                must_change_password=True, is_active=True, failed_logins=0, created_at=registered))
        seq = rng.randrange(1000)
        id_number = _id_number(rng, region, born, seq)
        while id_number in seen_ids:
            seq = (seq + 1) % 1000
            id_number = _id_number(rng, region, born, seq)
        seen_ids.add(id_number)
        batch[Cadre].append(dict(user_id=uid, id_number=id_number, rank=rank,
                                 gender=rng.choice([Gender.MALE, Gender.FEMALE]), birth_date=born,
                                 position=rng.choice(POSITIONS), registration_kind=RegistrationKind.REGULAR,
                                 registered_by_id=na.id, registered_at=registered))
        number = f"86{rng.randrange(10**13, 10**14)}"
        while number in seen_numbers:
            number = f"86{rng.randrange(10**13, 10**14)}"
        seen_numbers.add(number)
        batch[StudyCard].append(dict(id=ids.take(StudyCard), number=number, user_id=uid, state=CardState.ACTIVE,
                                     issued_at=registered, issued_by_id=na.id))

        # how much this cadre studies this year: the unit's zeal times a personal factor
        keen = max(0.0, rng.gauss(1.3, 0.3)) * zeal
        if rng.random() < 0.04:
            keen = 0.0  # never logged in this year
        target = 60 * keen
        got = 0
        online: dict[date, float] = defaultdict(float)
        # offline training first (one in four), then courses until the target is met
        if keen > 0 and rng.random() < 0.25:
            cid, days, end = rng.choice(classes[district_of[unit.id]])
            aid = ids.take(TrainingAttendance)
            credits_ = 5 * days if days >= 3 else 0
            batch[TrainingAttendance].append(dict(id=aid, class_id=cid, user_id=uid, credits=credits_, hours=8 * days))
            batch[CreditEntry].append(_entry(ids, uid, CreditKind.OFFLINE_TRAINING, credits_, 8 * days,
                                             "offline_training", aid, "脱产培训", end, na.id))
            got += credits_
        picks = rng.sample(examined, len(examined))
        for course in picks:
            if got >= target and rng.random() > 0.15:
                break
            if got >= target + 30:
                break
            start = first_day + timedelta(days=rng.randrange(0, max(1, span - 3)))
            lesson_rows = lessons[course.id]
            finishes = rng.random() < 0.9
            done_lessons = lesson_rows if finishes else lesson_rows[: rng.randrange(0, len(lesson_rows))]
            day = start
            cp_seconds = 0.0
            lesson_done_at = start
            studied: dict[date, float] = defaultdict(float)
            for lid, duration in done_lessons:
                watched = duration * rng.uniform(1.0, 1.15)
                at = day_time(day, rng.uniform(1.0, 12.0))
                batch[LessonProgress].append(dict(
                    id=ids.take(LessonProgress), user_id=uid, lesson_id=lid, course_id=course.id,
                    ranges=[[0.0, float(duration)]], covered_seconds=float(duration), furthest=float(duration),
                    last_position=float(duration), credited_seconds=watched, started_at=at, updated_at=at,
                    completed_at=at))
                studied[day] += watched
                online[day] += watched + rng.uniform(300, 2400)
                cp_seconds += watched
                lesson_done_at = day
                day = min(last_day, day + timedelta(days=rng.choice((0, 1, 1, 2, 3))))
            for d_, seconds in studied.items():
                batch[StudyDay].append(dict(id=ids.take(StudyDay), user_id=uid, day=d_, course_id=course.id,
                                            seconds=seconds))
            if not done_lessons:
                continue
            completed = day_time(lesson_done_at, 11.5) if finishes else None
            batch[CourseProgress].append(dict(
                id=ids.take(CourseProgress), user_id=uid, course_id=course.id, lessons_completed=len(done_lessons),
                covered_seconds=float(sum(d for _l, d in done_lessons)), credited_seconds=cp_seconds,
                started_at=day_time(start, 1.0), updated_at=completed or day_time(lesson_done_at, 11.5),
                completed_at=completed))
            if not finishes:
                continue
            batch[CreditEntry].append(_entry(ids, uid, CreditKind.ONLINE_COURSE, 0, course.class_hours, "course_hours",
                                             course.id, course.title, lesson_done_at, None,
                                             details={"course_id": course.id}))
            # the exam: one to three attempts, better each time
            setting = settings[course.id]
            skill = min(0.98, max(0.3, rng.gauss(0.72, 0.15) * (0.8 + 0.2 * min(1.5, keen))))
            t = completed + timedelta(hours=rng.uniform(0.2, 48))
            for number in range(1, 4):
                if t.astimezone(tz).date() > last_day:
                    break
                attempt_id = ids.take(ExamAttempt)
                a_seed = rng.getrandbits(62)
                pool = pools[course.id]
                drawn = draw_paper(a_seed, pool, setting.per_type, setting.question_count, option_counts)
                correct = 0
                for pos, d in enumerate(drawn, start=1):
                    kind, answer, n_opts = answers[d.question_id]
                    right = rng.random() < skill
                    if right:
                        response = answer
                    elif kind == "truefalse":
                        response = "F" if answer == "T" else "T"
                    else:
                        wrong = [ch for ch in "ABCDEFGH"[:n_opts] if ch not in answer] or [answer[0]]
                        response = rng.choice(wrong) if kind == "single" or len(answer) == 1 else answer[0]
                        if response == answer:
                            right = True
                    correct += right
                    batch[AttemptItem].append(dict(
                        id=ids.take(AttemptItem), attempt_id=attempt_id, position=pos, question_id=d.question_id,
                        option_order=list(d.option_order), response=response, saved_at=t, points=1.0 if right else 0.0))
                total_q = len(drawn)
                score = int(correct * 100 / total_q + 0.5)
                passed = score >= setting.pass_mark
                closed = t + timedelta(minutes=rng.uniform(6, setting.time_limit_minutes - 1))
                entry_id = None
                if passed:
                    entry = _entry(ids, uid, CreditKind.ONLINE_COURSE, course.credits, 0, "course_credits", course.id,
                                   course.title, closed.astimezone(tz).date(), None,
                                   details={"course_id": course.id, "via": "exam", "via_id": attempt_id})
                    batch[CreditEntry].append(entry)
                    entry_id = entry["id"]
                    got += course.credits
                batch[ExamAttempt].append(dict(
                    id=attempt_id, user_id=uid, course_id=course.id, number=number, seed=a_seed, pool_ids=pool,
                    per_type=setting.per_type, pass_mark=setting.pass_mark,
                    time_limit_minutes=setting.time_limit_minutes, multiple_partial=False, started_at=t,
                    deadline=t + timedelta(minutes=setting.time_limit_minutes), closed_at=closed,
                    end=AttemptEnd.SUBMITTED, score=score, correct_count=correct, passed=passed, entry_id=entry_id))
                online[t.astimezone(tz).date()] += (closed - t).total_seconds()
                if passed:
                    break
                skill = min(0.98, skill + 0.12)
                t = closed + timedelta(hours=rng.uniform(1, 72))
        for day, seconds in online.items():
            batch[OnlineDay].append(dict(id=ids.take(OnlineDay), user_id=uid, day=day, seconds=seconds,
                                         last_activity_at=day_time(day, 12.0)))
        if (n + 1) % CHUNK == 0:
            flush_batch()
            if commit_every and (n + 1) % (CHUNK * commit_every) == 0:
                db.session.commit()  # one huge transaction makes SQLite's WAL (and everything) slow
            if (n + 1) % (CHUNK * 10) == 0:
                log(f"cadres: {n + 1}/{cadres}")
    flush_batch()
    _reset_sequences()
    record_event(admin, "demo.city", target_type="dataset", target_label="city", cadres=cadres, year=year,
                 seed=seed)
    db.session.flush()
    out = {"units": n_units, "cadres": cadres, "courses": len(courses), "year": year, **totals}
    log("city: " + ", ".join(f"{k} {v}" for k, v in out.items()))
    return out


def _entry(ids: _Ids, user_id: int, kind: CreditKind, credits: int, hours: int, source_type: str, source_id: int,
           title: str, earned_on: date, recorder_id: int | None, *, details: dict | None = None) -> dict:
    return dict(id=ids.take(CreditEntry), user_id=user_id, year=earned_on.year, kind=kind, category=CATEGORY_OF[kind],
                credits=credits, hours=hours, source_type=source_type, source_id=source_id, title=title[:200],
                details=details or {}, earned_on=earned_on, recorded_by_id=recorder_id,
                recorded_at=datetime.combine(earned_on, time(4), timezone.utc))
