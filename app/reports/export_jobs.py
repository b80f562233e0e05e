"""Report exports that run as background jobs with progress: the request is checked (role, scope,
filters) when it is made and again when the job runs, the file is written under
<instance>/exports/ and downloaded only by the person who asked for it; files are kept
EXPORT_KEEP_DAYS days. Each kind of export turns its stored parameters into sheets."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from app.accounts.models import Unit, User
from app.accounts.scope import STAFF_ROLES, require_role, require_unit
from app.audit.services import CLI, Origin, record_event
from app.credits import services as credits
from app.db import enqueue_after_commit, utcnow
from app.errors import DomainError, Invalid, NotFound, RuleViolation
from app.extensions import db
from app.reports.exports import csv_text, xlsx_bytes
from app.reports.filters import MAX_ID, ReportFilter, resolve_filter
from app.reports.models import ReportExport
from app.reports.course import course_dict, course_report, course_sheets
from app.reports.trend import GRANULARITIES, trend_dict, trend_report, trend_sheets
from app.reports.unit import report_for, unit_dict, unit_sheets
from app.reports.year_end import Progress, year_end_sheets

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "csv")
EXPORT_KEEP_DAYS = 7
MAX_PENDING = 3  # queued or running exports per person
MIN_YEAR = 2000
STUCK_AFTER = timedelta(hours=6)  # a queued or running export older than this was lost with its worker


@dataclass(frozen=True)
class Built:
    stem: str  # the download's name without the extension (Chinese)
    sheets: list


@dataclass(frozen=True)
class Kind:
    label: Callable[[], str]
    # (actor, raw params) → (stored params, title); raises NotFound/Invalid for a bad request
    prepare: Callable[[User, dict], tuple[dict, str]]
    build: Callable[[User, dict, Progress], Built]


def _int(v):
    if v in (None, ""):
        return None
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise Invalid(_("筛选条件无效")) from None
    if not 1 <= n <= MAX_ID:
        raise Invalid(_("筛选条件无效"))
    return n


def _date(v):
    if v in (None, ""):
        return None
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        raise Invalid(_("日期格式应为 YYYY-MM-DD"), field="start") from None


def filter_from(actor: User, p: dict) -> ReportFilter:
    try:
        return resolve_filter(actor, unit_id=_int(p.get("unit_id")), user_id=_int(p.get("user_id")),
                              course_id=_int(p.get("course_id")), category_id=_int(p.get("category_id")),
                              start=_date(p.get("start")), end=_date(p.get("end")), strict=True)
    except (TypeError, ValueError):
        raise Invalid(_("筛选条件无效")) from None


def filter_params(flt: ReportFilter) -> dict:
    return {"unit_id": flt.unit.id, "user_id": flt.user.id if flt.user else None,
            "course_id": flt.course.id if flt.course else None, "category_id": flt.category.id if flt.category else None,
            "start": flt.start.isoformat(), "end": flt.end.isoformat()}


def period_title(label: str, flt: ReportFilter) -> str:
    who = f"{flt.unit.name}" + (f" · {flt.user.name}" if flt.user else "")
    return f"{label} · {who} · {flt.start.isoformat()} – {flt.end.isoformat()}"


def period_stem(label: str, flt: ReportFilter) -> str:
    who = flt.unit.name + (f"-{flt.user.name}" if flt.user else "")
    return f"{label}-{who}-{flt.start.isoformat()}-{flt.end.isoformat()}"


# the reports with filters (unit, cadre, course, category, period) ------------------------------

def filter_kind(label: Callable[[], str], sheets: Callable[[User, ReportFilter, dict], list],
                extra: Callable[[dict], dict] = lambda p: {}) -> Kind:
    """An export of a filtered report: its stored parameters are the resolved filter (and `extra`)."""

    def prepare(actor: User, p: dict) -> tuple[dict, str]:
        flt = filter_from(actor, p)
        return {**filter_params(flt), **extra(p)}, period_title(label(), flt)

    def build(actor: User, p: dict, progress: Progress) -> Built:
        flt = filter_from(actor, p)
        progress(10, _("统计数据"))
        tables = sheets(actor, flt, p)
        progress(80, _("写入表格"))
        return Built(period_stem(label(), flt), tables)

    return Kind(label, prepare, build)


def _granularity(p: dict) -> dict:
    return {"granularity": p.get("granularity") if p.get("granularity") in GRANULARITIES else None}


# year-end assessment report ------------------------------------------------------------------

def _year(p: dict) -> int:
    try:
        year = int(p.get("year") or credits.today().year)
    except (TypeError, ValueError):
        raise Invalid(_("年度无效"), field="year") from None
    if not MIN_YEAR <= year <= credits.today().year:
        raise Invalid(_("年度应在 %(a)d 至 %(b)d 之间", a=MIN_YEAR, b=credits.today().year), field="year")
    return year


def _year_unit(actor: User, p: dict) -> Unit:
    unit_id = _int(p.get("unit_id"))
    return require_unit(actor, actor.unit if unit_id is None else db.session.get(Unit, unit_id))


def _prepare_year_end(actor: User, p: dict) -> tuple[dict, str]:
    year, unit = _year(p), _year_unit(actor, p)
    return {"unit_id": unit.id, "year": year}, f"{_('年度学分考核报表')} · {unit.name} · {year}"


def _build_year_end(actor: User, p: dict, progress: Progress) -> Built:
    year, unit = _year(p), _year_unit(actor, p)
    return Built(f"{_('年度学分考核报表')}-{unit.name}-{year}", year_end_sheets(actor, unit, year, progress=progress))


KINDS: dict[str, Kind] = {
    "unit": filter_kind(lambda: _("单位学习情况"), lambda a, flt, p: unit_sheets(unit_dict(report_for(a, flt)))),
    "course": filter_kind(lambda: _("课程学习情况"), lambda a, flt, p: course_sheets(course_dict(course_report(a, flt)))),
    "trend": filter_kind(lambda: _("学习趋势"),
                         lambda a, flt, p: trend_sheets(trend_dict(trend_report(a, flt, p.get("granularity")))),
                         extra=_granularity),
    "year_end": Kind(lambda: _("年度学分考核报表"), _prepare_year_end, _build_year_end),
}


# the service ---------------------------------------------------------------------------------

def exports_dir() -> str:
    path = os.path.join(current_app.instance_path, "exports")
    os.makedirs(path, exist_ok=True)
    return path


def export_path(e: ReportExport) -> str:
    return os.path.join(exports_dir(), f"{e.id}.{e.fmt}")


def request_export(actor: User, kind: str, fmt: str, params: dict, *, origin: Origin = CLI) -> ReportExport:
    """Record an export request (checked now) and queue its job after the commit."""
    require_role(actor, *STAFF_ROLES)
    if kind not in KINDS:
        raise Invalid(_("未知的导出类型"), field="kind")
    if fmt not in FORMATS:
        raise Invalid(_("导出格式应为 xlsx 或 csv"), field="format")
    stored, title = KINDS[kind].prepare(actor, params)
    pending = db.session.scalar(select(func.count(ReportExport.id)).where(
        ReportExport.user_id == actor.id, ReportExport.state.in_(("queued", "running")),
        ReportExport.created_at >= utcnow() - STUCK_AFTER))
    if pending >= MAX_PENDING:
        raise RuleViolation(_("您已有 %(n)d 个导出正在进行,请等它们完成后再试", n=pending), code="too_many_exports")
    e = ReportExport(user_id=actor.id, kind=kind, fmt=fmt, params=stored, title=title[:200], state="queued",
                     progress=0, stage=_("排队中"))
    db.session.add(e)
    db.session.flush()
    unit = db.session.get(Unit, stored.get("unit_id")) if stored.get("unit_id") else None
    record_event(actor, "reports.export", target=e, target_type="report_export", target_label=title, unit=unit,
                 origin=origin, kind=kind, format=fmt, params=stored)
    from app.reports.jobs import build_report_export

    enqueue_after_commit(build_report_export, e.id)
    return e


def get_export(actor: User, export_id: int) -> ReportExport:
    """One's own export (someone else's is 'not found')."""
    e = db.session.get(ReportExport, export_id)
    if e is None or e.user_id != actor.id:
        raise NotFound(_("导出任务不存在"))
    return e


def list_exports(actor: User, limit: int = 50) -> list[ReportExport]:
    return list(db.session.scalars(select(ReportExport).where(ReportExport.user_id == actor.id)
                                   .order_by(ReportExport.id.desc()).limit(limit)))


def export_file(actor: User, export_id: int) -> tuple[ReportExport, str]:
    """The finished file, for its owner while they may still see what it covers (a move to another
    unit or a change of role ends that)."""
    e = get_export(actor, export_id)
    require_role(actor, *STAFF_ROLES)
    if e.params.get("unit_id") is not None:
        require_unit(actor, db.session.get(Unit, e.params["unit_id"]))
    path = export_path(e)
    if e.state != "done" or not os.path.exists(path):
        raise NotFound(_("导出文件已过期或尚未生成") if e.state in ("done", "expired") else _("导出尚未完成"))
    return e, path


def run_export(export_id: int) -> str:
    """The job: claim the queued export (a retried job finds it taken and stops), build, write the file
    and mark it done; a failure is recorded with its reason. Returns the final state."""
    claimed = db.session.execute(update(ReportExport).where(ReportExport.id == export_id, ReportExport.state == "queued")
                                 .values(state="running", started_at=utcnow(), progress=1)).rowcount
    db.session.commit()
    e = db.session.get(ReportExport, export_id)
    if not claimed or e is None:
        return e.state if e is not None else "missing"
    shown = {"p": -1}

    def progress(percent: int, stage: str) -> None:
        percent = max(1, min(99, int(percent)))
        if percent != shown["p"]:
            shown["p"] = percent
            e.progress, e.stage = percent, stage[:80]
            db.session.commit()

    tmp = None
    if os.path.exists(export_path(e)):
        os.remove(export_path(e))  # left by a database that was reset: never this export's
    try:
        actor = db.session.get(User, e.user_id)
        if actor is None or not actor.is_active:
            raise NotFound(_("账号已停用"))
        built = KINDS[e.kind].build(actor, dict(e.params), progress)
        body = xlsx_bytes(built.sheets) if e.fmt == "xlsx" else csv_text(built.sheets, titles=True).encode("utf-8")
        path = export_path(e)
        tmp = path + ".part"
        with open(tmp, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)
        tmp = None
        e.state, e.progress, e.stage = "done", 100, _("完成")
        e.filename, e.size, e.finished_at = f"{built.stem[:190]}.{e.fmt}", len(body), utcnow()
        db.session.commit()
    except Exception as exc:  # recorded on the row: the person sees why
        db.session.rollback()
        if tmp and os.path.exists(tmp):
            os.remove(tmp)
        e = db.session.get(ReportExport, export_id)
        e.state, e.finished_at = "failed", utcnow()
        e.error = (exc.message if isinstance(exc, DomainError) else _("导出失败,请稍后重试"))[:500]
        db.session.commit()
        if not isinstance(exc, DomainError):
            log.exception("report export %s failed", export_id)
    return e.state


def expire_exports(now=None) -> int:
    """Delete the files of exports older than EXPORT_KEEP_DAYS (their rows stay, state expired) and
    mark exports stuck in the queue (their worker died) as failed. Returns how many were expired."""
    now = now or utcnow()
    for e in db.session.scalars(select(ReportExport).where(ReportExport.state.in_(("queued", "running")),
                                                           ReportExport.created_at < now - STUCK_AFTER)):
        e.state, e.finished_at, e.error = "failed", now, _("导出超时未完成,请重新导出")
    cutoff = now - timedelta(days=EXPORT_KEEP_DAYS)
    old = list(db.session.scalars(select(ReportExport).where(ReportExport.created_at < cutoff,
                                                             ReportExport.state.in_(("done", "failed")))))
    for e in old:
        path = export_path(e)
        if os.path.exists(path):
            os.remove(path)
        e.state, e.stage = "expired", _("已过期")
    return len(old)
