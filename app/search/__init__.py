"""Catalogue full-text search: Flask glue around :mod:`app.search.engine`.

Configuration: ``SEARCH_INDEX_DIR``
    unset, ``None`` or ``""``  -> ``<instance_path>/search-index`` (on disk, shared by workers)
    ``":memory:"``             -> in-memory index (per process; tests)
    any other string           -> that directory (created if missing)

The engine opens the index lazily (first upsert/remove/rebuild/search), so ``init_app`` is
cheap.
"""
from __future__ import annotations

import os

from flask import Flask, current_app

from .engine import (
    MAX_QUERY_LENGTH,
    CourseDoc,
    Hit,
    SearchEngine,
    SearchResult,
    WhooshEngine,
)

__all__ = [
    "MAX_QUERY_LENGTH",
    "CourseDoc",
    "Hit",
    "SearchEngine",
    "SearchResult",
    "WhooshEngine",
    "get_engine",
    "index_directory",
    "init_app",
]

MEMORY = ":memory:"


def index_directory(app: Flask) -> str | None:
    """The index directory for ``app`` (``None`` for an in-memory index)."""
    configured = app.config.get("SEARCH_INDEX_DIR")
    if configured == MEMORY:
        return None
    if not configured:
        return os.path.join(app.instance_path, "search-index")
    return os.fspath(configured)


def init_app(app: Flask) -> None:
    """Store a :class:`WhooshEngine` in ``app.extensions["search"]``."""
    app.extensions["search"] = WhooshEngine(index_directory(app))


def get_engine() -> SearchEngine:
    """The current app's search engine (``init_app`` must have been called)."""
    return current_app.extensions["search"]
