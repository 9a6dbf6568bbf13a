"""abci_query paths, answered from committed state only, as canonical JSON.

| path                              | answer                                                   |
| /bank/balance/<address>/<number>  | {"address", "subaccount", "amount_micro_usdc"}           |
| /bank/balances/<address>          | {"address", "balances": [{"subaccount", "amount_micro_usdc"}]} |
| /bank/supply                      | {"supply_micro_usdc"}                                    |
| /auth/nonces/<address>            | {"address", "recent_nonces": [...]}                      |
| /app/status                       | {"chain_id", "height", "app_hash", "block_time_ms"}      |
| /app/hash/<height>                | {"height", "app_hash"}: the hash this node committed there |

Integers that can exceed 2^53 are decimal strings, so no JSON reader loses precision.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from modules.auth.keeper import AuthKeeper
from modules.bank.keeper import BankKeeper
from modules.errors import ChainError
from modules.store import KVStore
from modules.types import MAX_SUBACCOUNT, SubaccountId

from app.store import CommitInfo, CommittedStore


class QueryError(ChainError):
    codespace = "query"


class UnknownQueryPath(QueryError):
    """No query answers at that path."""

    code = 20


class BadQueryArgument(QueryError):
    """An argument in the path is malformed (address, subaccount number)."""

    code = 21


class HeightNotAvailable(QueryError):
    """Only the latest committed state is served; ask with height 0 or the latest height."""

    code = 22


def _address(text: str) -> bytes:
    if not (text.startswith("0x") and len(text) == 42):
        raise BadQueryArgument(f"address must be 0x followed by 40 hex digits, got {text!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise BadQueryArgument(f"address is not hexadecimal: {text!r}") from None


def _subaccount_number(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= MAX_SUBACCOUNT:
        raise BadQueryArgument(f"subaccount must be 0..{MAX_SUBACCOUNT}, got {text!r}")
    return int(text)


def _balance(store: KVStore, args: list[str]) -> dict[str, Any]:
    address, number = _address(args[0]), _subaccount_number(args[1])
    amount = BankKeeper(store).balance(SubaccountId(address, number))
    return {"address": args[0].lower(), "subaccount": number, "amount_micro_usdc": str(amount)}


def _balances(store: KVStore, args: list[str]) -> dict[str, Any]:
    address = _address(args[0])
    bank = BankKeeper(store)
    entries = [
        {"subaccount": n, "amount_micro_usdc": str(bank.balance(SubaccountId(address, n)))}
        for n in range(MAX_SUBACCOUNT + 1)
    ]
    return {"address": args[0].lower(), "balances": [e for e in entries if e["amount_micro_usdc"] != "0"]}


def _supply(store: KVStore, args: list[str]) -> dict[str, Any]:
    return {"supply_micro_usdc": str(BankKeeper(store).supply())}


def _nonces(store: KVStore, args: list[str]) -> dict[str, Any]:
    recent = AuthKeeper(store).recent_nonces(_address(args[0]))
    return {"address": args[0].lower(), "recent_nonces": [str(n) for n in recent]}


_ROUTES: dict[tuple[str, str], tuple[int, Callable[[KVStore, list[str]], dict[str, Any]]]] = {
    ("bank", "balance"): (2, _balance),
    ("bank", "balances"): (1, _balances),
    ("bank", "supply"): (0, _supply),
    ("auth", "nonces"): (1, _nonces),
}


def _app_hash_at(store: CommittedStore, text: str) -> dict[str, Any]:
    if not text.isdigit():
        raise BadQueryArgument(f"height must be a positive integer, got {text!r}")
    app_hash = store.app_hash_at(int(text))
    if app_hash is None:
        raise HeightNotAvailable(f"this node committed no block at height {text}")
    return {"height": int(text), "app_hash": app_hash.hex()}


def answer(store: CommittedStore, chain_id: str, last: CommitInfo, path: str, height: int) -> bytes:
    """The JSON answer for `path`, or a QueryError."""
    if height not in (0, last.height):
        raise HeightNotAvailable(f"height {height} is not served; the latest is {last.height}")
    parts = [p for p in path.split("/") if p]
    if parts == ["app", "status"]:
        result: dict[str, Any] = {
            "chain_id": chain_id,
            "height": last.height,
            "app_hash": last.app_hash.hex(),
            "block_time_ms": last.block_time_ms,
        }
    elif parts[:2] == ["app", "hash"] and len(parts) == 3:
        result = _app_hash_at(store, parts[2])
    else:
        route = _ROUTES.get((parts[0], parts[1])) if len(parts) >= 2 else None
        if route is None:
            raise UnknownQueryPath(f"no query at {path!r}; see docs/queries.md")
        arity, handler = route
        if len(parts) - 2 != arity:
            raise BadQueryArgument(f"{path!r} takes {arity} argument(s), got {len(parts) - 2}")
        result = handler(store, parts[2:])
    return json.dumps(result, sort_keys=True, separators=(",", ":")).encode()
