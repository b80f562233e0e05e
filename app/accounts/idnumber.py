"""Resident ID numbers (GB 11643-1999): validation, derived facts, masking."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l

from app.accounts.models import Gender
from app.errors import Invalid

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# First two digits: the province-level division codes of GB/T 2260.
_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
              50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


@dataclass(frozen=True)
class IdFacts:
    number: str
    birth_date: date
    gender: Gender


def parse_id_number(raw: str, *, today: date | None = None, field: str = "id_number") -> IdFacts:
    """Validate an 18-character ID number and derive birth date and gender; raises Invalid."""
    number = (raw or "").strip().upper().replace(" ", "")
    if len(number) != 18:
        raise Invalid(str(_l("身份证号应为 18 位,当前为 %(n)d 位", n=len(number))), field=field)
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise Invalid(str(_l("身份证号前 17 位须为数字,最后一位为数字或 X")), field=field)
    if int(number[:2]) not in _PROVINCES:
        raise Invalid(str(_l("身份证号的地区码无效")), field=field)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise Invalid(str(_l("身份证号中的出生日期无效")), field=field) from None
    today = today or date.today()
    if born > today or born.year < 1900:
        raise Invalid(str(_l("身份证号中的出生日期无效")), field=field)
    if check_digit(number[:17]) != number[17]:
        raise Invalid(str(_l("身份证号校验位错误,请核对后重新输入")), field=field)
    gender = Gender.MALE if int(number[16]) % 2 == 1 else Gender.FEMALE
    return IdFacts(number=number, birth_date=born, gender=gender)


def mask_id_number(number: str) -> str:
    """'610302199001011234' -> '6103**********1234'."""
    if not number or len(number) < 8:
        return "*" * len(number or "")
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
