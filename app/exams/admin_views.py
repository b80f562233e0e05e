"""The organisation department's question bank editor and exam settings per course, with the
XLSX import (template download, per-row error report)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exams_admin", __name__, url_prefix="/admin/exams")
