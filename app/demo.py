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
        if len(first_cards) < 3:
            first_cards.append((user.name, issued.card.display_number))
    cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"] = saved[0] or 3, saved[1] or 65536
    for name, number in first_cards:
        logins.append((f"学员 cadre {name}", number, password))
    db.session.flush()
    return {"logins": logins, "units": db.session.scalar(select(func.count(Unit.id))), "cadres": cadres}


