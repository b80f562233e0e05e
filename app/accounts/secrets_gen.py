"""Card numbers and initial passwords."""
from __future__ import annotations

import secrets

CARD_PREFIX = "86"
CARD_LENGTH = 16
# No 0/O, 1/l/I: passwords are read off paper.
_PASSWORD_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"


def luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and luhn_digit(number[:-1]) == number[-1]


def new_card_number() -> str:
    """A 16-digit card number: fixed prefix, 13 random digits, Luhn check digit.

    The random part comes from the OS CSPRNG, so neighbouring cards share nothing.
    """
    body = CARD_PREFIX + "".join(str(secrets.randbelow(10)) for _ in range(CARD_LENGTH - len(CARD_PREFIX) - 1))
    return body + luhn_digit(body)


def normalise_card_number(raw: str) -> str:
    return "".join(ch for ch in (raw or "") if not ch.isspace() and ch != "-")


def looks_like_card_number(raw: str) -> bool:
    n = normalise_card_number(raw)
    return n.isdigit() and len(n) == CARD_LENGTH


def new_initial_password(length: int = 10) -> str:
    while True:
        pw = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw
