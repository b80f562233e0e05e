"""Account pages: login, password, and the administrators' cadre, card, unit and roster pages."""
from __future__ import annotations

from flask import (
    Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.accounts import roster, services
from app.accounts.forms import (
    BatchIssueForm, CadreEditForm, CadreForm, CancelCardForm, ChangePasswordForm, ConfirmForm,
    LoginForm, RosterForm, TransferForm, UnitForm,
)
from app.accounts.idnumber import mask_id_number
from app.accounts.models import CardState
from app.accounts.scope import ADMIN_ROLES, STAFF_ROLES, require_role
from app.audit.services import list_events
from app.db import commit
from app.errors import DomainError, problem
from app.web import apply_error as _apply_error, int_arg, origin_from_request

auth_bp = Blueprint("auth", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")

_OPEN_WHILE_PASSWORD_EXPIRED = {"auth.password", "auth.logout", "static", "main.set_locale",
                                "accounts_api.change_password", "accounts_api.get_me", "accounts_api.logout",
                                "api-docs.openapi_json"}


@auth_bp.before_app_request
def _force_password_change():
    if not getattr(current_user, "is_authenticated", False) or not current_user.must_change_password:
        return None
    if request.endpoint in _OPEN_WHILE_PASSWORD_EXPIRED or request.endpoint is None:
        return None
    if request.path.startswith("/api/"):
        return problem(403, "must_change_password", _("须先修改密码"), _("首次登录或密码被重置后须先修改密码"))
    return redirect(url_for("auth.password"))


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


# --- login and password ------------------------------------------------------------------

@auth_bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status = 200
    retry_after = None
    if form.validate_on_submit():
        try:
            result = services.authenticate(form.login.data, form.password.data, origin=origin_from_request())
        except DomainError as err:
            commit()  # the failure counters and any lockout must persist
            status = err.status if err.status in (401, 429) else 400
            retry_after = getattr(err, "retry_after", None)
            flash(err.message, "error")
        else:
            login_user(result.user)
            commit()
            if result.user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(_safe_next(request.args.get("next")) or url_for("main.home"))
    elif request.method == "POST":
        status = 400
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return render_template("auth/login.html", form=form), status, headers


@auth_bp.post("/logout")
@login_required
def logout():
    ConfirmForm().validate_on_submit() or abort(400)
    services.end_session(current_user)
    logout_user()
    commit()
    flash(_("您已安全退出"), "info")
    return redirect(url_for("auth.login"))


@auth_bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if form.new_password.data != form.confirm.data:
            form.confirm.errors = [_("两次输入的新密码不一致")]
        else:
            try:
                services.change_password(current_user, form.old_password.data, form.new_password.data,
                                         origin=origin_from_request())
            except DomainError as err:
                _apply_error(form, err)
            else:
                commit()
                flash(_("密码已修改"), "success")
                return redirect(url_for("main.home"))
    return render_template("auth/password.html", form=form, forced=current_user.must_change_password)


# --- cadres ------------------------------------------------------------------------------

def _unit_choices(units=None):
    return services.unit_choices(current_user, units)


@admin_bp.get("/cadres")
@login_required
def cadres():
    require_role(current_user, *STAFF_ROLES)
    f = services.CadreFilter(unit_id=int_arg("unit_id"), q=request.args.get("q") or None,
                             card_state=request.args.get("card_state") or None,
                             rank=request.args.get("rank") or None, page=int_arg("page", 1), per_page=50)
    page = services.list_cadres(current_user, f)
    return render_template("accounts/cadres.html", page=page, f=f, units=_unit_choices(),
                           mask=mask_id_number, batch_form=BatchIssueForm())


@admin_bp.route("/cadres/new", methods=["GET", "POST"])
@login_required
def cadre_new():
    require_role(current_user, *ADMIN_ROLES)
    form = CadreForm()
    form.unit_id.choices = _unit_choices()
    if request.method == "GET" and request.args.get("unit_id"):
        form.unit_id.data = int_arg("unit_id")
    if request.method == "GET" and request.args.get("supplementary"):
        form.supplementary.data = True
    if form.validate_on_submit():
        info = services.CadreInfo(
            name=form.name.data, id_number=form.id_number.data, unit_id=form.unit_id.data,
            rank=form.rank.data, position=form.position.data, phone=form.phone.data,
            username=form.username.data, supplementary=form.supplementary.data,
            supplementary_reason=form.supplementary_reason.data, supplementary_date=form.supplementary_date.data)
        try:
            user = services.register_cadre(current_user, info, origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
        else:
            commit()
            flash(_("已登记学员 %(name)s", name=user.name), "success")
            return redirect(url_for("admin.cadre", user_id=user.id))
    return render_template("accounts/cadre_form.html", form=form, title=_("登记学员"))


@admin_bp.get("/cadres/<int:user_id>")
@login_required
def cadre(user_id: int):
    require_role(current_user, *STAFF_ROLES)
    user = services.get_cadre(current_user, user_id)
    events = list_events("/", target_type="cadre", target_id=user.id, per_page=20).items
    card_events = [e for c in user.cards for e in list_events("/", target_type="card", target_id=c.id, per_page=20).items]
    history = sorted(events + card_events, key=lambda e: e.id, reverse=True)
    return render_template("accounts/cadre.html", user=user, mask=mask_id_number, history=history,
                           confirm=ConfirmForm(), cancel_form=CancelCardForm(), CardState=CardState,
                           can_act=current_user.role in ADMIN_ROLES)


@admin_bp.route("/cadres/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def cadre_edit(user_id: int):
    require_role(current_user, *ADMIN_ROLES)
    user = services.get_cadre(current_user, user_id)
    form = CadreEditForm(obj=None)
    if request.method == "GET":
        form.name.data = user.name
        form.rank.data = user.cadre.rank.value
        form.position.data = user.cadre.position
        form.phone.data = user.cadre.phone
        form.username.data = user.username
    if form.validate_on_submit():
        changes = {k: getattr(form, k).data for k in ("name", "rank", "position", "phone", "username", "id_number")}
        try:
            services.update_cadre(current_user, user, changes, origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
        else:
            commit()
            flash(_("资料已保存"), "success")
            return redirect(url_for("admin.cadre", user_id=user.id))
    return render_template("accounts/cadre_edit.html", form=form, user=user, mask=mask_id_number)


@admin_bp.route("/cadres/<int:user_id>/transfer", methods=["GET", "POST"])
@login_required
def cadre_transfer(user_id: int):
    require_role(current_user, *ADMIN_ROLES)
    user = services.get_cadre(current_user, user_id)
    form = TransferForm()
    form.unit_id.choices = [c for c in _unit_choices() if c[0] != user.unit_id]
    if form.validate_on_submit():
        try:
            services.transfer_cadre(current_user, user, form.unit_id.data, reason=form.reason.data,
                                    origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
        else:
            commit()
            flash(_("已调动到 %(unit)s", unit=user.unit.name), "success")
            return redirect(url_for("admin.cadre", user_id=user.id))
    return render_template("accounts/transfer.html", form=form, user=user)


# --- cards -------------------------------------------------------------------------------

def _sheet(issued, title):
    return render_template("accounts/card_sheet.html", issued=issued, title=title)


@admin_bp.post("/cadres/<int:user_id>/cards")
@login_required
def card_issue(user_id: int):
    require_role(current_user, *ADMIN_ROLES)
    ConfirmForm().validate_on_submit() or abort(400)
    user = services.get_cadre(current_user, user_id)
    try:
        issued = services.issue_card(current_user, user, origin=origin_from_request())
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.cadre", user_id=user.id))
    commit()
    return _sheet([issued], _("学习卡(发卡)"))


@admin_bp.post("/cards/<int:card_id>/lost")
@login_required
def card_lost(card_id: int):
    require_role(current_user, *ADMIN_ROLES)
    ConfirmForm().validate_on_submit() or abort(400)
    card = services.get_card(current_user, card_id)
    try:
        services.report_card_lost(current_user, card, origin=origin_from_request())
    except DomainError as err:
        flash(err.message, "error")
    else:
        commit()
        flash(_("学习卡 %(n)s 已挂失,该卡已不能登录,已登录的会话已被终止", n=card.display_number), "success")
    return redirect(url_for("admin.cadre", user_id=card.user_id))


@admin_bp.post("/cards/<int:card_id>/reissue")
@login_required
def card_reissue(card_id: int):
    require_role(current_user, *ADMIN_ROLES)
    ConfirmForm().validate_on_submit() or abort(400)
    card = services.get_card(current_user, card_id)
    try:
        issued = services.reissue_card(current_user, card, origin=origin_from_request())
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.cadre", user_id=card.user_id))
    commit()
    return _sheet([issued], _("学习卡(补卡)"))


@admin_bp.post("/cards/<int:card_id>/cancel")
@login_required
def card_cancel(card_id: int):
    require_role(current_user, *ADMIN_ROLES)
    form = CancelCardForm()
    card = services.get_card(current_user, card_id)
    if not form.validate_on_submit():
        flash(_("请填写注销原因"), "error")
        return redirect(url_for("admin.cadre", user_id=card.user_id))
    try:
        services.cancel_card(current_user, card, reason=form.reason.data, origin=origin_from_request())
    except DomainError as err:
        flash(err.message, "error")
    else:
        commit()
        flash(_("学习卡 %(n)s 已注销", n=card.display_number), "success")
    return redirect(url_for("admin.cadre", user_id=card.user_id))


@admin_bp.post("/cadres/<int:user_id>/password")
@login_required
def cadre_reset_password(user_id: int):
    ConfirmForm().validate_on_submit() or abort(400)
    user = services.get_cadre(current_user, user_id)
    password = services.reset_password(current_user, user, origin=origin_from_request())
    commit()
    return render_template("accounts/password_reset.html", user=user, password=password)


@admin_bp.post("/cards/batch")
@login_required
def cards_batch():
    require_role(current_user, *ADMIN_ROLES)
    form = BatchIssueForm()
    form.unit_id.choices = _unit_choices()
    if not form.validate_on_submit():
        abort(400)
    issued = services.issue_cards_for_unit(current_user, form.unit_id.data, origin=origin_from_request())
    commit()
    if not issued:
        flash(_("该单位下所有学员都已发卡"), "info")
        return redirect(url_for("admin.cadres", unit_id=form.unit_id.data))
    return _sheet(issued, _("学习卡批量发卡(%(n)d 张)", n=len(issued)))


# --- units -------------------------------------------------------------------------------

@admin_bp.route("/units", methods=["GET", "POST"])
@login_required
def units():
    require_role(current_user, *STAFF_ROLES)
    all_units = services.units_in_scope(current_user)
    form = UnitForm()
    form.parent_id.choices = _unit_choices(all_units)
    if form.validate_on_submit():
        require_role(current_user, *ADMIN_ROLES)
        try:
            parent = services.get_unit(current_user, form.parent_id.data)
            unit = services.create_unit(current_user, form.name.data, parent=parent, code=form.code.data,
                                        origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
        else:
            commit()
            flash(_("已新建单位 %(n)s", n=unit.name), "success")
            return redirect(url_for("admin.units"))
    from app.accounts.queries import unit_counts

    counts = unit_counts(all_units)
    return render_template("accounts/units.html", units=all_units, form=form, counts=counts,
                           base_depth=current_user.unit.depth, can_act=current_user.role in ADMIN_ROLES)


# --- roster import -----------------------------------------------------------------------

@admin_bp.route("/roster", methods=["GET", "POST"])
@login_required
def roster_upload():
    require_role(current_user, *ADMIN_ROLES)
    form = RosterForm()
    form.unit_id.choices = _unit_choices()
    if form.validate_on_submit():
        f = form.file.data
        try:
            imp, _preview = roster.stage_import(current_user, form.unit_id.data, f.filename, f.read(),
                                                origin=origin_from_request())
        except DomainError as err:
            _apply_error(form, err)
        else:
            commit()
            return redirect(url_for("admin.roster_preview", token=imp.token))
    return render_template("accounts/roster_upload.html", form=form)


@admin_bp.get("/roster/template.xlsx")
@login_required
def roster_template():
    require_role(current_user, *ADMIN_ROLES)
    return Response(roster.template_xlsx(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=roster-template.xlsx"})


@admin_bp.get("/roster/<token>")
@login_required
def roster_preview(token: str):
    require_role(current_user, *ADMIN_ROLES)
    imp = roster.get_import(current_user, token)
    if imp.state != "previewed":
        return redirect(url_for("admin.roster_progress", token=token))
    preview = roster.preview_import(current_user, imp)
    show = request.args.get("show", "all")
    rows = [r for r in preview.rows if show == "all" or r.status == show]
    return render_template("accounts/roster_preview.html", imp=imp, preview=preview, rows=rows[:1000],
                           shown=len(rows), show=show, confirm=ConfirmForm())


@admin_bp.post("/roster/<token>/apply")
@login_required
def roster_apply(token: str):
    require_role(current_user, *ADMIN_ROLES)
    ConfirmForm().validate_on_submit() or abort(400)
    imp = roster.get_import(current_user, token)
    try:
        roster.start_import(current_user, imp)
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.roster_preview", token=token))
    commit()
    from app.accounts.jobs import run_roster_import

    origin = origin_from_request()
    run_roster_import(imp.id, current_user.id, origin.ip, origin.user_agent)
    return redirect(url_for("admin.roster_progress", token=token))


@admin_bp.get("/roster/<token>/progress")
@login_required
def roster_progress(token: str):
    require_role(current_user, *ADMIN_ROLES)
    imp = roster.get_import(current_user, token)
    return render_template("accounts/roster_progress.html", imp=imp)


@admin_bp.get("/roster/<token>/status")
@login_required
def roster_status(token: str):
    require_role(current_user, *ADMIN_ROLES)
    imp = roster.get_import(current_user, token)
    return jsonify(state=imp.state, total=imp.total_rows, processed=imp.processed_rows,
                   created=imp.created_count, updated=imp.updated_count, unchanged=imp.unchanged_count,
                   errors=imp.error_count, error_message=imp.error_message,
                   percent=int(100 * imp.processed_rows / imp.total_rows) if imp.total_rows else 100)

