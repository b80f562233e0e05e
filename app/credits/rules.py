"""The rule table of the credit regulation (附件三) as data: every number is a default the
organisation department can change from a given year on."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.accounts.models import Rank
from app.credits.models import ApplicationKind


@dataclass(frozen=True)
class RuleField:
    key: str
    label: object  # a lazy string
    default: int
    group: str
    minimum: int = 0
    maximum: int = 1000


GROUPS = {
    "cycle": _l("考核要求(第五条、第十七条)"),
    "offline": _l("脱产培训(第七条)"),
    "degree": _l("学历学位进修(第八条)"),
    "reward": _l("奖励学分(第九条)"),
}

FIELDS: tuple[RuleField, ...] = (
    RuleField("cycle_start_year", _l("五年周期起始年"), 2026, "cycle", 2000, 2100),
    RuleField("annual_county", _l("年度学分要求:县处级及以上"), 60, "cycle"),
    RuleField("annual_township", _l("年度学分要求:乡科级"), 60, "cycle"),
    RuleField("annual_other", _l("年度学分要求:其他"), 60, "cycle"),
    RuleField("cycle_county", _l("五年学分要求:县处级及以上"), 300, "cycle", 0, 5000),
    RuleField("cycle_township", _l("五年学分要求:乡科级"), 300, "cycle", 0, 5000),
    RuleField("cycle_other", _l("五年学分要求:其他"), 300, "cycle", 0, 5000),
    RuleField("hours_county", _l("五年学时要求:县处级及以上"), 550, "cycle", 0, 10000),
    RuleField("hours_township", _l("五年学时要求:乡科级"), 500, "cycle", 0, 10000),
    RuleField("hours_other", _l("五年学时要求:其他"), 500, "cycle", 0, 10000),
    RuleField("offline_min_days", _l("计分最少天数"), 3, "offline", 1, 30),
    RuleField("offline_per_day", _l("每天学分"), 5, "offline", 0, 100),
    RuleField("offline_hours_per_day", _l("每天学时"), 8, "offline", 0, 24),
    RuleField("degree_per_year", _l("在读每年学分"), 5, "degree"),
    RuleField("degree_doctorate", _l("取得博士学位当年加记"), 7, "degree"),
    RuleField("degree_master", _l("取得硕士学位或研究生毕业当年加记"), 6, "degree"),
    RuleField("degree_bachelor", _l("取得学士学位或本科毕业当年加记"), 5, "degree"),
    RuleField("book_sole", _l("著作:独著"), 10, "reward"),
    RuleField("book_co", _l("著作:合著"), 5, "reward"),
    RuleField("book_contributor", _l("著作:参与编写"), 3, "reward"),
    RuleField("article_sole", _l("文章:独撰"), 5, "reward"),
    RuleField("article_co", _l("文章:合撰"), 3, "reward"),
    RuleField("award_first", _l("表彰奖励:一等奖"), 5, "reward"),
    RuleField("award_second", _l("表彰奖励:二等奖"), 4, "reward"),
    RuleField("award_third", _l("表彰奖励:三等奖"), 3, "reward"),
    RuleField("award_honour", _l("表彰奖励:优秀奖"), 2, "reward"),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
DEFAULTS = {f.key: f.default for f in FIELDS}

# The levels an application of each kind may name, in the order the forms offer them.
LEVELS: dict[ApplicationKind, tuple[str, ...]] = {
    ApplicationKind.DEGREE: ("none", "doctorate", "master", "bachelor"),
    ApplicationKind.BOOK: ("sole", "co", "contributor"),
    ApplicationKind.ARTICLE: ("sole", "co"),
    ApplicationKind.AWARD: ("first", "second", "third", "honour"),
}
LEVEL_LABELS = {
    "none": _l("在读(未取得学位)"), "doctorate": _l("当年取得博士学位"), "master": _l("当年取得硕士学位或研究生毕业证书"),
    "bachelor": _l("当年取得学士学位或本科毕业证书"), "sole": _l("独著/独撰"), "co": _l("合著/合撰"),
    "contributor": _l("参与编写"), "first": _l("一等奖"), "second": _l("二等奖"), "third": _l("三等奖"),
    "honour": _l("优秀奖"),
}


_RANKS = frozenset(r.value for r in Rank)


def rank_value(rank: Rank | str) -> str:
    """'county', 'township' or 'other' (ValueError otherwise); without building an enum per call,
    which a city-wide assessment of 50,000 cadres would feel."""
    if isinstance(rank, Rank):
        return rank.value
    if rank in _RANKS:
        return rank
    return Rank(rank).value


@dataclass(frozen=True)
class Rules:
    """The rules in force for one year."""

    values: dict

    def __getattr__(self, key: str) -> int:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None

    def annual(self, rank: Rank | str) -> int:
        return self.values[f"annual_{rank_value(rank)}"]

    def cycle(self, rank: Rank | str) -> int:
        return self.values[f"cycle_{rank_value(rank)}"]

    def cycle_hours(self, rank: Rank | str) -> int:
        return self.values[f"hours_{rank_value(rank)}"]

    def cycle_of(self, year: int) -> tuple[int, int]:
        """First and last year of the five-year cycle containing `year`."""
        first = self.cycle_start_year + (year - self.cycle_start_year) // 5 * 5
        return first, first + 4

    def offline(self, days: int) -> tuple[int, int]:
        """Credits and class hours for `days` days of offline training: credits only from the
        minimum number of days up (第七条: 3天以上(含3天) 每天5学分)."""
        credits = days * self.offline_per_day if days >= self.offline_min_days else 0
        return credits, days * self.offline_hours_per_day

    def application_amount(self, kind: ApplicationKind | str, level: str) -> int:
        kind = ApplicationKind(kind)
        if level not in LEVELS[kind]:
            raise ValueError(level)
        if kind == ApplicationKind.DEGREE:
            return self.degree_per_year + (0 if level == "none" else self.values[f"degree_{level}"])
        return self.values[f"{kind.value}_{level}"]


def validate_values(raw: dict) -> tuple[dict, dict[str, str]]:
    """Whole numbers within each field's range; returns (values, errors by key)."""
    values, errors = {}, {}
    for f in FIELDS:
        v = raw.get(f.key, f.default)
        if isinstance(v, bool) or not isinstance(v, int):
            try:
                v = int(str(v).strip())
            except ValueError:
                errors[f.key] = str(_l("请填写整数"))
                continue
        if not f.minimum <= v <= f.maximum:
            errors[f.key] = str(_l("应在 %(min)d 到 %(max)d 之间", min=f.minimum, max=f.maximum))
            continue
        values[f.key] = v
    unknown = set(raw) - set(FIELD_BY_KEY)
    for key in unknown:
        errors[key] = str(_l("未知的规则项"))
    return values, errors
