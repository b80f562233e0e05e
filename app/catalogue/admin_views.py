"""Catalogue administration pages: categories, course editor, lessons and video uploads."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("catalogue_admin", __name__, url_prefix="/admin/catalogue")
