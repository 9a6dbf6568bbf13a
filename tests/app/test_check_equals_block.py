"""CheckTx applies the block's rules with the block's code: each order-rule row of docs/errors.md
runs through CheckTx and then inside a block on the same state, and both give its code. A tx
whose signature and nonce are valid uses its nonce even when an action fails, so it can never be
included twice.

Which rows are pinned where: `test_every_tx_code_is_pinned_in_check_tx_and_in_a_block` reads
docs/errors.md and fails for a code no case here or in test_bad_inputs.py covers, unless it is
listed in NOT_FROM_A_PLAIN_TX with the reason and the test that pins it instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from genesis.markets import market
from modules.bank.types import Transfer
from modules.errors import all_errors
from modules.margin.keeper import MarginKeeper
from modules.oracle.params import STALE_AFTER_BLOCKS
from modules.orderbook.actions import (
    CancelConditional,
    CancelOrder,
    CancelTwap,
    ConditionalKind,
    ModifyOrder,
    PlaceConditional,
    PlaceTwap,
    ScheduleCancelAll,
    SetPositionTpSl,
)
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, oracle_tx_with, start_app, without_nonces
from tests.app.test_bad_inputs import CASES as ENVELOPE_CASES
from tests.app.test_orderbook import BTC, PRICE, USDC, buy, sell, signed
from wire import PrivateKey

UNFUNDED = PrivateKey.from_hex(f"{104:064x}")
UP = PRICE + 1_000 * USDC


@dataclass(frozen=True)
class Case:
    name: str
    code: int
    build: Callable[[AppHarness], bytes]
    prepare: Callable[[AppHarness], None] = lambda h: None


def _rest_bob_sell(h: AppHarness) -> None:
    _, bob, _ = h.keys
    assert [r.code for r in h.block([signed(h, bob, sell(PRICE, 10, client_id=7))])] == [0]


def _store_64(h: AppHarness) -> None:
    alice = h.keys[0]
    assert [r.code for r in h.block([signed(h, alice, *[buy(PRICE - (1 + i) * 100_000, 10) for i in range(64)])])] == [0]


def _alice_long(h: AppHarness) -> None:
    alice, bob, _ = h.keys
    assert [r.code for r in h.block([signed(h, bob, sell(PRICE, 10)),
                                     signed(h, alice, buy(PRICE, 10, time_in_force=TimeInForce.IOC))])] == [0, 0]


CASES = [
    Case("cancel of a missing order", 304, lambda h: signed(h, h.keys[0], CancelOrder(0, BTC, 999))),
    Case("cancel of a missing client id", 304, lambda h: signed(h, h.keys[0], CancelOrder(0, BTC, 0, 5))),
    Case("cancel of another account's order", 305, lambda h: signed(h, h.keys[0], CancelOrder(0, BTC, 1)),
         _rest_bob_sell),
    Case("modify of a missing order", 304, lambda h: signed(h, h.keys[0], ModifyOrder(0, BTC, 999, PRICE, 10))),
    Case("cancel of a missing conditional", 304, lambda h: signed(h, h.keys[0], CancelConditional(0, BTC, 9))),
    Case("cancel of a missing TWAP", 304, lambda h: signed(h, h.keys[0], CancelTwap(0, BTC, 9))),
    Case("dead-man switch too soon", 311, lambda h: signed(h, h.keys[0], ScheduleCancelAll(h.time_ms + 1))),
    Case("duplicate client id", 303, lambda h: signed(h, h.keys[1], buy(PRICE - 100 * USDC, 10, client_id=7)),
         _rest_bob_sell),
    Case("fill-or-kill that cannot fill", 307,
         lambda h: signed(h, h.keys[0], buy(PRICE, 20, time_in_force=TimeInForce.FOK)), _rest_bob_sell),
    Case("post-only that would cross", 306, lambda h: signed(h, h.keys[0], buy(PRICE, 10, post_only=True)),
         _rest_bob_sell),
    Case("reduce-only without a position", 308,
         lambda h: signed(h, h.keys[0], buy(PRICE, 10, reduce_only=True))),
    Case("order beyond margin", 400, lambda h: signed(h, h.keys[0], buy(PRICE - 100 * USDC, 400_000))),
    Case("order price outside the band", 331, lambda h: signed(h, h.keys[0], buy(PRICE * 2, 10))),
    Case("order from an unfunded key", 400, lambda h: signed(h, UNFUNDED, buy(PRICE - 100 * USDC, 10))),
    Case("position TP/SL without a position", 326,
         lambda h: signed(h, h.keys[0], SetPositionTpSl(0, BTC, take_profit_price=UP))),
    Case("conditional trigger off tick", 300, lambda h: signed(h, h.keys[0], PlaceConditional(
        0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, UP + 1, UP, 10))),
    Case("conditional size off step", 301, lambda h: signed(h, h.keys[0], PlaceConditional(
        0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP, 15))),
    Case("conditional for subaccount 200", 312, lambda h: signed(h, h.keys[0], PlaceConditional(
        200, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP, 10))),
    Case("conditional that would fire at once", 313, lambda h: signed(h, h.keys[0], PlaceConditional(
        0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, PRICE - 1_000 * USDC, UP, 10))),
    Case("conditional beyond margin", 400, lambda h: signed(h, h.keys[0], PlaceConditional(
        0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP, 400_000))),
    Case("reduce-only conditional without a position", 308, lambda h: signed(h, UNFUNDED, PlaceConditional(
        0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP, 10, reduce_only=True))),
    Case("a 65th stored item at the 1,000 USDC tier", 332,
         lambda h: signed(h, h.keys[0], PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP, 10)),
         _store_64),
    Case("TWAP beyond margin", 400, lambda h: signed(h, h.keys[0], PlaceTwap(0, BTC, Side.BUY, 400_000, 10, 1))),
    Case("TWAP from an unfunded key", 400, lambda h: signed(h, UNFUNDED, PlaceTwap(0, BTC, Side.BUY, 100, 10, 1))),
    Case("reduce-only TWAP without a position", 308,
         lambda h: signed(h, h.keys[0], PlaceTwap(0, BTC, Side.SELL, 100, 10, 1, reduce_only=True))),
    Case("order in a paused market", 201, lambda h: signed(h, h.keys[0], buy(2_000, 1, market_id=2))),
    Case("order in an unknown market", 200, lambda h: signed(h, h.keys[0], buy(PRICE, 10, market_id=99))),
    Case("reduce-only sell beyond the long is resized, not refused", 0,
         lambda h: signed(h, h.keys[0], sell(PRICE + 100 * USDC, 20, reduce_only=True)), _alice_long),
]



@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_tx_and_the_block_give_the_same_code(harness: AppHarness, case: Case) -> None:
    case.prepare(harness)
    raw = case.build(harness)
    checked = harness.check(raw)
    assert checked.code == case.code, checked.log
    before = harness.state()
    result = harness.finalize([raw]).tx_results[0]
    harness.commit()
    # the same code and error (a log may quote the block time, which moves on by one block)
    assert (result.code, result.log.split(":")[0]) == (checked.code, checked.log.split(":")[0])
    if case.code:
        assert without_nonces(harness.state()) == without_nonces(before)


def test_a_refused_tx_uses_its_nonce_and_cannot_be_included_again(harness: AppHarness) -> None:
    alice = harness.keys[0]
    raw = signed(harness, alice, CancelOrder(0, BTC, 999))
    assert [r.code for r in harness.block([raw])] == [304]
    assert [r.code for r in harness.block([raw])] == [6]  # NonceAlreadyUsed
    assert harness.check(raw).code == 6


def test_an_oracle_tx_from_the_mempool_or_not_first_is_refused(harness: AppHarness) -> None:
    oracle = oracle_tx_with({BTC: PRICE})
    assert harness.check(oracle).code == 500
    transfer = signed(harness, harness.keys[0], Transfer(0, SubaccountId(harness.keys[1].address, 0), 1))
    assert [r.code for r in harness.block([transfer, oracle])] == [0, 500]


def test_check_tx_keeps_nothing_of_an_order_it_accepts(harness: AppHarness) -> None:
    """The dry run of an order is thrown away: the books and the check state's orders stay as committed."""
    alice = harness.keys[0]
    books = harness.app.books.dump()
    assert harness.app.mempool_books.dump() == books
    assert harness.check(signed(harness, alice, buy(PRICE - 100 * USDC, 10))).code == 0
    assert harness.app.books.dump() == harness.app.mempool_books.dump() == books


# Codes a plain signed tx against this harness cannot reach, and the test file that pins each
# instead (the check below reads it: it must exist and name the error).
HERE = "tests/app/test_check_equals_block.py"
PINNED_ELSEWHERE = {
    13: "tests/app/test_tx_integers.py",
    20: "tests/app/test_queries.py", 21: "tests/app/test_queries.py", 22: "tests/app/test_queries.py",
    23: "tests/app/test_queries.py", 24: "tests/app/test_query_integers.py", 25: "tests/app/test_query_integers.py",
    26: "tests/app/test_query_integers.py", 27: "tests/app/test_queries.py", 28: "tests/app/test_store_query.py",
    104: "tests/unit/test_bank_genesis.py", 203: "tests/app/test_queries.py",
    330: "tests/app/test_queries.py", 750: "tests/app/test_queries.py",
    101: "tests/app/test_bad_inputs.py", 102: "tests/app/test_bad_inputs.py", 103: "tests/app/test_bad_inputs.py",
    202: HERE, 329: HERE, 501: HERE,
    302: HERE, 309: "tests/app/test_orderbook.py", 310: "tests/app/test_orderbook.py",
    320: "tests/app/test_advanced_orders.py", 321: "tests/app/test_advanced_orders.py",
    322: "tests/app/test_advanced_orders.py", 323: "tests/app/test_advanced_orders.py",
    324: "tests/app/test_advanced_orders.py", 325: "tests/app/test_advanced_orders.py",
    327: "tests/app/test_advanced_orders.py", 328: "tests/app/test_advanced_orders.py",
    401: "tests/app/test_orderbook.py", 402: "tests/app/test_funding.py", 500: HERE,
}


def test_every_tx_code_is_pinned_in_check_tx_and_in_a_block() -> None:
    """Each code under 600 in docs/errors.md (bridge and anchor rows: tests/bridge*, tests/anchor)
    is a case here or in test_bad_inputs, or PINNED_ELSEWHERE names a test file that exists and
    names its error (by class or by code)."""
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", Path("docs/errors.md").read_text(), re.M)}
    covered = {c.code for c in CASES} | {c.code for c in ENVELOPE_CASES} | set(PINNED_ELSEWHERE)
    internal = 1  # a bug, not an input: no test may reach it
    assert sorted(code for code in documented if code < 600 and code not in covered | {internal}) == []
    names = {error.code: error.__name__ for error in all_errors()}
    for code, path in sorted(PINNED_ELSEWHERE.items()):
        text = Path(path).read_text()
        assert names[code] in text or re.search(rf"\b{code}\b", text), f"{path} does not pin {code} ({names[code]})"


def _custom(tmp_path: Path, markets: list[dict[str, object]] | None = None, oracle: bool = False,
            sections: dict[str, object] | None = None) -> AppHarness:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    return start_app(tmp_path / "db", keys, markets, oracle, sections)


def _close(h: AppHarness) -> None:
    h.app.signers.close()
    h.store.close()


def test_one_rule_set_in_a_reduce_only_market(tmp_path: Path) -> None:
    """A reduce-only market refuses an opening order in CheckTx and the block, and a stop that
    triggers there is cancelled with the same error instead of opening a position."""
    h = _custom(tmp_path, [market(1, "BTC-USD", 4, 100_000, 10, 10, PRICE, 1_000_000, status="reduce_only")],
                oracle=True)
    try:
        alice = h.keys[0]
        raw = signed(h, alice, buy(PRICE, 10))
        checked = h.check(raw)
        assert checked.code == 202, checked.log
        [_, result] = h.block([raw], prices={BTC: PRICE})
        assert result.code == 202
        [_, placed] = h.block([signed(h, alice, PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP,
                                                                 UP + 1_000 * USDC, 10))], prices={BTC: PRICE})
        assert placed.code == 0, placed.log
        fired = h.finalize([oracle_tx_with({BTC: UP})])
        h.commit()
        reasons = [dict((a.key, a.value) for a in e.attributes).get("reason", "") for e in fired.events
                   if e.type == "conditional_cancelled"]
        assert len(reasons) == 1 and reasons[0].startswith("MarketReduceOnly"), reasons
        assert MarginKeeper(h.store).position(SubaccountId(alice.address, 0), BTC).size_lots == 0
    finally:
        _close(h)


def test_a_twap_over_the_cap(tmp_path: Path) -> None:
    h = _custom(tmp_path, sections={"orderbook": {"params": {"max_twaps": 1}}})
    try:
        alice = h.keys[0]
        assert [r.code for r in h.block([signed(h, alice, PlaceTwap(0, BTC, Side.BUY, 100, 10, 5))])] == [0]
        raw = signed(h, alice, PlaceTwap(0, BTC, Side.BUY, 100, 10, 5))
        assert h.check(raw).code == 329
        assert [r.code for r in h.block([raw])] == [329]
    finally:
        _close(h)


def test_a_stale_market_refuses_twap_children_and_orders(tmp_path: Path) -> None:
    """With no fresh oracle price for STALE_AFTER_BLOCKS blocks, an opening order gets 501 in
    CheckTx and the block, and a running TWAP's children are refused with it too."""
    h = _custom(tmp_path, oracle=True)
    try:
        alice, bob, _ = h.keys
        assert [r.code for r in h.block([signed(h, bob, sell(PRICE + 100 * USDC, 500))], prices={BTC: PRICE})] == [0, 0]
        assert [r.code for r in h.block([signed(h, alice, PlaceTwap(0, BTC, Side.BUY, 1_000, 50, 1, 500))],
                                        prices={BTC: PRICE})] == [0, 0]
        for _ in range(STALE_AFTER_BLOCKS + 1):
            children = h.finalize([])
            h.commit()
        raw = signed(h, alice, buy(PRICE, 10))
        assert h.check(raw).code == 501
        assert [r.code for r in h.block([raw])] == [501]
        [child] = [dict((a.key, a.value) for a in e.attributes) for e in children.events if e.type == "twap_child"]
        assert child["filled"] == "0" and child["reason"].startswith("MarketStale"), child
        held_before = MarginKeeper(h.store).position(SubaccountId(alice.address, 0), BTC).size_lots
        for _ in range(3):
            h.block([])
        assert MarginKeeper(h.store).position(SubaccountId(alice.address, 0), BTC).size_lots == held_before
    finally:
        _close(h)


def test_a_size_under_the_market_minimum(tmp_path: Path) -> None:
    h = _custom(tmp_path, [market(1, "BTC-USD", 4, 100_000, 10, 100, PRICE, 1_000_000)])
    try:
        raw = signed(h, h.keys[0], buy(PRICE - 100 * USDC, 50))  # 5 steps, the minimum is 10
        checked = h.check(raw)
        assert (checked.code, checked.log.split(":")[0]) == (302, "SizeUnderMinimum")
        assert [r.code for r in h.block([raw])] == [302]
    finally:
        _close(h)
