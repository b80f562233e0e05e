"""Paper (论文) pages: submission, my papers, a paper with its versions and decisions, revision,
the reviewers' queue and review form, and the organisation department's paper settings."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from app.accounts.models import Role
from app.accounts.scope import STAFF_ROLES, require_role
from app.db import commit
from app.errors import DomainError, NotFound
from app.exams import papers
from app.exams.models import PaperState
from app.exams.paper_forms import (AppointForm, PaperForm, PolicyForm, RemoveReviewerForm, ReviewForm, ReviseForm,
                                   WithdrawForm)
from app.extensions import db
from app.web import apply_error, int_arg, origin_from_request, run_action

bp = Blueprint("papers", __name__, url_prefix="/papers")

PER_PAGE = 30
STATE_LABELS = {"submitted": _l("待评审"), "returned": _l("退回修改"), "approved": _l("已通过"), "withdrawn": _l("已撤回")}
BADGE_CLASSES = {"submitted": "badge-update", "returned": "badge-lost", "approved": "badge-active",
                 "withdrawn": "badge-none"}
QUEUE_STATES = ("submitted", "returned", "approved", "withdrawn")


def state_badge(state) -> Markup:
    value = getattr(state, "value", state)
    return Markup('<span class="badge badge-paper {cls}">{label}</span>').format(
        cls=BADGE_CLASSES.get(value, "badge-none"), label=escape(STATE_LABELS.get(value, value)))


def file_size(n: int | None) -> str:
    if not n:
        return ""
    if n < 1024 * 1024:
        return f"{max(1, round(n / 1024))} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _labels() -> dict:
    return {"states": STATE_LABELS, "state_badge": state_badge, "file_size": file_size,
            "max_mb": current_app.config["PAPER_MAX_BYTES"] // (1024 * 1024), "min_body": papers.MIN_BODY}


# --- the cadre's pages -------------------------------------------------------------------------------

@bp.get("/")
@login_required
def mine():
    """A cadre's papers; staff land on the review queue."""
    if current_user.role != Role.CADRE:
        return redirect(url_for(".queue"))
    page = papers.list_papers(current_user, mine=True, page=int_arg("page", 1), per_page=PER_PAGE)
    returned = papers.count_by_state(current_user)["returned"]
    return render_template("exams/paper_list.html", page=page, returned=returned, **_labels())


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    require_role(current_user, Role.CADRE)
    pol = papers.policy()
    earned = papers.earned_course_ids(current_user)
    courses = papers.course_choices(current_user)
    form = PaperForm()
    live = papers.live_papers(current_user)
    form.set_courses(courses, free_topic=pol.free_topic, earned=earned, live=live)
    if request.method == "GET":
        wanted = request.args.get("course_id", "")
        if wanted in {value for value, _label in form.course_id.choices if value}:
            form.course_id.data = wanted
    status = 200
    if form.validate_on_submit():
        try:
            with papers.paper_upload(form.file.data) as stored:
                paper = papers.submit_paper(current_user, course_id=form.chosen_course(), title=form.title.data,
                                            body=form.body.data, stored=stored, origin=origin_from_request())
                commit()
        except DomainError as err:
            db.session.rollback()
            apply_error(form, err)
            status = err.status
        else:
            flash(_("论文已提交,等待评审"), "success")
            return redirect(url_for(".detail", paper_id=paper.id))
    elif request.method == "POST":
        status = 400
    chosen = next((c for c in courses if str(c.id) == (form.course_id.data or "")), None)
    live_paper = live.get(chosen.id) if chosen is not None else None
    return render_template("exams/paper_new.html", form=form, policy=pol, chosen=chosen, live_paper=live_paper,
                           chosen_earned=chosen is not None and chosen.id in earned, **_labels()), status


# --- one paper ------------------------------------------------------------------------------------------

def _history(paper) -> list[dict]:
    """Every submission and decision, in order: a version, then the decision on it; a withdrawal last."""
    rows = [{"version": v.number, "order": 0, "kind": "submit", "at": v.submitted_at, "who": paper.user}
            for v in paper.versions]
    rows += [{"version": r.version, "order": 1, "kind": r.decision.value, "at": r.decided_at, "who": r.reviewer,
              "score": r.score, "credits": r.credits, "comment": r.comment} for r in paper.reviews]
    if paper.state == PaperState.WITHDRAWN:
        rows.append({"version": paper.version, "order": 2, "kind": "withdraw", "at": paper.decided_at,
                     "who": paper.user})
    return sorted(rows, key=lambda r: (r["version"], r["order"]))


def _detail_page(paper, *, review_form=None, revise_form=None, status: int = 200):
    actions = papers.allowed_actions(current_user, paper)
    if review_form is None and "review" in actions:
        review_form = ReviewForm(formdata=None, version=paper.version, credits=papers.default_credits(paper))
    if revise_form is None and "revise" in actions:
        revise_form = ReviseForm(formdata=None, title=paper.title, body=paper.current.body)
    last_review = paper.reviews[-1] if paper.reviews else None
    return render_template(
        "exams/paper_detail.html", p=paper, actions=actions, review_form=review_form, revise_form=revise_form,
        withdraw_form=WithdrawForm(formdata=None) if "withdraw" in actions else None,
        history=_history(paper), last_review=last_review, course_entry=papers.course_entry(paper),
        mine=paper.user_id == current_user.id, reviewer=papers.can_review(current_user),
        max_credits=papers.max_credits(paper), default_credits=papers.default_credits(paper),
        **_labels()), status


@bp.get("/<int:paper_id>")
@login_required
def detail(paper_id: int):
    return _detail_page(papers.get_paper(current_user, paper_id))


def _refused(paper_id: int, err: DomainError, **forms):
    """A refused revision or review: a stale page (409) is reloaded with the reason; anything else
    shows the page again with the form as filled in and the reason beside its field."""
    db.session.rollback()
    if err.status in (403, 404):
        raise err
    if err.status == 409:
        flash(err.message, "error")
        return redirect(url_for(".detail", paper_id=paper_id))
    form = next(iter(forms.values()))
    apply_error(form, err)
    return _detail_page(papers.get_paper(current_user, paper_id), **forms, status=err.status)


@bp.post("/<int:paper_id>/revise")
@login_required
def revise(paper_id: int):
    form = ReviseForm()
    if not form.validate():
        if form.csrf_token.errors:
            abort(400)
        return _detail_page(papers.get_paper(current_user, paper_id), revise_form=form, status=400)
    try:
        with papers.paper_upload(form.file.data) as stored:
            paper = papers.revise_paper(current_user, paper_id, title=form.title.data, body=form.body.data,
                                        stored=stored, origin=origin_from_request())
            commit()
    except DomainError as err:
        return _refused(paper_id, err, revise_form=form)
    flash(_("已提交第 %(n)d 版,等待评审", n=paper.version), "success")
    return redirect(url_for(".detail", paper_id=paper_id))


@bp.post("/<int:paper_id>/withdraw")
@login_required
def withdraw(paper_id: int):
    form = WithdrawForm()
    if not form.validate():
        abort(400)
    run_action(lambda: papers.withdraw_paper(current_user, paper_id, origin=origin_from_request()), _("论文已撤回"))
    return redirect(url_for(".detail", paper_id=paper_id))


@bp.post("/<int:paper_id>/review")
@login_required
def review(paper_id: int):
    form = ReviewForm()
    if not form.validate():
        if form.csrf_token.errors:
            abort(400)
        return _detail_page(papers.get_paper(current_user, paper_id), review_form=form, status=400)
    try:
        version = int(form.version.data) if (form.version.data or "").isdigit() else None
        reviewed = papers.review_paper(current_user, paper_id, approve=bool(form.approve.data),
                                       score=form.score.data, credits_=form.credits.data, comment=form.comment.data,
                                       version=version, origin=origin_from_request())
    except DomainError as err:
        return _refused(paper_id, err, review_form=form)
    commit()
    flash(reviewed.message, "success")
    return redirect(url_for(".detail", paper_id=paper_id))


@bp.get("/<int:paper_id>/versions/<int:number>/file")
@login_required
def file(paper_id: int, number: int):
    paper = papers.get_paper(current_user, paper_id)
    version = next((v for v in paper.versions if v.number == number), None)
    if version is None or not version.file_path:
        raise NotFound(_("没有论文文件"))
    return papers.send_paper_file(version)


# --- reviewers and the organisation department -----------------------------------------------------------

@bp.get("/review")
@login_required
def queue():
    """Reviewers: the papers waiting for review, oldest first, and the other states; other staff see
    the papers of their subtree, read-only."""
    require_role(current_user, *STAFF_ROLES)
    state = request.args.get("state") or "submitted"
    if state not in QUEUE_STATES and state != "all":
        state = "submitted"
    course_id = int_arg("course_id")
    page = papers.list_papers(current_user, state=None if state == "all" else state, course_id=course_id,
                              page=int_arg("page", 1), per_page=PER_PAGE)
    return render_template("exams/paper_queue.html", page=page, state=state, course_id=course_id,
                           counts=papers.count_by_state(current_user), courses=papers.paper_courses(),
                           reviewer=papers.can_review(current_user), queue_states=QUEUE_STATES, **_labels())


def _settings_page(*, form=None, appoint_form=None, status: int = 200):
    pol = papers.policy()
    if form is None:
        form = PolicyForm(formdata=None, obj=pol)
    return render_template("exams/paper_settings.html", form=form, policy=pol,
                           appoint_form=appoint_form or AppointForm(formdata=None),
                           remove_form=RemoveReviewerForm(formdata=None), reviewers=papers.reviewers(),
                           max_free=papers.MAX_CREDITS, **_labels()), status


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """The organisation department's paper settings: free topics, their default credits, reviewers."""
    require_role(current_user, Role.ORGADMIN)
    if request.method == "GET":
        return _settings_page()
    form = PolicyForm()
    if not form.validate():
        if form.csrf_token.errors:
            abort(400)
        return _settings_page(form=form, status=400)
    try:
        papers.set_policy(current_user, free_topic=bool(form.free_topic.data),
                          free_topic_credits=form.free_topic_credits.data, origin=origin_from_request())
    except DomainError as err:
        db.session.rollback()
        apply_error(form, err)
        return _settings_page(form=form, status=err.status)
    commit()
    flash(_("论文设置已保存"), "success")
    return redirect(url_for(".settings"))


@bp.post("/settings/reviewers")
@login_required
def appoint():
    require_role(current_user, Role.ORGADMIN)
    form = AppointForm()
    if not form.validate():
        if form.csrf_token.errors:
            abort(400)
        return _settings_page(appoint_form=form, status=400)
    try:
        r = papers.appoint_reviewer(current_user, papers.staff_by_username(form.username.data),
                                    origin=origin_from_request())
    except DomainError as err:
        db.session.rollback()
        apply_error(form, err)
        return _settings_page(appoint_form=form, status=err.status)
    commit()
    flash(_("已指定 %(name)s 为论文评审人", name=r.user.name), "success")
    return redirect(url_for(".settings"))


@bp.post("/settings/reviewers/<int:user_id>/remove")
@login_required
def remove_reviewer(user_id: int):
    require_role(current_user, Role.ORGADMIN)
    if not RemoveReviewerForm().validate():
        abort(400)
    papers.remove_reviewer(current_user, user_id, origin=origin_from_request())
    commit()
    flash(_("已取消其论文评审人资格"), "success")
    return redirect(url_for(".settings"))
