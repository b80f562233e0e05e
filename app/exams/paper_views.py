"""Paper (论文) pages: submission, my papers, a paper with its versions and decisions, revision,
the reviewers' queue and review form, and the organisation department's paper settings."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("papers", __name__, url_prefix="/papers")


@bp.get("/review")
def queue():
    """The review queue (filled in by the pages work)."""
    return "", 204
