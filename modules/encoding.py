"""The one byte encoding of integers and subaccounts in keys and values: fixed-width big-endian, so
key order is numeric order and every value has one encoding. Every module's keys.py builds on it."""

from __future__ import annotations

from modules.types import ADDRESS_BYTES, SubaccountId

SUBACCOUNT_BYTES = ADDRESS_BYTES + 1  # address 20, number u8


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def u128(value: int) -> bytes:
    return value.to_bytes(16, "big")


def u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def read_uint(data: bytes) -> int:
    """An unsigned integer of any of the widths above (the width is the length of `data`)."""
    return int.from_bytes(data, "big")


def stored_uint(raw: bytes | None, default: int = 0) -> int:
    """A stored unsigned integer; `default` when the key is absent."""
    return int.from_bytes(raw, "big") if raw is not None else default


def i128(value: int) -> bytes:
    return value.to_bytes(16, "big", signed=True)


def read_i128(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


_BYTE = tuple(bytes((value,)) for value in range(256))


def subaccount_bytes(subaccount: SubaccountId) -> bytes:
    """address 20, number u8: a subaccount in a key, so one address's subaccounts sort together."""
    number = subaccount.number
    if not 0 <= number <= 255:
        raise ValueError(f"subaccount number {number} does not fit in a byte")
    return subaccount.address + _BYTE[number]


def read_subaccount(data: bytes) -> SubaccountId:
    """The subaccount `subaccount_bytes` wrote at the start of `data`."""
    return SubaccountId(data[:ADDRESS_BYTES], data[ADDRESS_BYTES])
