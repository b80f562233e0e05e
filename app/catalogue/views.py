"""Catalogue pages for learners: home, category, course, lesson, search."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("catalogue", __name__, url_prefix="/courses")
