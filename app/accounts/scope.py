"""Role and unit-subtree scope checks: outside one's subtree is 'not found'."""
from __future__ import annotations

from flask_babel import gettext as _

from app.accounts.models import Role, Unit, User
from app.errors import NotFound, PermissionDenied

STAFF_ROLES = (Role.NETADMIN, Role.VIEWER, Role.ORGADMIN)
ADMIN_ROLES = (Role.NETADMIN, Role.ORGADMIN)


def scope_path(actor: User) -> str:
    return actor.unit.path


def in_scope(actor: User, unit: Unit) -> bool:
    if actor.role == Role.ORGADMIN:
        return True
    if actor.role in STAFF_ROLES:
        return unit.path.startswith(actor.unit.path)
    return False


def require_role(actor: User, *roles: Role) -> None:
    if actor.role not in roles:
        raise PermissionDenied(_("您没有执行此操作的权限"))


def require_unit(actor: User, unit: Unit | None) -> Unit:
    """The unit, if the actor may see it; otherwise NotFound (never reveal what lies outside)."""
    if unit is None or not in_scope(actor, unit):
        raise NotFound(_("单位不存在"))
    return unit


def require_cadre_user(actor: User, user: User | None) -> User:
    if user is None or user.cadre is None:
        raise NotFound(_("学员不存在"))
    if actor.id == user.id:
        return user
    if actor.role not in STAFF_ROLES or not in_scope(actor, user.unit):
        raise NotFound(_("学员不存在"))
    return user
