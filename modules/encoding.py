"""Fixed-width big-endian integers, so key order is numeric order and values have one encoding."""

from __future__ import annotations


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def read_u64(data: bytes) -> int:
    return int.from_bytes(data, "big")


def i128(value: int) -> bytes:
    return value.to_bytes(16, "big", signed=True)


def read_i128(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)
