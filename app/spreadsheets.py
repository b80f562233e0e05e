"""Reading uploaded XLSX files (roster import, question import) without trusting them.

An XLSX is a zip: a 20 MB upload can unpack to gigabytes of sheet XML or shared strings (a
"zip bomb"), and openpyxl reads the shared strings whole when it opens the file. The zip's
directory states each member's unpacked size, and Python's zipfile never unpacks a member beyond
it (a member that lies fails its CRC check), so the stated total bounds the work; a file over
XLSX_MAX_UNPACKED_BYTES is refused before openpyxl sees it.
"""
from __future__ import annotations

import io
import zipfile

from flask import current_app
from flask_babel import gettext as _

from app.errors import Invalid


def open_xlsx(data: bytes, unreadable: str):
    """An openpyxl read-only workbook of `data`; Invalid (field "file") with `unreadable` for a
    file that is not a workbook, and a message of its own for one that unpacks too large."""
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise Invalid(unreadable, field="file") from None
    limit = current_app.config["XLSX_MAX_UNPACKED_BYTES"]
    if unpacked > limit:
        raise Invalid(_("文件解压后过大(%(n)d MB,上限 %(m)d MB),请删去多余的工作表、格式或空行后再导入",
                        n=unpacked // (1024 * 1024), m=limit // (1024 * 1024)), field="file")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        raise Invalid(unreadable, field="file") from None
