"""What every module's queries share: the errors of a bad path, the parsers of its common
arguments, and what a query reads (QueryContext). Each module declares its paths in its
module.py; app/queries.py routes to them.

Every integer in a path goes through the one parser (modules/integers.py): ASCII digits, no sign
or leading zero, within the field's range, else code 24 (malformed), 25 (2^64 or more) or 26 (out
of the field's range), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules.anchor.msg_server import LatestTree
from modules.errors import ChainError
from modules.integers import U32_MAX, parse_uint, shown
from modules.orderbook.book import Books
from modules.store import KVStore
from modules.types import MAX_SUBACCOUNT


class QueryError(ChainError):
    codespace = "query"


class UnknownQueryPath(QueryError):
    """No query answers at that path."""

    code = 20


class BadQueryArgument(QueryError):
    """An argument in the path is malformed: an address, the number of arguments, the path's shape
    (a bad integer gets the integer codes 24-26 of modules/integers.py)."""

    code = 21


class HeightNotAvailable(QueryError):
    """Only the latest committed state is served; ask with height 0 or the latest height."""

    code = 22


class VersionNotHeld(QueryError):
    """A /store query at a height whose state the node no longer (or not yet) holds: it keeps the
    last --proof-versions committed heights."""

    code = 28


@dataclass(frozen=True)
class QueryContext:
    """What a query reads: the last committed state and its height, the node's books (between
    FinalizeBlock and Commit they include the block being committed) and anchor tree, and the
    path asked (for messages)."""

    store: KVStore
    height: int
    books: Books
    anchors: LatestTree
    path: str

    def unknown(self) -> UnknownQueryPath:
        return UnknownQueryPath(f"no query at {self.path!r}; see docs/queries.md")

    def wrong_arity(self, arity: int, args: list[str]) -> BadQueryArgument:
        return BadQueryArgument(f"{self.path!r} takes {arity} argument(s), got {len(args)}")


def address(text: str) -> bytes:
    if not (text.startswith("0x") and len(text) == 42):
        raise BadQueryArgument(f"address must be 0x followed by 40 hex digits, got {shown(text)}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise BadQueryArgument(f"address is not hexadecimal: {shown(text)}") from None


def subaccount_number(text: str) -> int:
    return parse_uint(text, "subaccount", 0, MAX_SUBACCOUNT)


def market_id(text: str) -> int:
    return parse_uint(text, "market id", 1, U32_MAX)
