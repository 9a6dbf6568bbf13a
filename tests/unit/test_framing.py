"""ABCI framing: uvarint length prefixes, partial reads, and frames that must close the connection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.framing import MAX_FRAME_BYTES, MalformedFrame, frame, split_frames
from wire.varint import encode_uvarint


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(min_value=0, max_value=50))
def test_frames_split_back_whatever_the_read_boundaries(messages: list[bytes], cut: int) -> None:
    stream = b"".join(frame(m) for m in messages)
    cut = min(cut, len(stream))
    head, used, error = split_frames(stream[:cut])
    tail, used_tail, error_tail = split_frames(stream[used:])
    assert error is None and error_tail is None
    assert head + tail == messages
    assert used + used_tail == len(stream)


def test_uvarint_matches_protobuf_encoding() -> None:
    assert encode_uvarint(0) == b"\x00"
    assert encode_uvarint(300) == b"\xac\x02"


def test_a_length_prefix_longer_than_ten_bytes_is_malformed() -> None:
    frames, _, error = split_frames(frame(b"ok") + b"\xff" * 11)
    assert frames == [b"ok"] and isinstance(error, MalformedFrame) and "longer than 10 bytes" in str(error)


def test_a_frame_over_the_limit_is_malformed_before_it_is_read() -> None:
    frames, _, error = split_frames(encode_uvarint(MAX_FRAME_BYTES + 1))
    assert frames == [] and isinstance(error, MalformedFrame) and "exceeds" in str(error)
