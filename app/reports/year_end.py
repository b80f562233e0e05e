"""The year-end assessment report of a unit (年度学分考核报表) as one file: the summary, every unit of
the subtree with its qualified rate and the one-third flag (第十八条), every cadre's result (carry-over
included) and the unqualified list for the 通报. The numbers are those of credits.assess_unit."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import Unit, User
from app.credits import services as credits
from app.credits.labels import RANK_LABELS
from app.extensions import db
from app.reports.unit import Figures, pct, subtree_totals

Progress = Callable[[int, str], None]  # (percent, stage)


def _noop(percent: int, stage: str) -> None:
    pass


def counting(rows: Iterable, total: int, progress: Progress, start: int, end: int, stage: str,
             every: int = 2000) -> Iterator:
    """Yield `total` rows, telling progress (from start to end percent) every `every` rows."""
    for n, row in enumerate(rows, start=1):
        if n % every == 0 and total:
            progress(start + (end - start) * n // total, stage)
        yield row


def year_end_sheets(actor: User, unit: Unit, year: int, *, as_of: date | None = None,
                    progress: Progress = _noop) -> list:
    """The report's sheets (title, headers, rows); rows of the long sheets are generators that report
    progress while the file is written."""
    progress(5, _("计算考核结果"))
    ua = credits.assess_unit(actor, unit, year)
    progress(50, _("汇总各单位"))
    units = list(db.session.scalars(select(Unit).where(Unit.path.startswith(unit.path)).order_by(Unit.path)))
    own: dict[int, Figures] = defaultdict(Figures)
    for r in ua.rows:
        own[r.unit_id].cadres += 1
        own[r.unit_id].qualified += r.result.qualified
    rolled = subtree_totals(units, own)
    unit_rows = [[u.name, u.depth - unit.depth + 1, f.cadres, f.qualified, f.unqualified, pct(f.qualified, f.cadres),
                  f.flagged] for u in units for f in (rolled[u.id],)]
    rows = sorted(ua.rows, key=lambda r: (r.unit_name, r.name, r.user_id))
    unqualified = [r for r in rows if not r.result.qualified]
    status = {True: _("合格"), False: _("不合格")}
    state = _("已结转") if ua.closed else _("截至 %(d)s,年度未结转", d=(as_of or credits.today()).isoformat())

    def person(r) -> list:
        y, c = r.result, r.cycle
        return [r.unit_name, r.name, str(RANK_LABELS.get(y.rank, y.rank)), y.requirement, y.earned, y.carried_in,
                y.total, status[y.qualified], y.missing, y.carried_out, y.hours, f"{c.first}–{c.last}", c.credits,
                c.credits_required]

    person_headers = [_("单位"), _("姓名"), _("职级"), _("年度要求"), _("本年获得"), _("上年结转"), _("计入合计"), _("考核结果"),
                      _("还差"), _("可结转下年"), _("本年学时"), _("五年周期"), _("周期累计学分"), _("周期学分要求")]
    return [
        (_("概况"), [_("项目"), _("数值")], [
            [_("单位"), unit.name], [_("考核年度"), year], [_("状态"), state], [_("干部"), ua.total],
            [_("合格"), ua.qualified], [_("不合格"), len(ua.unqualified)], [_("合格率(%)"), pct(ua.qualified, ua.total)],
            [_("不合格达三分之一"), ua.flagged]]),
        (_("各单位"), [_("单位"), _("层级"), _("干部"), _("合格"), _("不合格"), _("合格率(%)"), _("不合格达三分之一")], unit_rows),
        (_("考核名单"), person_headers,
         counting((person(r) for r in rows), len(rows), progress, 55, 85, _("写入考核名单"))),
        (_("不合格名单"), person_headers,
         counting((person(r) for r in unqualified), len(unqualified), progress, 85, 95, _("写入不合格名单"))),
    ]
