"""docs/api.md's query table is what the queries answer: every documented field is in the answer,
every field of the answer is documented (objects inside lists included), for each trading query,
run on a chain with a position, open orders, a conditional, a TWAP and a trade."""

from __future__ import annotations

import re
from typing import Any

import pytest

from modules.orderbook.actions import PlaceTrailingStop, PlaceTwap, SetPositionTpSl
from modules.orderbook.types import Side, TimeInForce
from tests.app.conftest import AppHarness, oracle_tx_with
from tests.app.test_advanced_orders import BTC, block
from tests.app.test_orderbook import PRICE, USDC, buy, query, sell, signed
from tests.integrator import API_DOC

_ROW = re.compile(r"^\| `(/[^`]+)` \|(.*)\|(.*)\|$", re.MULTILINE)


def documented_queries(text: str) -> dict[str, set[str]]:
    """docs/api.md's query table: path template -> the field names its answer column lists in
    backticks (`positions[].size`: the key `size` of each object in the list `positions`)."""
    return {path: set(re.findall(r"`([\w\[\].]+)`", answer)) for path, _, answer in _ROW.findall(text)}


def empty_lists(value: Any, prefix: str = "") -> set[str]:
    """The lists of a JSON answer that hold nothing (their items' fields cannot be seen)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if inner == []:
                found.add(f"{prefix}{key}[]")
            found |= empty_lists(inner, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            found |= empty_lists(item, prefix[:-1] + "[].")
    return found


def field_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key of a JSON answer as docs/api.md writes it: `a`, `a.b`, `list[].key`."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            name = f"{prefix}{key}"
            found.add(name)
            found |= field_paths(inner, name + ".")
    elif isinstance(value, list):
        for item in value:
            found |= field_paths(item, prefix[:-1] + "[].")
    return found


@pytest.fixture
def traded(oracle_harness: AppHarness) -> AppHarness:
    """alice rests a sell and a buy; bob buys from her (a trade, a position), rests a bid of his
    own, protects the position with a TP/SL pair and a trailing stop, runs a TWAP; an hour passes
    (a funding rate)."""
    h = oracle_harness
    alice, bob, _ = h.keys
    block(h, [signed(h, alice, sell(PRICE, 1000), buy(PRICE - 1000 * USDC, 100, client_id=7))])
    block(h, [signed(h, bob, buy(PRICE, 100, time_in_force=TimeInForce.IOC), buy(PRICE - 2000 * USDC, 100))])
    block(h, [signed(h, bob, SetPositionTpSl(0, BTC, 66_000 * USDC, 64_000 * USDC),
                     PlaceTrailingStop(0, BTC, Side.SELL, 100, trail_bps=100, reduce_only=True),
                     PlaceTwap(0, BTC, Side.BUY, 100, slices=5, interval_blocks=50))])
    h.finalize([oracle_tx_with({BTC: PRICE})], advance_ms=3_600_000)
    h.commit()
    block(h, [])
    return h


def concrete(h: AppHarness, template: str) -> str:
    alice, bob, _ = h.keys
    return (template.replace("<address>", f"0x{bob.address.hex()}").replace("<subaccount>", "0")
            .replace("<market>", str(BTC)).replace("<depth>", "5").replace("<limit>", "5")
            .replace("<height>", str(h.height)).replace("<n>", "5")
            .replace("<side>", "sell").replace("<price>", str(PRICE - 1000 * USDC)).replace("<size>", "100")
            .replace("<kind>", "ioc"))


def test_the_doc_lists_the_trading_queries() -> None:
    documented = documented_queries(API_DOC.read_text())
    for path in ("/bank/balance/<address>/<subaccount>", "/markets", "/positions/<address>/<subaccount>",
                 "/orders/<address>/<subaccount>", "/book/<market>/<depth>", "/whatif/<address>/<subaccount>/<market>/<side>/<price>/<size>/<kind>"):
        assert path in documented


def test_every_documented_query_answers_exactly_the_documented_fields(traded: AppHarness) -> None:
    documented = documented_queries(API_DOC.read_text())
    assert documented, "docs/api.md has no query table"
    wrong = {}
    for template, fields in documented.items():
        answer = query(traded, concrete(traded, template))
        actual, empty = field_paths(answer), empty_lists(answer)
        unseen = {f for f in fields - actual if not any(f.startswith(e + ".") for e in empty)}
        if actual - fields or unseen:
            wrong[template] = {"undocumented": sorted(actual - fields), "not answered": sorted(unseen)}
    assert wrong == {}
