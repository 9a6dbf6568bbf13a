"""USDC amounts as people type them ("12.5") to micro-USDC integers, without floats."""

from __future__ import annotations

MICRO = 1_000_000


def parse_usdc(text: str) -> int:
    whole, _, fraction = text.strip().partition(".")
    if not whole.isdigit() and not (whole == "" and fraction.isdigit()):
        raise ValueError(f"not an amount of USDC: {text!r}")
    if fraction and (not fraction.isdigit() or len(fraction) > 6):
        raise ValueError(f"USDC has 6 decimals at most: {text!r}")
    return int(whole or "0") * MICRO + int(fraction.ljust(6, "0") or "0")


def format_usdc(micro_usdc: int) -> str:
    sign = "-" if micro_usdc < 0 else ""
    whole, fraction = divmod(abs(micro_usdc), MICRO)
    return f"{sign}{whole}.{fraction:06d}"
