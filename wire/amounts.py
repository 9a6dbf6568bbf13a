"""Amounts as people type them ("12.5") to integers of the smallest unit, without floats."""

from __future__ import annotations

MICRO = 1_000_000


def parse_decimal(text: str, decimals: int, what: str = "amount") -> int:
    """"12.5" with 6 decimals -> 12500000; more decimals than the unit has is an error."""
    whole, _, fraction = text.strip().partition(".")
    if not whole.isdigit() and not (whole == "" and fraction.isdigit()):
        raise ValueError(f"not a decimal {what}: {text!r}")
    if fraction and (not fraction.isdigit() or len(fraction) > decimals):
        raise ValueError(f"{what} has {decimals} decimals at most: {text!r}")
    scale: int = 10**decimals  # (int ** int is typed Any: a negative power is a float)
    return int(whole or "0") * scale + int(fraction.ljust(decimals, "0") or "0")


def format_decimal(amount: int, decimals: int) -> str:
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"


def parse_usdc(text: str) -> int:
    return parse_decimal(text, 6, "USDC amount")


def format_usdc(micro_usdc: int) -> str:
    sign = "-" if micro_usdc < 0 else ""
    whole, fraction = divmod(abs(micro_usdc), MICRO)
    return f"{sign}{whole}.{fraction:06d}"
