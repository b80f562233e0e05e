"""Exam pages for cadres: the start page with the rules, the exam page (timer, question navigator,
answers saved as the cadre goes), the result page, and my exams and papers."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exams", __name__, url_prefix="/exams")


@bp.get("/")
def mine():
    """My exams and papers (filled in by the pages work)."""
    return "", 204
