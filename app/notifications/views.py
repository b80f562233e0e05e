"""The notifications page: a user's messages, newest first; opening one marks it read and follows
its link (only to a page of this site)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from app.db import commit
from app.notifications import services
from app.web import int_arg

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

PER_PAGE = 30


class ActionForm(FlaskForm):
    """Only the CSRF token: the open and mark-all-read buttons."""


def safe_link(link: str | None) -> str | None:
    """A notification's link if it is a path on this site; anything else is not followed."""
    if not link or not link.startswith("/") or link.startswith("//"):
        return None
    if "\\" in link or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in link):
        return None
    return link


@bp.get("/")
@login_required
def index():
    page = services.list_notifications(current_user.id, page=int_arg("page", 1), per_page=PER_PAGE)
    return render_template("notifications/index.html", page=page, form=ActionForm(formdata=None), safe_link=safe_link)


@bp.post("/read-all")
@login_required
def read_all():
    ActionForm().validate() or abort(400)
    n = services.mark_read(current_user.id)
    commit()
    flash(_("已将 %(n)d 条通知标记为已读", n=n), "success")
    return redirect(url_for(".index"))


@bp.post("/<int:notification_id>/open")
@login_required
def open_notification(notification_id: int):
    ActionForm().validate() or abort(400)
    n = services.get_own(current_user.id, notification_id)
    link = safe_link(n.link)
    services.mark_read(current_user.id, n.id)
    commit()
    return redirect(link or url_for(".index"))
