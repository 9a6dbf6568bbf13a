"""The one parser for every integer that enters from outside: query paths, CLI arguments, decimal
strings inside txs, and the range check of integers a tx decoded.

An integer written as text is accepted only as the ASCII digits 0-9, without a sign, spaces,
underscores, an exponent or a leading zero ("0" itself is fine), and within the field's range.
Python's int() is far more lenient ('+1', ' 1', '1_0', '１', '٣' all parse; over 4,300 digits it
raises), so it only ever sees a string already checked, and never a long one.

Every refusal names the field, shows (the start of) what was given and states the rule; the
errors carry the query codes 24-26 (a CLI prints the message, a tx wraps it in its own code).
It lives beside modules/errors.py so the modules' own query routers can use it too.
"""

from __future__ import annotations

from modules.errors import ChainError

U32_MAX = 2**32 - 1
I64_MAX = 2**63 - 1  # prices, sizes and amounts: what a signed 64-bit reader can hold
U64_MAX = 2**64 - 1
_SHOWN = 24  # characters of a bad input repeated in a message


class IntegerError(ChainError):
    """An integer from outside refused (the base; a client may catch it for all three)."""

    codespace = "query"


class MalformedInteger(IntegerError):
    """Not written as plain ASCII decimal digits: empty, a sign, a space, a leading zero, an
    exponent, an underscore, or a non-ASCII digit such as '²', '①' or the fullwidth '１'."""

    code = 24


class IntegerOverflow(IntegerError):
    """Well-formed but beyond 64 bits (2^64 or more), or beyond the field's width when the field is
    wider than 64 bits: no value of the field can be that large."""

    code = 25


class IntegerOutOfRange(IntegerError):
    """Within 64 bits but outside the field's declared range (the message states the range)."""

    code = 26


def shown(text: str) -> str:
    """`text` for a message: quoted, cut after a few characters, with its length when cut."""
    if len(text) <= _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN]!r}... ({len(text)} characters)"


def is_plain_digits(text: str) -> bool:
    """ASCII 0-9 only, at least one, and no leading zero unless the text is "0"."""
    return text.isascii() and text.isdigit() and (text == "0" or text[0] != "0")


def parse_uint(text: str, name: str, low: int = 0, high: int = U64_MAX) -> int:
    """`text` as an integer from `low` to `high`, or MalformedInteger / IntegerOverflow /
    IntegerOutOfRange naming `name`. The length is checked before int() is called."""
    if not is_plain_digits(text):
        raise MalformedInteger(f"{name} must be written with the ASCII digits 0-9, without a sign, spaces or "
                               f"leading zeros; got {shown(text)}")
    width = max(high, U64_MAX)
    if len(text) > len(str(width)) or int(text) > width:
        raise IntegerOverflow(f"{name} {shown(text)} is over {width}, the largest value it can have")
    return check_range(int(text), name, low, high)


def check_range(value: int, name: str, low: int, high: int) -> int:
    """`value` if low <= value <= high, else IntegerOutOfRange naming `name` and the range."""
    if not low <= value <= high:
        raise IntegerOutOfRange(f"{name} must be from {low} to {high}, got {value}")
    return value
