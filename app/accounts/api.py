"""Accounts and cards in the JSON API (operationIds as in API.md)."""
from __future__ import annotations

from flask_login import current_user, login_required, login_user, logout_user
from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf
from marshmallow import Schema, fields, validate

from app.accounts import roster, services
from app.accounts.idnumber import mask_id_number
from app.accounts.models import Rank, Role, StudyCard, Unit, UnitLevel, User
from app.api.schemas import DbId, PageArgs, Problem, page_body
from app.db import commit
from app.errors import DomainError
from app.extensions import csrf
from app.web import origin_from_request

blp = Blueprint("accounts_api", __name__, description="账户、单位与学习卡 Accounts, units and study cards")


# --- schemas -----------------------------------------------------------------------------

class LoginArgs(Schema):
    login = fields.String(required=True, metadata={"description": "学习卡号或用户名 card number or username"})
    password = fields.String(required=True, load_only=True)


class UnitOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    level = fields.String()
    parent_id = fields.Integer(allow_none=True)
    path = fields.String()


class CardOut(Schema):
    id = fields.Integer()
    number = fields.String()
    state = fields.String(metadata={"enum": ["active", "lost", "cancelled"]})
    issued_at = fields.DateTime()
    lost_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    replaces_id = fields.Integer(allow_none=True)


class CadreOut(Schema):
    id = fields.Integer()
    name = fields.String()
    username = fields.String(allow_none=True)
    id_number = fields.String(metadata={"description": "masked except for its owner"})
    gender = fields.String()
    birth_date = fields.Date()
    rank = fields.String(metadata={"enum": [r.value for r in Rank]})
    position = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    unit = fields.Nested(UnitOut)
    registration_kind = fields.String()
    supplementary_reason = fields.String(allow_none=True)
    supplementary_date = fields.Date(allow_none=True)
    cards = fields.List(fields.Nested(CardOut))
    transfers = fields.List(fields.Dict())


class UserOut(Schema):
    id = fields.Integer()
    name = fields.String()
    username = fields.String(allow_none=True)
    role = fields.String(metadata={"enum": [r.value for r in Role]})
    unit = fields.Nested(UnitOut)
    must_change_password = fields.Boolean()
    card = fields.Nested(CardOut, allow_none=True)
    cadre = fields.Nested(CadreOut, allow_none=True)


class LoginOut(Schema):
    user = fields.Nested(UserOut)
    csrf_token = fields.String()
    must_change_password = fields.Boolean()


class ChangePasswordArgs(Schema):
    old_password = fields.String(required=True)
    new_password = fields.String(required=True)


class UnitArgs(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    parent_id = DbId(required=True)
    code = fields.String(load_default=None, validate=validate.Length(max=32))
    level = fields.String(load_default=None, validate=validate.OneOf([lv.value for lv in UnitLevel]))


class UnitList(Schema):
    items = fields.List(fields.Nested(UnitOut))
    total = fields.Integer()


class CadreArgs(Schema):
    name = fields.String(required=True)
    id_number = fields.String(required=True)
    unit_id = DbId(required=True)
    rank = fields.String(load_default="other")
    position = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)
    username = fields.String(load_default=None, allow_none=True)
    supplementary = fields.Boolean(load_default=False, metadata={"description": "补录 supplementary registration"})
    supplementary_reason = fields.String(load_default=None, allow_none=True)
    supplementary_date = fields.Date(load_default=None, allow_none=True)


class CadreUpdateArgs(Schema):
    name = fields.String()
    id_number = fields.String()
    rank = fields.String()
    position = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    username = fields.String(allow_none=True)
    unit_id = DbId(metadata={"description": "a different unit transfers the cadre"})
    transfer_reason = fields.String(allow_none=True)


class CadreListArgs(PageArgs):
    unit_id = DbId()
    q = fields.String()
    card_state = fields.String(validate=validate.OneOf(["active", "lost", "cancelled", "none"]))
    rank = fields.String()


class CadreList(Schema):
    items = fields.List(fields.Nested(CadreOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class IssuedCardOut(Schema):
    card = fields.Nested(CardOut)
    initial_password = fields.String(metadata={"description": "shown once; never stored"})
    cadre_id = fields.Integer()


class CancelArgs(Schema):
    reason = fields.String(required=True)


class ImportArgs(Schema):
    unit_id = DbId(required=True)
    confirm = fields.Boolean(load_default=False, metadata={"description": "false: preview only"})


class ImportFile(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImportRowOut(Schema):
    row = fields.Integer()
    status = fields.String(metadata={"enum": ["create", "update", "unchanged", "error"]})
    name = fields.String()
    id_number = fields.String(attribute="id_masked")
    unit = fields.String(attribute="unit_name")
    errors = fields.List(fields.Dict())
    changes = fields.List(fields.String())


class ImportOut(Schema):
    applied = fields.Boolean()
    total = fields.Integer()
    create = fields.Integer()
    update = fields.Integer()
    unchanged = fields.Integer()
    error = fields.Integer()
    rows = fields.List(fields.Nested(ImportRowOut))


# --- serialisers -------------------------------------------------------------------------

def unit_dict(u: Unit) -> dict:
    return {"id": u.id, "code": u.code, "name": u.name, "level": u.level.value, "parent_id": u.parent_id,
            "path": u.path}


def card_dict(c: StudyCard) -> dict:
    return {"id": c.id, "number": c.number, "state": c.state.value, "issued_at": c.issued_at,
            "lost_at": c.lost_at, "cancelled_at": c.cancelled_at, "replaces_id": c.replaces_id}


def cadre_dict(user: User, viewer: User) -> dict:
    c = user.cadre
    own = viewer.id == user.id
    return {
        "id": user.id, "name": user.name, "username": user.username,
        "id_number": c.id_number if own else mask_id_number(c.id_number),
        "gender": c.gender.value, "birth_date": c.birth_date, "rank": c.rank.value,
        "position": c.position, "phone": c.phone, "unit": unit_dict(user.unit),
        "registration_kind": c.registration_kind.value, "supplementary_reason": c.supplementary_reason,
        "supplementary_date": c.supplementary_date, "cards": [card_dict(x) for x in user.cards],
        "transfers": [{"from_unit": t.from_unit.name, "to_unit": t.to_unit.name, "at": t.at.isoformat(),
                       "reason": t.reason} for t in c.transfers],
    }


def user_dict(user: User) -> dict:
    card = user.active_card if user.role == Role.CADRE else None
    return {"id": user.id, "name": user.name, "username": user.username, "role": user.role.value,
            "unit": unit_dict(user.unit), "must_change_password": user.must_change_password,
            "card": card_dict(card) if card else None,
            "cadre": cadre_dict(user, user) if user.cadre else None}


# --- auth --------------------------------------------------------------------------------

@blp.route("/auth/login", methods=["POST"])
@blp.arguments(LoginArgs)
@blp.response(200, LoginOut)
@blp.alt_response(401, schema=Problem, description="wrong credentials")
@blp.alt_response(429, schema=Problem, description="locked for a while")
@blp.doc(operationId="login", security=[])
@csrf.exempt
def login(args):
    """登录 Log in with a card number or username."""
    try:
        result = services.authenticate(args["login"], args["password"], origin=origin_from_request())
    except DomainError:
        commit()  # failure counters and lockouts persist
        raise
    login_user(result.user)
    commit()
    return {"user": user_dict(result.user), "csrf_token": generate_csrf(),
            "must_change_password": result.user.must_change_password}


@blp.route("/auth/logout", methods=["POST"])
@blp.response(204)
@blp.doc(operationId="logout")
@login_required
def logout():
    """退出 Log out; the session ends on the server."""
    services.end_session(current_user)
    logout_user()
    commit()


@blp.route("/me", methods=["GET"])
@blp.response(200, UserOut)
@blp.doc(operationId="getMe")
@login_required
def get_me():
    """当前用户 The logged-in user, with their active card."""
    return user_dict(current_user)


@blp.route("/me/password", methods=["POST"])
@blp.arguments(ChangePasswordArgs)
@blp.response(204)
@blp.doc(operationId="changePassword")
@login_required
def change_password(args):
    """修改密码 Change one's own password."""
    services.change_password(current_user, args["old_password"], args["new_password"], origin=origin_from_request())
    commit()


# --- units -------------------------------------------------------------------------------

@blp.route("/units", methods=["GET"])
@blp.response(200, UnitList)
@blp.doc(operationId="listUnits")
@login_required
def list_units():
    """单位 Units in the caller's subtree, in tree order."""
    from app.accounts.scope import STAFF_ROLES, require_role

    require_role(current_user, *STAFF_ROLES)
    units = services.units_in_scope(current_user)
    return {"items": [unit_dict(u) for u in units], "total": len(units)}


@blp.route("/units", methods=["POST"])
@blp.arguments(UnitArgs)
@blp.response(201, UnitOut)
@blp.doc(operationId="createUnit")
@login_required
def create_unit(args):
    """新建单位 Create a unit under a parent in the caller's subtree."""
    parent = services.get_unit(current_user, args["parent_id"])
    unit = services.create_unit(current_user, args["name"], parent=parent, code=args.get("code"),
                                level=UnitLevel(args["level"]) if args.get("level") else None,
                                origin=origin_from_request())
    commit()
    return unit_dict(unit)


# --- cadres ------------------------------------------------------------------------------

@blp.route("/cadres", methods=["POST"])
@blp.arguments(CadreArgs)
@blp.response(201, CadreOut)
@blp.alt_response(400, schema=Problem)
@blp.alt_response(409, schema=Problem, description="duplicate ID number")
@blp.doc(operationId="registerCadre")
@login_required
def register_cadre(args):
    """登记学员 Register a cadre (also 补录 with supplementary=true, reason and date)."""
    user = services.register_cadre(current_user, services.CadreInfo(**args), origin=origin_from_request())
    commit()
    return cadre_dict(user, current_user)


@blp.route("/cadres/import", methods=["POST"])
@blp.arguments(ImportArgs, location="form")
@blp.arguments(ImportFile, location="files")
@blp.response(200, ImportOut)
@blp.doc(operationId="importRoster")
@login_required
def import_roster(args, files):
    """导入名册 Import a roster (CSV/XLSX); confirm=false previews, confirm=true applies a file without errors."""
    upload = files["file"]
    imp, preview = roster.stage_import(current_user, args["unit_id"], upload.filename or "", upload.read(),
                                       origin=origin_from_request())
    applied = False
    if args["confirm"]:
        if preview.file_error:
            raise roster.Invalid(preview.file_error, field="file")
        roster.start_import(current_user, imp)
        roster.apply_import(current_user, imp, origin=origin_from_request())
        applied = True
    commit()
    return {"applied": applied, "total": len(preview.rows), "create": preview.count("create"),
            "update": preview.count("update"), "unchanged": preview.count("unchanged"),
            "error": preview.count("error"),
            "rows": [{**r.__dict__, "errors": [{"column": c, "reason": m} for c, m in r.errors]}
                     for r in preview.rows]}


@blp.route("/cadres", methods=["GET"])
@blp.arguments(CadreListArgs, location="query")
@blp.response(200, CadreList)
@blp.doc(operationId="listCadres")
@login_required
def list_cadres(args):
    """学员列表 Cadres in the caller's subtree, filtered and paginated."""
    page = services.list_cadres(current_user, services.CadreFilter(**args))
    return page_body(page, [cadre_dict(u, current_user) for u in page.items])


@blp.route("/cadres/<int:cadre_id>", methods=["GET"])
@blp.response(200, CadreOut)
@blp.alt_response(404, schema=Problem)
@blp.doc(operationId="getCadre")
@login_required
def get_cadre(cadre_id):
    """学员详情 One cadre (404 outside the caller's subtree)."""
    return cadre_dict(services.get_cadre(current_user, cadre_id), current_user)


@blp.route("/cadres/<int:cadre_id>", methods=["PATCH"])
@blp.arguments(CadreUpdateArgs)
@blp.response(200, CadreOut)
@blp.doc(operationId="updateCadre")
@login_required
def update_cadre(args, cadre_id):
    """修改学员 Edit a cadre; a new unit_id transfers them (history kept)."""
    user = services.get_cadre(current_user, cadre_id)
    services.update_cadre(current_user, user, args, origin=origin_from_request())
    commit()
    return cadre_dict(user, current_user)


# --- cards -------------------------------------------------------------------------------

def _issued(issued) -> dict:
    return {"card": card_dict(issued.card), "initial_password": issued.password, "cadre_id": issued.card.user_id}


@blp.route("/cadres/<int:cadre_id>/cards", methods=["POST"])
@blp.response(201, IssuedCardOut)
@blp.alt_response(409, schema=Problem, description="already has an active card")
@blp.doc(operationId="issueCard")
@login_required
def issue_card(cadre_id):
    """发卡 Issue a study card; the initial password is returned once."""
    user = services.get_cadre(current_user, cadre_id)
    issued = services.issue_card(current_user, user, origin=origin_from_request())
    commit()
    return _issued(issued)


def _card(card_id: int) -> StudyCard:
    return services.get_card(current_user, card_id)


@blp.route("/cards/<int:card_id>/lost", methods=["POST"])
@blp.response(200, CardOut)
@blp.doc(operationId="reportCardLost")
@login_required
def report_card_lost(card_id):
    """挂失 Report a card lost: it stops working at once, open sessions included."""
    card = services.report_card_lost(current_user, _card(card_id), origin=origin_from_request())
    commit()
    return card_dict(card)


@blp.route("/cards/<int:card_id>/reissue", methods=["POST"])
@blp.response(201, IssuedCardOut)
@blp.doc(operationId="reissueCard")
@login_required
def reissue_card(card_id):
    """补卡 Replace a lost card: new number and password, same account and records."""
    issued = services.reissue_card(current_user, _card(card_id), origin=origin_from_request())
    commit()
    return _issued(issued)


@blp.route("/cards/<int:card_id>/cancel", methods=["POST"])
@blp.arguments(CancelArgs)
@blp.response(200, CardOut)
@blp.doc(operationId="cancelCard")
@login_required
def cancel_card(args, card_id):
    """注销 Cancel a card (the cadre leaves); records are kept."""
    card = services.cancel_card(current_user, _card(card_id), reason=args["reason"], origin=origin_from_request())
    commit()
    return card_dict(card)


