"""Protobuf's unsigned varint: the length prefix of ABCI's socket frames and of CometBFT's
length-delimited sign bytes."""

from __future__ import annotations


def encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
