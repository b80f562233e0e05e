"""Roster import (登记造册): XLSX or CSV with Chinese headers, previewed before anything is written.

A file is parsed into rows, each row is checked against the database (create / update /
unchanged / error), and only a file without errors can be applied. Applying is idempotent: the
ID number is the key, so importing the same file twice creates nothing the second time.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import secrets
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.accounts.idnumber import mask_id_number, parse_id_number
from app.accounts.models import Cadre, RegistrationKind, Role, RosterImport, Unit, User
from app.accounts.scope import ADMIN_ROLES, require_role
from app.accounts.services import (
    CadreInfo, clean_name, clean_phone, get_unit, parse_rank, register_cadre, update_cadre,
)
from app.audit.services import CLI, Origin, record_event
from app.db import utcnow
from app.errors import DomainError, Invalid, RuleViolation
from app.extensions import db
from app.spreadsheets import open_xlsx

# Column key -> accepted header spellings.
COLUMNS = {
    "name": ("姓名",),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "身份证"),
    "unit": ("单位", "所在单位", "单位名称", "单位编码"),
    "rank": ("职级", "级别"),
    "position": ("职务",),
    "phone": ("手机", "手机号", "手机号码", "联系电话"),
}
COLUMN_LABELS = {"name": "姓名", "id_number": "身份证号", "unit": "单位", "rank": "职级",
                 "position": "职务", "phone": "手机"}
REQUIRED = ("name", "id_number")
TEMPLATE_HEADERS = ["姓名", "身份证号", "单位", "职级", "职务", "手机"]


@dataclass
class RowResult:
    row: int  # the row number as the spreadsheet shows it (header is row 1)
    status: str  # create / update / unchanged / error
    name: str = ""
    id_masked: str = ""
    unit_name: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column label, reason)
    changes: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)


@dataclass
class Preview:
    rows: list[RowResult]
    missing_columns: list[str] = field(default_factory=list)
    file_error: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def ok(self) -> bool:
        return not self.file_error and not self.missing_columns and self.count("error") == 0 and bool(self.rows)


def _decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid(_("无法识别文件编码,请保存为 UTF-8 或 GBK 编码的 CSV"), field="file")


MAX_COLUMNS = 64


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """Rows of cell strings from an XLSX or CSV file; raises Invalid for other files."""
    name = (filename or "").lower()
    if data[:4] == b"PK\x03\x04" or name.endswith(".xlsx"):
        wb = open_xlsx(data, _("无法读取 Excel 文件,请确认是 .xlsx 格式且未损坏"))
        try:
            # Rows are read up to a bound (blank rows included, as in a sheet formatted down to its
            # last row) and only the first columns: the roster's are a dozen.
            limit = current_app.config["ROSTER_MAX_ROWS"]
            rows = []
            for n, values in enumerate(wb.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS)):
                if n > 20 * limit:
                    raise Invalid(_("文件超过 %(n)d 行,请分批导入", n=limit), field="file")
                rows.append(["" if v is None else _cell(v) for v in values])
        finally:
            wb.close()
        return rows
    if name.endswith(".csv") or name.endswith(".txt"):
        text = _decode_csv(data)
        return [list(r) for r in csv.reader(io.StringIO(text))]
    raise Invalid(_("只支持 .xlsx 或 .csv 文件"), field="file")


def _cell(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # numbers typed into Excel cells
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d")
    return str(v).strip()


def _header_map(header: list[str]) -> tuple[dict[str, int], list[str]]:
    index = {}
    cleaned = [h.strip().replace(" ", "").replace("*", "") for h in header]
    for key, names in COLUMNS.items():
        for i, h in enumerate(cleaned):
            if h in names:
                index[key] = i
                break
    missing = [COLUMN_LABELS[k] for k in REQUIRED if k not in index]
    return index, missing


class _UnitResolver:
    def __init__(self, base: Unit):
        self.base = base
        units = db.session.scalars(select(Unit).where(Unit.path.startswith(base.path))).all()
        self.by_code = {u.code: u for u in units}
        self.by_name: dict[str, list[Unit]] = {}
        for u in units:
            self.by_name.setdefault(u.name, []).append(u)

    def resolve(self, raw: str) -> Unit:
        raw = (raw or "").strip()
        if not raw:
            return self.base
        if raw in self.by_code:
            return self.by_code[raw]
        found = self.by_name.get(raw, [])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Invalid(_("单位名称“%(n)s”不唯一,请改填单位编码", n=raw), field="unit")
        raise Invalid(_("单位“%(n)s”不存在或不在导入单位“%(b)s”之下", n=raw, b=self.base.name), field="unit")


def preview_rows(actor: User, base: Unit, table: list[list[str]]) -> Preview:
    """Check every row without writing anything."""
    if not table or not any(c for c in table[0]):
        return Preview(rows=[], file_error=_("文件是空的,或第一行不是表头"))
    index, missing = _header_map(table[0])
    if missing:
        return Preview(rows=[], missing_columns=missing,
                       file_error=_("缺少必填列:%(c)s", c="、".join(missing)))
    body = [(i + 2, r) for i, r in enumerate(table[1:]) if any((c or "").strip() for c in r)]
    limit = current_app.config["ROSTER_MAX_ROWS"]
    if len(body) > limit:
        return Preview(rows=[], file_error=_("文件超过 %(n)d 行,请分批导入", n=limit))
    resolver = _UnitResolver(base)
    results: list[RowResult] = []
    seen: dict[str, int] = {}
    parsed: list[tuple[RowResult, str | None]] = []
    for rownum, raw in body:
        def col(key):
            i = index.get(key)
            return (raw[i] if i is not None and i < len(raw) else "").strip()

        res = RowResult(row=rownum, status="create", name=col("name"))
        values = {}
        checks = (
            ("name", lambda: clean_name(col("name"))),
            ("id_number", lambda: parse_id_number(col("id_number")).number),
            ("unit", lambda: resolver.resolve(col("unit"))),
            ("rank", lambda: parse_rank(col("rank"))),
            ("phone", lambda: clean_phone(col("phone"))),
            ("position", lambda: col("position")[:100] or None),
        )
        for key, fn in checks:
            try:
                values[key] = fn()
            except DomainError as e:
                res.errors.append((COLUMN_LABELS[key], e.message))
        number = values.get("id_number")
        if number:
            res.id_masked = mask_id_number(number)
            if number in seen:
                res.errors.append((COLUMN_LABELS["id_number"],
                                   _("与第 %(r)d 行的身份证号重复", r=seen[number])))
            else:
                seen[number] = rownum
        if "unit" in values:
            res.unit_name = values["unit"].name
        res.values = values
        parsed.append((res, number))
        results.append(res)

    # Existing cadres, looked up in chunks (one query per 500 rows, not one per row).
    numbers = [n for _r, n in parsed if n]
    existing: dict[str, User] = {}
    for i in range(0, len(numbers), 500):
        chunk = numbers[i:i + 500]
        for user in db.session.scalars(
                select(User).join(Cadre, Cadre.user_id == User.id).where(Cadre.id_number.in_(chunk))
                .options(selectinload(User.cadre), selectinload(User.unit))):
            existing[user.cadre.id_number] = user
    for res, number in parsed:
        if res.errors:
            res.status = "error"
            continue
        user = existing.get(number)
        if user is None:
            res.status = "create"
            continue
        if not user.unit.path.startswith(base.path):
            res.status = "error"
            res.errors.append((COLUMN_LABELS["id_number"], _("该身份证号已在其他单位登记,请联系其所在单位或组织部调动")))
            continue
        v = res.values
        diffs = []
        if user.name != v["name"]:
            diffs.append(_("姓名"))
        if user.cadre.rank != v["rank"]:
            diffs.append(_("职级"))
        if (user.cadre.position or None) != v["position"]:
            diffs.append(_("职务"))
        if (user.cadre.phone or None) != v["phone"]:
            diffs.append(_("手机"))
        if user.unit_id != v["unit"].id:
            diffs.append(_("单位(调动)"))
        res.changes = diffs
        res.status = "update" if diffs else "unchanged"
        v["user"] = user  # applying reuses it instead of querying the row again
    return Preview(rows=results)


def _storage_dir() -> str:
    path = os.path.join(current_app.instance_path, "roster_imports")
    os.makedirs(path, exist_ok=True)
    return path


def stage_import(actor: User, unit_id: int, filename: str, data: bytes, *,
                 origin: Origin = CLI) -> tuple[RosterImport, Preview]:
    """Store an uploaded roster and preview it; nothing about cadres is written."""
    require_role(actor, *ADMIN_ROLES)
    base = get_unit(actor, unit_id)
    if not data:
        raise Invalid(_("请选择要导入的文件"), field="file")
    table = read_table(filename, data)
    preview = preview_rows(actor, base, table)
    ext = ".xlsx" if data[:4] == b"PK\x03\x04" else ".csv"
    imp = RosterImport(token=secrets.token_hex(16), filename=os.path.basename(filename or "roster")[:255],
                       sha256=hashlib.sha256(data).hexdigest(), unit_id=base.id, by_id=actor.id,
                       total_rows=len(preview.rows), error_count=preview.count("error"),
                       state="previewed")
    db.session.add(imp)
    db.session.flush()
    with open(os.path.join(_storage_dir(), imp.token + ext), "wb") as fh:
        fh.write(data)
    return imp, preview


def _load_file(imp: RosterImport) -> tuple[str, bytes]:
    for ext in (".xlsx", ".csv"):
        path = os.path.join(_storage_dir(), imp.token + ext)
        if os.path.exists(path):
            with open(path, "rb") as fh:
                return imp.filename, fh.read()
    raise Invalid(_("导入文件已失效,请重新上传"), field="file")


def get_import(actor: User, token: str) -> RosterImport:
    from app.errors import NotFound

    imp = db.session.scalar(select(RosterImport).where(RosterImport.token == token))
    if imp is None or imp.by_id != actor.id and actor.role != Role.ORGADMIN:
        raise NotFound(_("导入记录不存在"))
    get_unit(actor, imp.unit_id)
    return imp


def preview_import(actor: User, imp: RosterImport) -> Preview:
    base = get_unit(actor, imp.unit_id)
    filename, data = _load_file(imp)
    return preview_rows(actor, base, read_table(filename, data))


def start_import(actor: User, imp: RosterImport) -> RosterImport:
    """Mark a previewed import as running; refuses a file that still has errors."""
    if imp.state != "previewed":
        raise RuleViolation(_("该文件已经导入过"), code="already_applied")
    preview = preview_import(actor, imp)
    if not preview.ok:
        raise RuleViolation(_("文件中还有 %(n)d 行有误,请修改后重新上传;本次未写入任何数据",
                              n=preview.count("error")), code="roster_has_errors")
    imp.state = "running"
    imp.total_rows = len(preview.rows)
    imp.processed_rows = 0
    db.session.flush()
    return imp


def apply_import(actor: User, imp: RosterImport, *, origin: Origin = CLI, chunk: int = 250,
                 on_progress=None) -> RosterImport:
    """Write the rows of a started import; idempotent by ID number.

    ``on_progress`` is called after each chunk (the job commits there, so that the page's
    progress bar moves); every row is re-checked at this moment, not trusted from the preview.
    """
    base = get_unit(actor, imp.unit_id)
    preview = preview_import(actor, imp)
    created = updated = unchanged = errors = 0
    for start in range(0, len(preview.rows), chunk):
        for res in preview.rows[start:start + chunk]:
            v = res.values
            try:
                if res.status == "create":
                    register_cadre(actor, CadreInfo(name=v["name"], id_number=v["id_number"],
                                                    unit_id=v["unit"].id, rank=v["rank"],
                                                    position=v["position"], phone=v["phone"]),
                                   origin=origin, kind=RegistrationKind.IMPORT)
                    created += 1
                elif res.status == "update":
                    update_cadre(actor, v["user"], {"name": v["name"], "rank": v["rank"],
                                               "position": v["position"], "phone": v["phone"],
                                               "unit_id": v["unit"].id,
                                               "transfer_reason": _("名册导入")}, origin=origin)
                    updated += 1
                elif res.status == "unchanged":
                    unchanged += 1
                else:
                    errors += 1
            except DomainError:
                errors += 1
        imp.processed_rows = min(len(preview.rows), start + chunk)
        imp.created_count, imp.updated_count = created, updated
        imp.unchanged_count, imp.error_count = unchanged, errors
        db.session.flush()
        if on_progress:
            on_progress(imp)
    imp.state = "done"
    imp.finished_at = utcnow()
    record_event(actor, "roster.import", target=imp, target_type="roster_import",
                 target_label=imp.filename, unit=base, origin=origin, created=created,
                 updated=updated, unchanged=unchanged, errors=errors, sha256=imp.sha256)
    db.session.flush()
    return imp


def template_xlsx() -> bytes:
    """A blank roster template with the expected headers and one example row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "干部名册"
    ws.append(TEMPLATE_HEADERS)
    ws.append(["张三", "610302199001011236", "", "乡科级", "科长", "13800000000"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE7F3")
    for col, width in zip("ABCDEF", (12, 22, 24, 14, 16, 16)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
