"""`flask courses import` and `flask search reindex`."""
from __future__ import annotations

import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import commit

courses_cli = AppGroup("courses", help="Course packages (课程包).")
search_cli = AppGroup("search", help="Catalogue search index.")


@courses_cli.command("import")
@click.argument("path", required=False)
@click.option("--no-videos", is_flag=True, help="import metadata only; courses without videos stay drafts")
def import_command(path, no_videos):
    """Validate every package under PATH (default: courses/), then import what changed."""
    from app.catalogue.packages import import_catalogue

    path = path or current_app.config["COURSES_DIR"]
    started = time.monotonic()
    last = {"stage": None}

    def progress(stage: str, done: int, total: int) -> None:
        label = {"videos": "生成/转码视频 videos", "courses": "写入课程 courses"}[stage]
        if sys.stdout.isatty():
            click.echo(f"\r{label}: {done}/{total}", nl=done == total)
        elif stage != last["stage"] or done == total or done % 10 == 0:
            click.echo(f"{label}: {done}/{total}")
        last["stage"] = stage

    report = import_catalogue(path, progress=progress, make_videos=not no_videos)
    if not report.ok:
        for err in report.errors:
            click.echo(str(err), err=True)
        raise click.ClickException(f"{len(report.errors)} 处错误,未导入任何内容 (nothing imported)")
    commit()
    for warning in report.warnings:
        click.echo(f"注意 warning: {warning}", err=True)
    click.echo(f"课程导入完成 ({time.monotonic() - started:.1f}s): 新建 {report.created}, 更新 {report.updated}, "
               f"未变 {report.unchanged}; 新分类 {report.categories_created}; "
               f"视频 生成 {report.videos_made}, 复用 {report.videos_reused}")


@search_cli.command("reindex")
def reindex_command():
    """Rebuild the search index from the database."""
    from app.catalogue.search_sync import all_docs
    from app.extensions import db
    from app.search import get_engine

    started = time.monotonic()
    n = get_engine().rebuild(all_docs(db.session))
    click.echo(f"search index rebuilt: {n} courses in {time.monotonic() - started:.1f}s")
