"""argon2id password hashing and the password policy."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import gettext as _

from app.errors import Invalid

_hashers: dict[tuple, PasswordHasher] = {}


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    key = (cfg.get("ARGON2_TIME_COST", 3), cfg.get("ARGON2_MEMORY_COST", 65536))
    if key not in _hashers:
        _hashers[key] = PasswordHasher(time_cost=key[0], memory_cost=key[1])
    return _hashers[key]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        # Spend the same time as a real check so that unknown accounts are not revealed.
        _hasher().hash(password or "x")
        return False
    try:
        return _hasher().verify(stored, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_policy(password: str, *, forbidden: tuple[str, ...] = (), field: str = "new_password") -> None:
    """At least 8 characters with letters and digits, and not one of the account's own numbers."""
    if len(password or "") < 8:
        raise Invalid(_("新密码至少 8 位"), field=field)
    if len(password) > 128:
        raise Invalid(_("新密码不能超过 128 位"), field=field)
    if not any(c.isdigit() for c in password) or not any(c.isalpha() for c in password):
        raise Invalid(_("新密码须同时包含字母和数字"), field=field)
    if any(f and f.lower() in password.lower() for f in forbidden):
        raise Invalid(_("新密码不能包含学习卡号、身份证号或用户名"), field=field)
