"""argparse types for the integers a person types: each goes through the one parser
(modules/integers.py), so '01', '+1', '１', '1e3' or 2^64 is a usage error naming the argument
and the rule (exit status 2), never a traceback and never a silently different number."""

from __future__ import annotations

import argparse
from typing import Callable

from modules.integers import U64_MAX, IntegerError, parse_uint
from modules.types import MAX_SUBACCOUNT


def uint_arg(name: str, low: int = 0, high: int = U64_MAX) -> Callable[[str], int]:
    """An argparse `type=`: ASCII digits, no sign or leading zero, from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            return parse_uint(text, name, low, high)
        except IntegerError as error:
            raise argparse.ArgumentTypeError(error.message) from None

    parse.__name__ = name
    return parse


subaccount_number = uint_arg("subaccount", 0, MAX_SUBACCOUNT)
port = uint_arg("port", 1, 65_535)


def subaccount_ref(text: str) -> tuple[str, int]:
    """`0xADDRESS` or `0xADDRESS/N` (an argparse `type=`): the address as typed (the client checks
    it) and the subaccount number, 0 when absent."""
    address, slash, number = text.partition("/")
    return address, subaccount_number(number) if slash else 0

