"""argparse types for the integers a person types: each goes through the one parser
(modules/integers.py), so '01', '+1', '１', '1e3' or 2^64 is a usage error naming the argument
and the rule (exit status 2), never a traceback and never a silently different number."""

from __future__ import annotations

import argparse
from typing import Callable

from client.light import TrustRoot
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


def add_proof_options(parser: argparse.ArgumentParser, flag: bool = True) -> None:
    """`--prove` (unless the command always proves) and where the headers it checks against start."""
    if flag:
        parser.add_argument("--prove", action="store_true",
                            help="check the answer with a proof against a header its validators signed (docs/queries.md)")
    parser.add_argument("--trust-height", type=uint_arg("trust height", 1), default=0,
                        help="with a proof: the header trusted to start from (default: the node's earliest)")
    parser.add_argument("--trust-hash", type=block_hash,
                        help="with a proof: the hash of the --trust-height header (default: taken from the node)")


def block_hash(text: str) -> bytes:
    """64 hex digits (an argparse `type=`), as CometBFT prints block hashes."""
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a block hash is hexadecimal, got {text!r}") from None
    if len(digest) != 32:
        raise argparse.ArgumentTypeError(f"a block hash is 32 bytes (64 hex digits), got {len(digest)}")
    return digest


def trust_root(args: argparse.Namespace) -> TrustRoot:
    """The TrustRoot of add_proof_options' arguments (the defaults when the command has none)."""
    trust_hash = getattr(args, "trust_hash", None)
    if trust_hash is not None and not getattr(args, "trust_height", 0):
        raise SystemExit("error: --trust-hash needs --trust-height (the height of that header)")
    return TrustRoot(getattr(args, "trust_height", 0), trust_hash)
