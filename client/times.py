"""CometBFT's times: RFC 3339 in UTC with up to nine fractional digits ("2026-11-25T09:22:04.024419016Z")."""

from __future__ import annotations

import calendar

NANOS_PER_SECOND = 1_000_000_000


def rfc3339_to_ns(text: str) -> int:
    """Unix nanoseconds (negative before 1970: an absent vote's time is year 1)."""
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC time in CometBFT's format: {text!r}")
    whole, _, fraction = text[:-1].partition(".")
    date, _, clock = whole.partition("T")
    year, month, day = (int(part) for part in date.split("-"))
    hour, minute, second = (int(part) for part in clock.split(":"))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return seconds * NANOS_PER_SECOND + int((fraction + "000000000")[:9])


def rfc3339_to_ms(text: str) -> int:
    """Unix milliseconds, truncated."""
    return rfc3339_to_ns(text) // 1_000_000
