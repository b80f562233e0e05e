"""The role matrix: every route of the application (pages and /api/v1), for each role, allowed or
denied as intended — including objects that belong to another unit.

Roles (tests/conftest.py `world`, objects from tests/security/conftest.py `sec_world`):

    anonymous   no session (but holding a CSRF token, so a refusal is the login check's)
    cadre       李明, a cadre of 渭滨区财政局 (card issued, password changed)
    netadmin    wbadmin, network administrator (NETADMIN) of 渭滨区
    viewer      wbview, department viewer (VIEWER) of 渭滨区
    orgadmin    org, the organisation department (ORGADMIN) of the whole city

Policies (the sets of roles allowed; "staff" = netadmin + viewer + orgadmin):

    PUBLIC      everyone, anonymous included       /login, /healthz, /verify/…, static, openapi.json
    AUTH        any logged-in user                 home, catalogue, own progress, notifications …
    CADRE       cadres only                        learning, exams, applying, papers, watch sessions
    STAFF       netadmin, viewer, orgadmin         cadre lists, reports, assessment, training lists
    ADMIN       netadmin, orgadmin                 registering cadres, cards, roster, audit log
    ORGADMIN    the organisation department only   catalogue and question bank, rules, year closing,
                                                   credit adjustments, final decisions, paper review
    OWNER       the cadre whose object it is       attempts, answers, watch sessions, checks,
                                                   withdrawals, notifications, revising a paper
    CREATOR     the staff account that made it     report exports (not even the org admin)
    SCOPED      staff only for objects inside their unit subtree: a route is run twice, once on
                渭滨区's object (the column `wb`) and once on 金台区's (`jt`); a 渭滨区 netadmin,
                viewer or cadre is refused 金台区's object with 404 (never "forbidden", which would
                say it exists), while the org admin reaches both.

Combinations as used below: e.g. a credit application is OWNER + SCOPED STAFF (wb: cadre, netadmin,
viewer, orgadmin; jt: orgadmin); an exam attempt is OWNER + ORGADMIN (read only for the latter).
Courses, categories and questions are city-wide: no unit column; instead a draft course (and its
lesson and video) is ORGADMIN only.

What "allowed" and "denied" mean here (one request per role × route × object):
  * denied, anonymous: 401 from the API, a redirect to /login from a page;
  * denied, logged in: 403 or 404;
  * allowed: anything else except a 5xx or a redirect to /login — a mutating request carries a body
    that passes the schema or form (so that the authorisation check is reached, wherever it sits)
    but, where that is easy, fails the service's validation (400/409/422); where not, the allowed
    role really does it (e.g. a card reported lost): the world is rolled back after each test.
  * never 500, for anyone.
A role's denied requests run first and must change nothing: every row of every table is compared
before and after (tables that a read legitimately touches are listed in VOLATILE). A 渭滨区 role's
allowed responses must not contain a string that exists only in 金台区's objects (JT_CANARIES).

Where a unit is picked from a form's select list (the unit of a new cadre, a roster, a parent unit),
the page test runs on 渭滨区 only (another unit is not a valid choice, so the form is refused before
any service); the API equivalent carries the unit dimension.

KNOWN_DEVIATIONS would list requests whose answer differs from the rule although nothing is reached
(none now: the card pages were fixed to check the role first).
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Callable

import pytest
from sqlalchemy import select

from app.extensions import db
from tests.security.conftest import JT_CANARIES, PDF, SecWorld, Side, role_client

A, C, N, V, O = "anonymous", "cadre", "netadmin", "viewer", "orgadmin"
ROLES = (A, C, N, V, O)

PUBLIC = frozenset(ROLES)
AUTH = frozenset({C, N, V, O})
CADRE = frozenset({C})
STAFF = frozenset({N, V, O})
ADMIN = frozenset({N, O})
ORG = frozenset({O})
NOBODY = frozenset()
OWNER = CADRE                      # the object's own cadre (李明 owns 渭滨区's objects)
OWNER_STAFF = OWNER | STAFF        # the cadre, and staff whose subtree holds them
OWNER_ORG = OWNER | ORG
CREATOR = frozenset({N})           # 渭滨区's export was requested by wbadmin


def scoped(allowed: frozenset) -> frozenset:
    """Who may reach 金台区's object: only the org admin, and only if they may reach 渭滨区's."""
    return allowed & ORG


Body = Callable[[dict], dict] | None


@dataclass(frozen=True)
class Case:
    method: str
    endpoint: str
    path: str                       # a template: {name} from the Side (wb or jt) or the SecWorld
    allowed: frozenset              # on 渭滨区's object (or the route, when it names none)
    other: frozenset | None = None  # on 金台区's object; None: the route is run once
    json: Body = None
    data: Body = None               # form fields (a callable: a fresh file object each time)
    last: bool = False              # ends or changes the session: run after the rest
    note: str = ""


def case(method, endpoint, path, allowed, other=None, **kw) -> Case:
    return Case(method, endpoint, path, allowed, other, **kw)


def S(method, endpoint, path, allowed, **kw) -> Case:
    """A SCOPED case: run on 渭滨区's object and 金台区's."""
    return Case(method, endpoint, path, allowed, scoped(allowed), **kw)


def _file(data: bytes, name: str):
    return (io.BytesIO(data), name)


G, P = "GET", "POST"

CASES: list[Case] = [
    # --- main, auth -------------------------------------------------------------------------
    case(G, "main.home", "/", AUTH),
    case(G, "main.healthz", "/healthz", PUBLIC),
    case(G, "main.readyz", "/readyz", PUBLIC),
    case(G, "main.set_locale", "/locale/en", PUBLIC, last=True),
    case(G, "static", "/static/{static_file}", PUBLIC),
    case(G, "auth.login", "/login", PUBLIC),
    case(P, "auth.login", "/login", PUBLIC, data=lambda f: {}),
    case(P, "auth.logout", "/logout", AUTH, data=lambda f: {}, last=True),
    case(G, "auth.password", "/password", AUTH),
    case(P, "auth.password", "/password", AUTH, data=lambda f: {}),
    case(G, "archive.verify_form", "/verify/", PUBLIC),
    case(G, "archive.verify", "/verify/{verify_code}", PUBLIC),
    case(G, "api-docs.openapi_json", "/api/v1/openapi.json", PUBLIC),

    # --- accounts: cadres, cards, units, roster (pages) ---------------------------------------
    case(G, "admin.cadres", "/admin/cadres", STAFF),
    S(G, "admin.cadre", "/admin/cadres/{cadre}", STAFF),
    S(G, "admin.cadre_edit", "/admin/cadres/{cadre}/edit", ADMIN),
    S(P, "admin.cadre_edit", "/admin/cadres/{cadre}/edit", ADMIN, data=lambda f: {}),
    S(G, "admin.cadre_transfer", "/admin/cadres/{cadre}/transfer", ADMIN),
    S(P, "admin.cadre_transfer", "/admin/cadres/{cadre}/transfer", ADMIN, data=lambda f: {}),
    case(G, "admin.cadre_new", "/admin/cadres/new", ADMIN),
    case(P, "admin.cadre_new", "/admin/cadres/new", ADMIN, data=lambda f: {}),
    S(P, "admin.card_issue", "/admin/cadres/{cadre}/cards", ADMIN, data=lambda f: {},
      note="the cadre has an active card: an allowed role is told so (redirect)"),
    S(P, "admin.cadre_reset_password", "/admin/cadres/{cadre}/password", ADMIN, data=lambda f: {}),
    S(P, "admin.card_lost", "/admin/cards/{card}/lost", ADMIN, data=lambda f: {}),
    S(P, "admin.card_reissue", "/admin/cards/{card}/reissue", ADMIN, data=lambda f: {}),
    S(P, "admin.card_cancel", "/admin/cards/{card}/cancel", ADMIN, data=lambda f: {"reason": "安全测试"}),
    case(P, "admin.cards_batch", "/admin/cards/batch", ADMIN, data=lambda f: {}),
    case(G, "admin.units", "/admin/units", STAFF),
    case(P, "admin.units", "/admin/units", ADMIN, data=lambda f: {"name": "安全测试单位", "parent_id": f["unit"]},
         note="a valid form: the viewer's refusal comes after the form check"),
    case(G, "admin.roster_upload", "/admin/roster", ADMIN),
    case(P, "admin.roster_upload", "/admin/roster", ADMIN, data=lambda f: {}),
    case(G, "admin.roster_template", "/admin/roster/template.xlsx", ADMIN),
    # a roster import is its uploader's (and the org admin's): 金台区's was uploaded by jtadmin
    S(G, "admin.roster_preview", "/admin/roster/{roster}", ADMIN),
    S(G, "admin.roster_progress", "/admin/roster/{roster}/progress", ADMIN),
    S(G, "admin.roster_status", "/admin/roster/{roster}/status", ADMIN),
    S(P, "admin.roster_apply", "/admin/roster/{roster}/apply", ADMIN, data=lambda f: {},
      note="the staged file has an error row: an allowed role is told it cannot be applied"),
    case(G, "audit.index", "/admin/audit/", ADMIN),

    # --- accounts API --------------------------------------------------------------------------
    case(P, "accounts_api.login", "/api/v1/auth/login", PUBLIC, json=lambda f: {}),
    case(P, "accounts_api.logout", "/api/v1/auth/logout", AUTH, last=True),
    case(G, "accounts_api.get_me", "/api/v1/me", AUTH),
    case(P, "accounts_api.change_password", "/api/v1/me/password", AUTH,
         json=lambda f: {"old_password": "Wr0ng-old!x", "new_password": "Passw0rd!y"}),
    case(G, "accounts_api.list_units", "/api/v1/units", STAFF),
    S(P, "accounts_api.create_unit", "/api/v1/units", ADMIN,
      json=lambda f: {"name": "渭滨区财政局", "parent_id": f["unit"]},
      note="渭滨区 already has a unit of that name (409); the name is checked before the role, so a blank one "
           "would be refused to anyone"),
    case(G, "accounts_api.list_cadres", "/api/v1/cadres", STAFF),
    S(G, "accounts_api.list_cadres", "/api/v1/cadres?unit_id={unit}", STAFF),
    S(P, "accounts_api.register_cadre", "/api/v1/cadres", ADMIN,
      json=lambda f: {"name": "安全测试", "id_number": "123", "unit_id": f["unit"]}),
    S(P, "accounts_api.import_roster", "/api/v1/cadres/import", ADMIN,
      data=lambda f: {"unit_id": str(f["unit"]), "file": _file(b"", "roster.csv")}),
    S(G, "accounts_api.get_cadre", "/api/v1/cadres/{cadre}", OWNER_STAFF),
    S("PATCH", "accounts_api.update_cadre", "/api/v1/cadres/{cadre}", ADMIN, json=lambda f: {"id_number": "123"}),
    S(P, "accounts_api.issue_card", "/api/v1/cadres/{cadre}/cards", ADMIN),
    S(P, "accounts_api.cancel_card", "/api/v1/cards/{card}/cancel", ADMIN, json=lambda f: {"reason": ""}),
    S(P, "accounts_api.report_card_lost", "/api/v1/cards/{card}/lost", ADMIN),
    S(P, "accounts_api.reissue_card", "/api/v1/cards/{card}/reissue", ADMIN),

    # --- audit API -------------------------------------------------------------------------------
    case(G, "audit_api.list_audit_events", "/api/v1/audit-events", ADMIN),

    # --- catalogue (pages) ----------------------------------------------------------------------
    case(G, "catalogue.index", "/courses/", AUTH),
    case(G, "catalogue.category", "/courses/category/{category}", AUTH),
    case(G, "catalogue.course", "/courses/{course}", AUTH),
    case(G, "catalogue.course", "/courses/{draft}", ORG),
    case(G, "catalogue.lesson", "/courses/{course}/lessons/{lesson}", AUTH),
    case(G, "catalogue.lesson", "/courses/{draft}/lessons/{draft_lesson}", ORG),
    case(G, "catalogue.search", "/courses/search?q=党", AUTH),
    case(G, "media.lesson_video", "/media/lessons/{lesson}/{asset}.mp4", AUTH),
    case(G, "media.lesson_video", "/media/lessons/{draft_lesson}/{draft_asset}.mp4", ORG),
    case(G, "media.lesson_poster", "/media/lessons/{lesson}/{asset}.jpg", AUTH),
    case(G, "media.lesson_poster", "/media/lessons/{draft_lesson}/{draft_asset}.jpg", ORG),
    case(G, "catalogue_admin.categories", "/admin/catalogue/categories", ORG),
    case(P, "catalogue_admin.categories", "/admin/catalogue/categories", ORG, data=lambda f: {}),
    case(P, "catalogue_admin.category_action", "/admin/catalogue/categories/{category}", ORG, data=lambda f: {}),
    case(G, "catalogue_admin.courses", "/admin/catalogue/courses", ORG),
    case(G, "catalogue_admin.course_new", "/admin/catalogue/courses/new", ORG),
    case(P, "catalogue_admin.course_new", "/admin/catalogue/courses/new", ORG, data=lambda f: {}),
    case(G, "catalogue_admin.course_edit", "/admin/catalogue/courses/{course}", ORG),
    case(P, "catalogue_admin.course_edit", "/admin/catalogue/courses/{draft}", ORG, data=lambda f: {}),
    case(P, "catalogue_admin.course_state", "/admin/catalogue/courses/{draft}/state", ORG, data=lambda f: {}),
    case(P, "catalogue_admin.lesson_add", "/admin/catalogue/courses/{draft}/lessons", ORG, data=lambda f: {}),
    case(P, "catalogue_admin.lesson_edit", "/admin/catalogue/lessons/{draft_lesson}", ORG, data=lambda f: {}),
    case(P, "catalogue_admin.lesson_video", "/admin/catalogue/lessons/{draft_lesson}/video", ORG,
         data=lambda f: {}),

    # --- catalogue API ----------------------------------------------------------------------------
    case(G, "catalogue_api.list_categories", "/api/v1/categories", AUTH),
    case(G, "catalogue_api.list_courses", "/api/v1/courses", AUTH),
    case(P, "catalogue_api.create_course", "/api/v1/courses", ORG,
         json=lambda f: {"title": " ", "category_id": f["category"], "lecturer": "x", "class_hours": 1, "credits": 5}),
    case(G, "catalogue_api.get_course", "/api/v1/courses/{course}", AUTH),
    case(G, "catalogue_api.get_course", "/api/v1/courses/{draft}", ORG),
    case("PATCH", "catalogue_api.update_course", "/api/v1/courses/{course}", ORG, json=lambda f: {"title": " "}),
    case("PATCH", "catalogue_api.update_course", "/api/v1/courses/{draft}", ORG, json=lambda f: {"title": " "}),
    case(P, "catalogue_api.create_lesson", "/api/v1/courses/{draft}/lessons", ORG, json=lambda f: {"title": " "}),
    case(G, "catalogue_api.search_courses", "/api/v1/courses/search?q=党", AUTH),
    case(P, "catalogue_api.upload_lesson_video", "/api/v1/lessons/{draft_lesson}/video", ORG,
         data=lambda f: {"offset": "5", "file": _file(b"not a video", "a.mp4")}),
    case(G, "catalogue_api.get_media_job", "/api/v1/media-jobs/{media_job}", ORG),

    # --- learning ---------------------------------------------------------------------------------
    case(G, "learning.index", "/learning/", CADRE),
    case(P, "learning_api.start_watch_session", "/api/v1/lessons/{lesson}/watch-sessions", CADRE),
    case(P, "learning_api.start_watch_session", "/api/v1/lessons/{draft_lesson}/watch-sessions", NOBODY,
         note="a draft's lesson: the org admin is refused as a non-learner, a cadre does not see it"),
    S(P, "learning_api.report_watch_progress", "/api/v1/watch-sessions/{watch}/reports", OWNER,
      json=lambda f: {"seq": 1, "position": 0, "playing": False}),
    S(P, "learning_api.answer_study_check", "/api/v1/study-checks/{check}/answer", OWNER,
      json=lambda f: {"answer": 999}),
    S(G, "learning_api.get_study_check_image", "/api/v1/study-checks/{check}/image.png", OWNER),
    case(G, "learning_api.get_lesson_progress", "/api/v1/lessons/{lesson}/progress", AUTH),
    case(G, "learning_api.get_lesson_progress", "/api/v1/lessons/{draft_lesson}/progress", ORG),
    case(G, "learning_api.get_course_progress", "/api/v1/courses/{course}/progress", AUTH),
    case(G, "learning_api.get_course_progress", "/api/v1/courses/{draft}/progress", ORG),
    case(G, "learning_api.get_my_study_time", "/api/v1/me/study-time", AUTH),
    case(P, "learning_api.record_activity", "/api/v1/me/activity", AUTH),

    # --- exams (pages) -----------------------------------------------------------------------------
    case(G, "exams.mine", "/exams/", CADRE),
    case(G, "exams.start", "/exams/courses/{course}", CADRE),
    case(P, "exams.begin", "/exams/courses/{course}/begin", CADRE, data=lambda f: {},
         note="李明 has an open attempt: it is resumed"),
    S(G, "exams.attempt", "/exams/attempts/{attempt}", OWNER),
    S(P, "exams.submit", "/exams/attempts/{attempt}/submit", OWNER, data=lambda f: {}),
    case(G, "exams_admin.bank", "/admin/exams/courses/{course}", ORG),
    case(P, "exams_admin.settings", "/admin/exams/courses/{course}/settings", ORG, data=lambda f: {}),
    case(P, "exams_admin.question_new", "/admin/exams/courses/{course}/questions", ORG, data=lambda f: {}),
    case(P, "exams_admin.import_questions", "/admin/exams/courses/{course}/import", ORG, data=lambda f: {}),
    case(G, "exams_admin.question_edit", "/admin/exams/questions/{question}", ORG),
    case(P, "exams_admin.question_edit", "/admin/exams/questions/{question}", ORG, data=lambda f: {}),
    case(P, "exams_admin.question_retire", "/admin/exams/questions/{question}/retire", ORG, data=lambda f: {}),
    case(P, "exams_admin.question_restore", "/admin/exams/questions/{question}/restore", ORG, data=lambda f: {}),
    case(G, "exams_admin.template", "/admin/exams/template.xlsx", ORG),

    # --- exams API ----------------------------------------------------------------------------------
    case(G, "exams_api.get_exam_status", "/api/v1/courses/{course}/exam", AUTH),
    case(G, "exams_api.get_exam_status", "/api/v1/courses/{draft}/exam", ORG),
    case(P, "exams_api.start_exam_attempt", "/api/v1/courses/{course}/exam/attempts", CADRE),
    case(G, "exams_api.list_exam_attempts", "/api/v1/exam-attempts", AUTH),
    S(G, "exams_api.get_exam_attempt", "/api/v1/exam-attempts/{attempt}", OWNER_ORG),
    S("PUT", "exams_api.save_exam_answers", "/api/v1/exam-attempts/{attempt}/answers", OWNER,
      json=lambda f: {"answers": {"1": "Z"}}),
    S(P, "exams_api.submit_exam_attempt", "/api/v1/exam-attempts/{attempt}/submit", OWNER, json=lambda f: {}),
    case(G, "exams_api.get_exam_settings", "/api/v1/courses/{course}/exam/settings", ORG),
    case("PUT", "exams_api.update_exam_settings", "/api/v1/courses/{course}/exam/settings", ORG,
         json=lambda f: {"single_count": 99}),
    case(G, "exams_api.list_questions", "/api/v1/courses/{course}/questions", ORG),
    case(P, "exams_api.create_question", "/api/v1/courses/{course}/questions", ORG,
         json=lambda f: {"kind": "single", "stem": " ", "answer": "A"}),
    case(P, "exams_api.import_questions", "/api/v1/courses/{course}/questions/import", ORG,
         data=lambda f: {"file": _file(b"not a workbook", "q.xlsx")}),
    case("PATCH", "exams_api.update_question", "/api/v1/questions/{question}", ORG, json=lambda f: {"stem": " "}),

    # --- papers ------------------------------------------------------------------------------------
    case(G, "papers.mine", "/papers/", AUTH),
    case(G, "papers.new", "/papers/new", CADRE),
    case(P, "papers.new", "/papers/new", CADRE, data=lambda f: {}),
    S(G, "papers.detail", "/papers/{paper}", OWNER_STAFF),
    S(G, "papers.file", "/papers/{paper}/versions/1/file", OWNER_STAFF),
    S(P, "papers.revise", "/papers/{paper}/revise", OWNER, data=lambda f: {"title": "修改稿", "body": "正文"},
      note="the paper waits for review: the author is told it cannot be revised now"),
    S(P, "papers.withdraw", "/papers/{paper}/withdraw", OWNER, data=lambda f: {}),
    # reviewers review every unit's papers: the org admin (always a reviewer) both, wbadmin neither
    case(P, "papers.review", "/papers/{paper}/review", ORG, ORG,
         data=lambda f: {"version": "1", "comment": "", "send_back": "1"}),
    case(G, "papers.queue", "/papers/review", STAFF),
    case(G, "papers.settings", "/papers/settings", ORG),
    case(P, "papers.settings", "/papers/settings", ORG, data=lambda f: {}),
    case(P, "papers.appoint", "/papers/settings/reviewers", ORG, data=lambda f: {}),
    case(P, "papers.remove_reviewer", "/papers/settings/reviewers/{reviewer}/remove", ORG, data=lambda f: {},
         last=True),
    case(P, "exams_api.submit_paper", "/api/v1/papers", CADRE,
         data=lambda f: {"title": "安全测试", "course_id": str(f["papers_course"])}),
    case(G, "exams_api.list_papers", "/api/v1/papers", AUTH),
    S(G, "exams_api.get_paper", "/api/v1/papers/{paper}", OWNER_STAFF),
    S(G, "exams_api.get_paper_file", "/api/v1/papers/{paper}/versions/1/file", OWNER_STAFF),
    S(P, "exams_api.revise_paper", "/api/v1/papers/{paper}/versions", OWNER, data=lambda f: {"title": "修改稿"}),
    case(P, "exams_api.review_paper", "/api/v1/papers/{paper}/review", ORG, ORG,
         json=lambda f: {"approve": False}),
    S(P, "exams_api.withdraw_paper", "/api/v1/papers/{paper}/withdraw", OWNER),

    # --- notifications ----------------------------------------------------------------------------
    case(G, "notifications.index", "/notifications/", AUTH),
    case(P, "notifications.read_all", "/notifications/read-all", AUTH, data=lambda f: {}),
    S(P, "notifications.open_notification", "/notifications/{notification}/open", OWNER, data=lambda f: {}),
    case(G, "notifications_api.list_notifications", "/api/v1/notifications", AUTH),
    case(P, "notifications_api.mark_notifications_read", "/api/v1/notifications/read", AUTH, json=lambda f: {}),

    # --- credits (pages) ----------------------------------------------------------------------------
    case(G, "credits.mine", "/credits/", AUTH),
    S(G, "credits.cadre", "/credits/cadres/{cadre}", STAFF),
    S(P, "credits.adjust", "/credits/cadres/{cadre}/adjust", ORG,
      data=lambda f: {"credits": "0", "reason": "安全测试", "year": "2026"}),
    S(P, "credits.reverse", "/credits/entries/{entry}/reverse", ORG, data=lambda f: {"reason": "安全测试"}),
    case(G, "credits.assessment", "/credits/assessment", STAFF),
    case(G, "credits.rules", "/credits/rules", STAFF),
    case(P, "credits.save_rules", "/credits/rules", ORG, data=lambda f: {}),
    case(P, "credits.close_year", "/credits/years/close", ORG, data=lambda f: {}),
    case(G, "credits_applications.index", "/credits/applications/", AUTH),
    case(G, "credits_applications.new", "/credits/applications/new", CADRE),
    case(P, "credits_applications.new", "/credits/applications/new", CADRE, data=lambda f: {}),
    S(G, "credits_applications.detail", "/credits/applications/{application}", OWNER_STAFF),
    S(G, "credits_applications.evidence", "/credits/applications/{application}/evidence", OWNER_STAFF),
    S(P, "credits_applications.review", "/credits/applications/{application}/review", ADMIN,
      data=lambda f: {"comment": "", "reject": "1"}),
    S(P, "credits_applications.decide", "/credits/applications/{application}/decision", ORG,
      data=lambda f: {"reason": "安全测试", "reject": "1"}),
    S(P, "credits_applications.withdraw", "/credits/applications/{application}/withdraw", OWNER, data=lambda f: {}),
    case(G, "credits_training.index", "/credits/training/", STAFF),
    case(G, "credits_training.new", "/credits/training/new", ADMIN),
    case(P, "credits_training.new", "/credits/training/new", ADMIN, data=lambda f: {}),
    S(G, "credits_training.detail", "/credits/training/{training}", STAFF),
    S(G, "credits_training.evidence", "/credits/training/{training}/evidence", STAFF),

    # --- credits API ---------------------------------------------------------------------------------
    case(G, "credits_api.get_credit_summary", "/api/v1/credits/summary", CADRE,
         note="without user_id: the caller's own (staff have none: 404)"),
    S(G, "credits_api.get_credit_summary", "/api/v1/credits/summary?user_id={cadre}", OWNER_STAFF),
    case(G, "credits_api.list_credit_entries", "/api/v1/credits/entries", CADRE),
    S(G, "credits_api.list_credit_entries", "/api/v1/credits/entries?user_id={cadre}", OWNER_STAFF),
    case(P, "credits_api.adjust_credits", "/api/v1/credits/adjustments", ORG, ORG,
         json=lambda f: {"user_id": f["cadre"], "credits": 0, "reason": "安全测试"}),
    case(P, "credits_api.reverse_credit_entry", "/api/v1/credits/entries/{entry}/reversal", ORG, ORG,
         json=lambda f: {"reason": "安全测试"}),
    case(G, "credits_api.get_assessment", "/api/v1/credits/assessment", STAFF),
    S(G, "credits_api.get_assessment", "/api/v1/credits/assessment?unit_id={unit}", STAFF),
    case(G, "credits_api.get_credit_rules", "/api/v1/credits/rules", AUTH),
    case("PUT", "credits_api.update_credit_rules", "/api/v1/credits/rules", ORG,
         json=lambda f: {"effective_year": 2026, "values": {"annual_credits": -1}}),
    case(P, "credits_api.close_credit_year", "/api/v1/credits/years/2100/closing", ORG,
         note="a year not yet over: an allowed role is refused by the rule"),
    case(P, "credits_applications_api.apply_for_credits", "/api/v1/credits/applications", CADRE,
         data=lambda f: {"kind": "award", "level": "second", "title": "安全测试申请", "event_date": "2099-01-01",
                         "evidence": _file(PDF, "a.pdf")}),
    case(G, "credits_applications_api.list_credit_applications", "/api/v1/credits/applications", AUTH),
    S(G, "credits_applications_api.get_credit_application", "/api/v1/credits/applications/{application}",
      OWNER_STAFF),
    S(G, "credits_applications_api.get_credit_application_evidence",
      "/api/v1/credits/applications/{application}/evidence", OWNER_STAFF),
    S(P, "credits_applications_api.review_credit_application",
      "/api/v1/credits/applications/{application}/review", ADMIN, json=lambda f: {"forward": False, "comment": ""}),
    S(P, "credits_applications_api.decide_credit_application",
      "/api/v1/credits/applications/{application}/decision", ORG, json=lambda f: {"approve": False, "reason": ""}),
    S(P, "credits_applications_api.withdraw_credit_application",
      "/api/v1/credits/applications/{application}/withdraw", OWNER),
    case(P, "credits_training_api.record_offline_training", "/api/v1/credits/training", ADMIN,
         data=lambda f: {"name": "安全测试培训", "organiser": "市委党校", "start_date": "2026-11-02",
                         "end_date": "2026-11-04", "days": "3", "cadres": "不存在的人"},
         note="who may be listed is checked per line (another unit's cadre: a 400 naming the line)"),
    case(G, "credits_training_api.list_offline_training", "/api/v1/credits/training", STAFF),
    S(G, "credits_training_api.get_offline_training", "/api/v1/credits/training/{training}", STAFF),

    # --- archive, reports ---------------------------------------------------------------------------
    case(G, "archive.mine", "/archive/", AUTH),
    S(G, "archive.cadre", "/archive/cadres/{cadre}", STAFF),
    S(P, "archive.issue_cadre", "/archive/cadres/{cadre}/certificate", ADMIN, data=lambda f: {"year": "2026"}),
    case(P, "archive.issue_mine", "/archive/certificate", CADRE, data=lambda f: {"year": "2026"}),
    case(G, "reports.unit", "/reports/units", STAFF),
    case(G, "reports.course", "/reports/courses", STAFF),
    case(G, "reports.trend", "/reports/trends", STAFF),
    case(G, "reports.exports", "/reports/exports", STAFF),
    case(P, "reports.request_export", "/reports/exports", STAFF, data=lambda f: {"kind": "nope"}),
    case(G, "reports.export_download", "/reports/exports/{export}/file", CREATOR, NOBODY),
    case(G, "reports_api.person_archive", "/api/v1/reports/archive", CADRE),
    S(G, "reports_api.person_archive", "/api/v1/reports/archive?user_id={cadre}", OWNER_STAFF),
    S(G, "reports_api.unit_report", "/api/v1/reports/units?unit_id={unit}", STAFF),
    S(G, "reports_api.course_report", "/api/v1/reports/courses?unit_id={unit}", STAFF),
    S(G, "reports_api.trend_report", "/api/v1/reports/trends?unit_id={unit}", STAFF),
    case(P, "reports_api.create_report_export", "/api/v1/reports/exports", STAFF, json=lambda f: {"kind": "nope"}),
    S(P, "reports_api.create_report_export", "/api/v1/reports/exports", STAFF,
      json=lambda f: {"kind": "unit", "format": "csv", "unit_id": f["unit"]},
      note="the export's unit is checked when it is asked for"),
    case(G, "reports_api.list_report_exports", "/api/v1/reports/exports", AUTH,
         note="the caller's own exports (a cadre has none)"),
    case(G, "reports_api.get_report_export", "/api/v1/reports/exports/{export}", CREATOR, NOBODY),
    case(G, "reports_api.download_report_export", "/api/v1/reports/exports/{export}/file", CREATOR, NOBODY),
]

# (endpoint, method, role, side): why the answer is not 401/403/404 although nothing is reached.
# Empty: the card pages (lost, reissue, cancel) answered a viewer's or a cadre's POST with a flashed
# message and a redirect until they checked the role first, as card_issue does.
KNOWN_DEVIATIONS: dict[tuple[str, str, str, str], str] = {}

# Tables a refused request may legitimately write, with the reason (none so far: even the login
# sessions' rows stay as they were).
VOLATILE: dict[str, str] = {}


# --- running ---------------------------------------------------------------------------------------

@dataclass
class Request:
    case: Case
    side: str          # "wb" or "jt"
    url: str
    expect_allowed: bool


def _values(w: SecWorld, side: Side) -> dict:
    out = {k: v for k, v in asdict(w).items() if k not in ("wb", "jt")}
    out.update(asdict(side))
    return out


def requests_for(role: str, w: SecWorld) -> list[Request]:
    out = []
    for c in CASES:
        sides = [("wb", c.allowed)] + ([("jt", c.other)] if c.other is not None else [])
        for name, allowed in sides:
            url = c.path.format(**_values(w, getattr(w, name)))
            out.append(Request(c, name, url, role in allowed))
    return out


def send(client, req: Request, w: SecWorld):
    c = req.case
    f = _values(w, getattr(w, req.side))
    kw = {}
    if c.json is not None:
        kw["json"] = c.json(f)
    elif c.data is not None:
        kw["data"] = c.data(f)
        if any(isinstance(v, tuple) for v in kw["data"].values()):
            kw["content_type"] = "multipart/form-data"
    headers = {"X-CSRFToken": client.csrf} if client.csrf and c.method != "GET" else {}
    return client.c.open(req.url, method=c.method, headers=headers, **kw)


def _is_login_redirect(resp) -> bool:
    """The login check's answer to a page (a plain /login is where logging out lands)."""
    return resp.status_code in (301, 302, 303) and "/login?next=" in resp.headers.get("Location", "")


def verdict(role: str, req: Request, resp) -> str | None:
    """None if the answer fits the rule, else what is wrong."""
    status = resp.status_code
    if status >= 500:
        return f"{status} (server error)"
    api = req.url.startswith("/api/")
    if req.expect_allowed:
        if status in (401, 403, 404) or _is_login_redirect(resp):
            return f"{status} {resp.headers.get('Location', '')} but should be allowed"
        return None
    if role == A:
        ok = status == 401 if api else _is_login_redirect(resp)
        return None if ok else f"{status} but anonymous should get {'401' if api else 'a redirect to /login'}"
    return None if status in (403, 404) else f"{status} {resp.headers.get('Location', '')} but should be denied"


def snapshot() -> dict[str, list]:
    """Every row of every table (but the volatile ones), for a before/after comparison."""
    out = {}
    for table in db.metadata.sorted_tables:
        if table.name in VOLATILE:
            continue
        pk = list(table.primary_key.columns) or list(table.columns)
        out[table.name] = [tuple(r) for r in db.session.execute(select(table).order_by(*pk))]
    return out


def diff(before: dict, after: dict) -> list[str]:
    return [f"{name}: {len(before[name])} rows → {len(after[name])}" + (
        "" if len(before[name]) != len(after[name]) else " (changed)")
        for name in before if before[name] != after[name]]


def label(role: str, req: Request) -> str:
    return f"{role:9} {req.case.method:5} {req.url}  [{req.case.endpoint}, {req.side}]"


def run_role(app, role: str, w: SecWorld) -> tuple[list[str], int]:
    """All of a role's requests: the refused ones first (which must change nothing), then the rest."""
    client = role_client(app, role, w)
    reqs = requests_for(role, w)
    denied = [r for r in reqs if not r.expect_allowed]
    allowed = sorted((r for r in reqs if r.expect_allowed), key=lambda r: r.case.last)
    problems = []
    with app.app_context():
        before = snapshot()
    for req in denied:
        resp = send(client, req, w)
        key = (req.case.endpoint, req.case.method, role, req.side)
        why = verdict(role, req, resp)
        if why and key not in KNOWN_DEVIATIONS:
            problems.append(f"{label(role, req)}: {why}")
    with app.app_context():
        changed = diff(before, snapshot())
    if changed:
        problems.append(f"{role}: refused requests changed the database: {changed}")
    for req in allowed:
        # a request that ends or changes the session gets a session of its own
        resp = send(role_client(app, role, w) if req.case.last else client, req, w)
        why = verdict(role, req, resp)
        if why:
            problems.append(f"{label(role, req)}: {why}")
        elif role in (C, N, V) and resp.status_code == 200 and req.case.endpoint != "static":
            text = resp.get_data(as_text=True) if resp.mimetype.startswith(("text/", "application/json",
                                                                          "application/problem")) else ""
            leaked = [s for s in JT_CANARIES if s in text]
            if leaked:
                problems.append(f"{label(role, req)}: shows 金台区's {leaked}")
    return problems, len(reqs)


# --- the tests -----------------------------------------------------------------------------------------

def _rules(app) -> set[tuple[str, str]]:
    return {(r.endpoint, m) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}


def test_every_route_is_in_the_matrix(app):
    """A new route (or method) without a row here fails: decide who may use it, then add it."""
    classified = {(c.endpoint, c.method) for c in CASES}
    missing = sorted(_rules(app) - classified)
    assert not missing, f"routes with no entry in the role matrix: {missing}"
    stale = sorted(classified - _rules(app))
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


def test_every_case_path_reaches_its_endpoint(app):
    """The sample URL of each row is routed to the endpoint the row names (no typo hides a route)."""
    adapter = app.url_map.bind("localhost")
    wrong = []
    for c in CASES:
        values = {name: "x" if name in ("watch", "check", "roster", "verify_code", "static_file") else 7
                  for name in _placeholders(c.path)}
        path = c.path.format(**values).split("?")[0]
        endpoint, _args = adapter.match(path, method=c.method)
        if endpoint != c.endpoint:
            wrong.append((c.method, c.path, endpoint, c.endpoint))
    assert not wrong


def _placeholders(template: str) -> list[str]:
    import string

    return [name for _lit, name, _spec, _conv in string.Formatter().parse(template) if name]


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(app, sec_world, role):
    problems, n = run_role(app, role, sec_world)
    assert n >= len(CASES)
    assert not problems, f"{len(problems)} of {n} requests break the matrix:\n" + "\n".join(problems)


def test_the_matrix_notices_a_broken_scope_check(app, sec_world, monkeypatch):
    """The matrix has teeth: with the unit-subtree check made to let every staff member through and
    the cadre list made to list the whole city, 渭滨区's network administrator reaches 金台区's
    objects, and the run says so — requests that should be refused, the database changed by them,
    and 金台区's cadre in a list."""
    from app.accounts import scope
    from app.accounts import services as accounts
    from app.accounts.models import User

    monkeypatch.setattr(scope, "in_scope", lambda actor, unit: actor.role in scope.STAFF_ROLES)
    whole_city = accounts.list_cadres
    monkeypatch.setattr(accounts, "list_cadres", lambda actor, f: whole_city(
        db.session.scalar(select(User).where(User.username == "org")), f))
    problems, _n = run_role(app, N, sec_world)
    assert any("/api/v1/cadres/{} ".format(sec_world.jt.cadre) in p and "should be denied" in p for p in problems)
    assert any("changed the database" in p for p in problems)
    assert any("shows 金台区's" in p for p in problems)
