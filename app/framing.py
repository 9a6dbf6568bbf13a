"""ABCI socket framing: each message is preceded by its length as an unsigned varint."""

from __future__ import annotations

from wire.varint import encode_uvarint

MAX_FRAME_BYTES = 128 * 1024 * 1024  # above CometBFT's 100 MB block ceiling
_MAX_VARINT_BYTES = 10


class MalformedFrame(Exception):
    """The byte stream cannot be split into frames; the connection must be closed."""


def frame(message: bytes) -> bytes:
    return encode_uvarint(len(message)) + message


def split_frames(buffer: bytes | bytearray) -> tuple[list[bytes], int, MalformedFrame | None]:
    """The complete frames at the start of `buffer`, the bytes they used, and the error that
    stopped the split if the stream turned out malformed (the frames before it are still good)."""
    frames: list[bytes] = []
    position = 0
    end = len(buffer)
    while position < end:
        length = 0
        shift = 0
        cursor = position
        while True:
            if cursor >= end:
                return frames, position, None  # the length itself is still incomplete
            byte = buffer[cursor]
            cursor += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if cursor - position >= _MAX_VARINT_BYTES:
                return frames, position, MalformedFrame("length prefix is longer than 10 bytes")
        if length > MAX_FRAME_BYTES:
            return frames, position, MalformedFrame(f"frame of {length} bytes exceeds the {MAX_FRAME_BYTES} byte limit")
        if cursor + length > end:
            return frames, position, None
        frames.append(bytes(buffer[cursor : cursor + length]))
        position = cursor + length
    return frames, position, None
