"""The one integer parser (modules/integers.py): ASCII digits only, no sign or leading zero, within
the field's range, and the length checked before int() sees the text."""

from __future__ import annotations

import pytest

from modules.integers import (
    I64_MAX, U64_MAX, IntegerOutOfRange, IntegerOverflow, MalformedInteger, check_range, parse_uint,
)


# -- the parser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("7", 7), ("127", 127), (str(U64_MAX), U64_MAX)])
def test_plain_ascii_digits_parse(text: str, value: int) -> None:
    assert parse_uint(text, "n") == value


@pytest.mark.parametrize("text", ["", "01", "00", "007", "²", "①", "１", "٣", "-1", "+1", "1e3", " 1", "1 ", "1_0",
                                  "0x1", "1.0", "1\n", "١٢٣"])
def test_anything_but_plain_ascii_digits_is_malformed(text: str) -> None:
    with pytest.raises(MalformedInteger) as refused:
        parse_uint(text, "market id")
    assert refused.value.log.startswith("MalformedInteger: market id must be written with the ASCII digits 0-9")


@pytest.mark.parametrize("text", [str(2**64), "99999999999999999999", "1" + "0" * 4_999, "9" * 10_000])
def test_2_to_the_64_or_more_overflows_before_int_sees_a_long_string(text: str) -> None:
    # int() refuses strings over 4,300 digits with a ValueError: reaching it would not raise this
    with pytest.raises(IntegerOverflow) as refused:
        parse_uint(text, "height", 1, I64_MAX)
    assert refused.value.log.startswith(f"IntegerOverflow: height {text[:24]!r}")
    assert f"is over {U64_MAX}" in refused.value.log and len(refused.value.log) < 150


def test_a_field_wider_than_64_bits_overflows_past_its_own_width() -> None:
    assert parse_uint(str(2**256 - 1), "amount", 0, 2**256 - 1) == 2**256 - 1
    with pytest.raises(IntegerOverflow):
        parse_uint(str(2**256), "amount", 0, 2**256 - 1)


@pytest.mark.parametrize(("text", "low", "high"), [("128", 0, 127), ("0", 1, 10), (str(U64_MAX), 0, I64_MAX)])
def test_within_64_bits_but_outside_the_field_is_out_of_range(text: str, low: int, high: int) -> None:
    with pytest.raises(IntegerOutOfRange) as refused:
        parse_uint(text, "subaccount", low, high)
    assert refused.value.log == f"IntegerOutOfRange: subaccount must be from {low} to {high}, got {text}"


def test_check_range_takes_decoded_integers() -> None:
    assert check_range(5, "x", 0, 5) == 5
    with pytest.raises(IntegerOutOfRange, match="x must be from 0 to 5, got -1"):
        check_range(-1, "x", 0, 5)


def test_the_codes_are_distinct_and_in_the_query_space() -> None:
    assert [(e.code, e.codespace) for e in (MalformedInteger, IntegerOverflow, IntegerOutOfRange)] == \
        [(24, "query"), (25, "query"), (26, "query")]
