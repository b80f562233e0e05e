"""The demo city: a unit tree, staff of every role and ~200 cadres with issued cards."""
from __future__ import annotations

import random
from datetime import date

from flask import current_app
from sqlalchemy import func, select

from app.accounts import services
from app.accounts.idnumber import check_digit
from app.accounts.models import Rank, Role, Unit, User
from app.accounts.passwords import hash_password
from app.extensions import db

CITY = ("宝鸡市", "6103")
DISTRICTS = [
    ("市直机关", "610301", "sz", ["市委组织部", "市财政局", "市教育局", "市发改委", "市卫健委"]),
    ("渭滨区", "610302", "wb", ["区委组织部", "区财政局", "区教育局", "区卫健局", "区农业农村局"]),
    ("金台区", "610303", "jt", ["区委组织部", "区财政局", "区教育局", "区卫健局"]),
    ("陈仓区", "610304", "cc", ["区委组织部", "区财政局", "区教育局", "区水利局"]),
    ("凤翔区", "610305", "fx", ["区委组织部", "区财政局", "区文旅局"]),
    ("岐山县", "610323", "qs", ["县委组织部", "县财政局", "县教育局"]),
]
SECTIONS = {"市委组织部": ["干部教育科", "干部一科"], "区委组织部": ["干部教育股"]}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌海波宁晨阳浩然子涵欣怡思远佳琪博文宇航雨萱梓轩俊杰晓东春燕秋菊冬梅立新卫东向阳振华"
POSITIONS = ["科员", "副科长", "科长", "副主任科员", "主任科员", "四级调研员", "副局长", "局长", "办公室主任"]

STAFF_DISTRICTS = {"sz", "wb", "jt"}


def make_id_number(rng: random.Random, region: str) -> str:
    born = date(rng.randint(1965, 1998), rng.randint(1, 12), rng.randint(1, 28))
    seq = f"{rng.randint(0, 99):02d}{rng.randint(0, 9)}"
    first17 = f"{region}{born:%Y%m%d}{seq}"
    return first17 + check_digit(first17)


def seed_demo(*, cadres: int = 200, seed: int = 2026) -> dict:
    """Create the demo city in an empty database; returns the logins to print."""
    if db.session.scalar(select(func.count(Unit.id))):
        raise RuntimeError("database is not empty")
    rng = random.Random(seed)
    password = current_app.config["DEMO_PASSWORD"]
    city = services.create_unit(None, CITY[0], parent=None, code=CITY[1])
    admin = services.create_staff(None, username="admin", name="组织部管理员", role=Role.ORGADMIN, unit=city,
                                  password=password)
    logins = [("组织部管理员 org admin", "admin", password)]
    leaf_units: list[tuple[Unit, str]] = []
    netadmins: dict[str, User] = {}
    for dname, region, short, bureaus in DISTRICTS:
        d = services.create_unit(admin, dname, parent=city, code=region)
        leaf_units.append((d, region))
        for i, bname in enumerate(bureaus, 1):
            b = services.create_unit(admin, f"{dname}{bname}" if short != "sz" else bname, parent=d,
                                     code=f"{region}{i:02d}")
            leaf_units.append((b, region))
            for j, sname in enumerate(SECTIONS.get(bname, []), 1):
                s = services.create_unit(admin, sname, parent=b, code=f"{region}{i:02d}{j:02d}")
                leaf_units.append((s, region))
        if short in STAFF_DISTRICTS:
            netadmins[short] = services.create_staff(admin, username=f"{short}_admin", name=f"{dname}网络管理员",
                                                     role=Role.NETADMIN, unit=d, password=password)
            services.create_staff(admin, username=f"{short}_viewer", name=f"{dname}干部科", role=Role.VIEWER,
                                  unit=d, password=password)
            logins.append((f"{dname} 网络管理员 network admin", f"{short}_admin", password))
            logins.append((f"{dname} 部门查看 viewer", f"{short}_viewer", password))
    # One hash for every demo cadre (same demo password): argon2 200 times would take a while.
    # The initial passwords drawn while issuing are thrown away, so they are hashed cheaply.
    demo_hash = hash_password(password)
    cfg = current_app.config
    saved = cfg.get("ARGON2_TIME_COST"), cfg.get("ARGON2_MEMORY_COST")
    cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"] = 1, 1024
    seen: set[str] = set()
    first_cards = []
    roster: list[tuple[User, str]] = []
    for n in range(cadres):
        unit, region = rng.choice(leaf_units)
        id_number = make_id_number(rng, region)
        while id_number in seen:
            id_number = make_id_number(rng, region)
        seen.add(id_number)
        rank = rng.choices([Rank.COUNTY, Rank.TOWNSHIP, Rank.OTHER], weights=[1, 4, 5])[0]
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        user = services.register_cadre(admin, services.CadreInfo(
            name=name, id_number=id_number, unit_id=unit.id, rank=rank,
            position=rng.choice(POSITIONS), phone=f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"))
        issuer = admin
        for short, na in netadmins.items():
            if unit.path.startswith(na.unit.path):
                issuer = na
        issued = services.issue_card(issuer, user)
        user.password_hash = demo_hash
        roster.append((user, issued.card.number))
        if len(first_cards) < 3:
            first_cards.append((user.name, issued.card.display_number))
    cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"] = saved[0] or 3, saved[1] or 65536
    for name, number in first_cards:
        logins.append((f"学员 cadre {name}", number, password))
    db.session.flush()
    seed_demo_credits(rng, admin, netadmins, roster)
    return {"logins": logins, "units": db.session.scalar(select(func.count(Unit.id))), "cadres": cadres}




# --- credits ----------------------------------------------------------------------------------

# A one-page PDF standing in for a scanned attendance sheet or certificate.
_DEMO_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
             b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
TRAINING_CLASSES = [  # name, organiser, days, share of the district's cadres, days before today it ended
    ("中青年干部培训班", "市委党校", 6, 0.6, 160),
    ("学习贯彻党的二十届四中全会精神专题培训班", "市委组织部", 3, 0.75, 60),
    ("基层治理能力提升专题研讨班", "区委党校", 5, 0.55, 100),
    ("党纪学习教育读书班", "市纪委监委", 4, 0.5, 200),
    ("县处级干部进修班", "省委党校", 10, 0.25, 240),
    ("保密知识专题讲座", "市保密局", 2, 0.3, 30),
]
# How keen each recorder's district is (a lagging district makes the assessment page worth reading).
ZEAL = {"sz": 1.15, "wb": 1.0, "jt": 0.75}
APPLICATIONS = [  # kind, level, title, state to leave it in
    ("award", "second", "全市优秀调研报告评选二等奖", "approved"),
    ("article", "sole", "《关于提升基层治理效能的几点思考》(发表于《宝鸡日报》)", "approved"),
    ("book", "co", "《乡村振兴实践案例选编》(合著)", "reviewed"),
    ("award", "honour", "全市机关党建工作优秀奖", "submitted"),
    ("article", "co", "《数字政府建设的宝鸡实践》(合撰)", "submitted"),
    ("award", "first", "全省档案工作先进个人(一等奖)", "rejected"),
]


def seed_demo_credits(rng: random.Random, admin: User, netadmins: dict[str, User],
                      roster: list[tuple[User, str]]) -> None:
    """A year of credits through the real workflows: offline training classes recorded by the
    administrators (with an attendance sheet), and applications at every stage of their review.
    The first cadre of the printed logins takes part in both, so their credit page has content."""
    from datetime import timedelta

    from app.credits import applications, evidence, services as credits, training

    today = credits.today()
    recorders = [(na, ZEAL.get(short, 1.0), [(u, n) for u, n in roster if u.unit.path.startswith(na.unit.path)])
                 for short, na in netadmins.items()]
    covered = {u.id for _na, _z, members in recorders for u, _n in members}
    recorders.append((admin, 1.15, [(u, n) for u, n in roster if u.id not in covered]))
    first = roster[0][0].id if roster else None
    for recorder, zeal, members in recorders:
        for name, organiser, days, share, ago in TRAINING_CLASSES:
            chosen = [(u, n) for u, n in members if (u.id == first and days < 10) or rng.random() < share * zeal]
            if not chosen:
                continue
            end = today - timedelta(days=min(ago, today.timetuple().tm_yday - 1))
            # a record lists at most training.MAX_CADRES cadres: a big district's class runs in sessions
            batches = [chosen[i:i + training.MAX_CADRES] for i in range(0, len(chosen), training.MAX_CADRES)]
            for k, batch in enumerate(batches, start=1):
                title = name if len(batches) == 1 else f"{name}(第{k}期)"
                sheet = evidence.store_evidence(f"{title}签到表.pdf", _DEMO_PDF)
                training.record_training(recorder, name=title, organiser=organiser,
                                         start_date=end - timedelta(days=days - 1), end_date=end, days=days,
                                         cadre_lines="\n".join(n for _u, n in batch), evidence=sheet)
    org = admin
    for i, (kind, level, title, state) in enumerate(APPLICATIONS):
        user = roster[0][0] if i == 0 else roster[(i * 17) % len(roster)][0]
        proof = evidence.store_evidence("证明材料.pdf", _DEMO_PDF)
        app_ = applications.apply(user, kind=kind, level=level, title=title, details="演示数据",
                                  event_date=today - timedelta(days=20 + 9 * i), evidence=proof)
        reviewer = next((na for na in netadmins.values() if user.unit.path.startswith(na.unit.path)), org)
        if state in ("reviewed", "approved", "rejected"):
            applications.review(reviewer, app_.id, forward=True, comment="材料齐全,同意上报")
        if state == "approved":
            applications.decide(org, app_.id, approve=True)
        elif state == "rejected":
            applications.decide(org, app_.id, approve=False, reason="奖项级别为省级表彰,请按表彰奖励的等次重新申报")


# --- exams and papers ---------------------------------------------------------------------------

PAPERS = [  # title, state to leave it in
    ("基层党组织标准化建设的实践与思考", "approved"),
    ("以数字化推动基层治理现代化的几点体会", "returned"),
    ("新时代干部担当作为的激励机制研究", "submitted"),
    ("学习《习近平谈治国理政》的心得体会", "submitted"),
]
_PAPER_TEXT = ("本文结合本单位工作实际,围绕课程所学内容谈几点体会。一是提高政治站位,把学习成果转化为推动工作的实际行动;"
               "二是坚持问题导向,针对群众急难愁盼问题拿出务实举措;三是健全工作机制,以制度保障学习常态化、长效化。"
               "在今后的工作中,将继续深化学习,不断提升履职能力和服务水平。") * 2


def seed_demo_exams(*, seed: int = 2026) -> dict:
    """Exams and papers over the imported courses through the real services, at past dates: some
    cadres completed courses and sat their exams (some failed first, a few ran out of time),
    papers at every stage of review. The first three printed cadres are left for their own
    first steps. Needs the demo city and the course packages."""
    from datetime import timedelta

    from app.catalogue.models import Course, CourseState
    from app.exams import papers, services as exams
    from app.exams.models import ExamAttempt, ExamSetting
    from app.learning import services as learning
    from app.learning.models import CourseProgress

    if db.session.scalar(select(func.count(ExamAttempt.id))):
        raise RuntimeError("exams already seeded")
    rng = random.Random(seed)
    courses = list(db.session.scalars(select(Course).join(ExamSetting, ExamSetting.course_id == Course.id).where(
        Course.state == CourseState.PUBLISHED).order_by(Course.id)))
    courses = [c for c in courses if exams.shortfall(exams.get_setting(c.id), exams.pool_of(c.id)) is None]
    if not courses:
        raise RuntimeError("no published course with an exam: import the course packages first")
    cadres = list(db.session.scalars(select(User).where(User.role == Role.CADRE).order_by(User.id)))[3:]
    admin = db.session.scalar(select(User).where(User.role == Role.ORGADMIN).order_by(User.id))
    real_now = learning.now
    # office hours in Beijing (00:30–09:30 UTC)
    t0 = (real_now() - timedelta(days=150)).replace(hour=0, minute=30, second=0, microsecond=0)

    def days_ago(n: int, hour: int = 2):
        t = (real_now() - timedelta(days=n)).replace(hour=hour, minute=15, second=0, microsecond=0)
        return lambda: t

    sat = passed = 0
    try:
        for user in cadres:
            if rng.random() > 0.45:
                continue
            skill = rng.uniform(0.45, 0.98)
            for course in rng.sample(courses, min(len(courses), rng.randint(1, 4))):
                when = t0 + timedelta(days=rng.uniform(0, 140), hours=rng.uniform(0, 9))
                db.session.add(CourseProgress(user_id=user.id, course_id=course.id, lessons_completed=len(course.lessons),
                                              started_at=when - timedelta(days=3), updated_at=when, completed_at=when))
                db.session.flush()
                for handler in learning.COURSE_COMPLETED:
                    handler(user.id, course.id, when)
                for _try in range(3):
                    when += timedelta(hours=rng.uniform(0.5, 30))
                    learning.now = lambda w=when: w
                    attempt, _created = exams.start_attempt(user, course.id)
                    answers = {}
                    for item in attempt.items:
                        right = exams.to_shown(item, item.question.answer)
                        if rng.random() < skill:
                            answers[str(item.position)] = right
                        else:
                            letters = exams.LETTERS[:len(item.option_order)] if item.question.options else "TF"
                            answers[str(item.position)] = next((ch for ch in letters if ch not in right), right[:1])
                    late = rng.random() < 0.04
                    handed_in = when + timedelta(minutes=rng.uniform(6, attempt.time_limit_minutes - 1))
                    learning.now = lambda w=handed_in: w
                    if late:  # saved half, then left: the sweep closes it at the deadline
                        half = dict(list(answers.items())[: len(answers) // 2])
                        exams.save_answers(user, attempt.id, half)
                        learning.now = lambda w=when: w + timedelta(hours=2)
                        exams.close_overdue_attempts()
                    else:
                        exams.submit_attempt(user, attempt.id, answers)
                    sat += 1
                    if attempt.passed:
                        passed += 1
                        break
                    skill = min(0.98, skill + 0.15)
        learning.now = days_ago(20)
        authors = [u for u in cadres if rng.random() < 0.5][: len(PAPERS)]
        for (title, state), user in zip(PAPERS, authors, strict=False):
            course = rng.choice(courses)
            paper = papers.submit_paper(user, course_id=course.id, title=title, body=_PAPER_TEXT, stored=None)
            if state in ("approved", "returned"):
                learning.now = days_ago(12, 3)
                papers.review_paper(admin, paper.id, approve=False,
                                    comment="论点还可以更聚焦,请结合本单位的具体案例补充第二部分。")
                learning.now = days_ago(8, 6)
                if state == "approved":
                    papers.revise_paper(user, paper.id, title=title, body=_PAPER_TEXT + "\n\n(修改稿)补充了本单位的实践案例。",
                                        stored=None)
                    learning.now = days_ago(3, 7)
                    papers.review_paper(admin, paper.id, approve=True, score=88)
            learning.now = days_ago(20)
    finally:
        learning.now = real_now
    db.session.flush()
    return {"attempts": sat, "passed": passed, "papers": min(len(PAPERS), len(authors))}
