"""File exports of the reports: XLSX (bold filled headers, the first row frozen, column widths from
the content) and CSV (UTF-8 with a BOM, so that Excel reads Chinese correctly), sent as downloads
whose Content-Disposition carries the UTF-8 file name (RFC 5987/6266) and an ASCII fallback.

A sheet is (title, headers, rows); cells are str, int, float, bool, date, datetime or None. Text
that a spreadsheet would run as a formula (=, +, -, @ first) is written as plain text."""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from itertools import chain, islice
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Response, current_app
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"
BOM = "\ufeff"

Sheet = tuple[str, Sequence[str], Iterable[Sequence]]

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="B71C1C")  # the platform's red
HEADER_BORDER = Border(bottom=Side(style="thin", color="8E1515"))
MIN_WIDTH, MAX_WIDTH = 8, 60
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def text_width(value) -> int:
    """Display width in Excel's character units: CJK and full-width characters count two."""
    s = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _local(value: datetime) -> datetime:
    """Spreadsheets have no time zones: an aware time is written as the platform's local time."""
    if value.tzinfo is None:
        return value
    tz = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))
    return value.astimezone(tz).replace(tzinfo=None)


def _shown(value) -> str:
    """A cell as text (CSV), for measuring widths too."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def sheet_title(title: str, taken: set[str]) -> str:
    """A valid, unique worksheet name (31 characters, none of []:*?/\\)."""
    base = _SHEET_TITLE_BAD.sub("_", title).strip("'")[:31] or "Sheet"
    name, n = base, 2
    while name.lower() in taken:
        suffix = f"({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


WIDTH_SAMPLE = 2000  # rows measured for the column widths (a long sheet's first rows tell enough)


def _xlsx_cell(ws, value):
    """A value as written: local times, dates with a format, booleans as 是/否, formula-like text as text."""
    if isinstance(value, bool):
        return _shown(value)
    if isinstance(value, datetime):
        cell = WriteOnlyCell(ws, value=_local(value))
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"  # text, never a formula
        return cell
    return value


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The workbook, written in openpyxl's write-only mode (a city's 50,000-row list in seconds: the
    normal mode rescans the sheet on every row)."""
    wb = Workbook(write_only=True)
    taken: set[str] = set()
    for title, headers, rows in sheets:
        ws = wb.create_sheet(sheet_title(title, taken))
        rows = iter(rows)  # a generator may report progress as it is written
        sample = list(islice(rows, WIDTH_SAMPLE))
        widths = [text_width(h) for h in headers]
        for row in sample:
            for i, v in enumerate(row):
                if i >= len(widths):
                    widths.append(0)
                widths[i] = max(widths[i], text_width(_shown(v)))
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(MAX_WIDTH, max(MIN_WIDTH, w + 2))
        ws.freeze_panes = "A2"
        ws.row_dimensions[1].height = 20
        head = []
        for h in headers:
            cell = WriteOnlyCell(ws, value=h)
            cell.font, cell.fill, cell.border = HEADER_FONT, HEADER_FILL, HEADER_BORDER
            cell.alignment = Alignment(vertical="center")
            head.append(cell)
        ws.append(head)
        for row in chain(sample, rows):
            ws.append([_xlsx_cell(ws, v) for v in row])
    if not wb.worksheets:
        wb.create_sheet("Sheet")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _csv_cell(value) -> str:
    s = _shown(value)
    if isinstance(value, str) and s.startswith(_FORMULA_START):
        s = "'" + s  # Excel would run it as a formula
    return s


def csv_text(blocks: Sequence[Sheet], *, titles: bool = False) -> str:
    """CSV with a BOM; several blocks are separated by an empty line, each under its title if asked."""
    buf = io.StringIO()
    buf.write(BOM)
    w = csv.writer(buf, lineterminator="\r\n")
    for n, (title, headers, rows) in enumerate(blocks):
        if n:
            w.writerow([])
        if titles:
            w.writerow([_csv_cell(title)])
        w.writerow([_csv_cell(h) for h in headers])
        for row in rows:
            w.writerow([_csv_cell(v) for v in row])
    return buf.getvalue()


def ascii_fallback(filename: str) -> str:
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""
    simple = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    simple = re.sub(r"[^A-Za-z0-9._-]+", "_", simple).strip("._-") or "export"
    ext = re.sub(r"[^A-Za-z0-9]+", "", ext)
    return f"{simple}.{ext}" if ext else simple


def content_disposition(filename: str, fallback: str | None = None) -> str:
    """attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded> (RFC 6266 / RFC 5987)."""
    fallback = ascii_fallback(fallback or filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _download(body: bytes, mimetype: str, filename: str, fallback: str | None) -> Response:
    resp = Response(body, content_type=mimetype)
    resp.headers["Content-Disposition"] = content_disposition(filename, fallback)
    resp.headers["Cache-Control"] = "no-store"  # personal data: not kept by proxies or the browser
    return resp


def xlsx_response(filename: str, sheets: Sequence[Sheet], *, fallback: str | None = None) -> Response:
    """An .xlsx download of the given sheets."""
    return _download(xlsx_bytes(sheets), XLSX_MIME, filename, fallback)


def csv_response(filename: str, headers: Sequence[str], rows: Iterable[Sequence], *,
                 fallback: str | None = None) -> Response:
    """A .csv download: one table."""
    return _download(csv_text([("", headers, rows)]).encode("utf-8"), CSV_MIME, filename, fallback)


def csv_sheets_response(filename: str, sheets: Sequence[Sheet], *, fallback: str | None = None) -> Response:
    """A .csv download of several tables one after another, each under its title."""
    return _download(csv_text(sheets, titles=True).encode("utf-8"), CSV_MIME, filename, fallback)
