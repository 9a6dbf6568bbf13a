"""Invariants of the order book in the app, over random blocks of random orders (hypothesis):
the book is never crossed after a block; the sizes in a market sum to zero; collateral minus cost
basis plus fees and the funding pool is conserved; nobody ends a block under the initial margin
requirement (prices do not move here); the store holds exactly the books and their exposure
(icebergs' hidden rests included);
replaying the same blocks on a fresh node gives byte-identical state and the same app hash."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.application import Application
from app.store import CommittedStore
from modules.bank.keeper import BankKeeper
from modules.context import BlockContext
from modules.funding.keeper import FundingKeeper
from modules.keepers import orderbook_keeper
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.orderbook.actions import CancelAll, CancelOrder, PlaceOrder
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import FUNDED_MICRO_USDC, start_app
from wire import PrivateKey, sign_tx
from wire.codec import Action, Tx

KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in (201, 202, 203)]
PRICE = 65_000_000_000
TICK = 100_000

place = st.builds(
    lambda side, offset, lots, tif, post_only, reduce_only, display_lots: PlaceOrder(
        0, 1, side, PRICE + offset * TICK, lots * 10, tif, 0, 0, post_only and tif in (TimeInForce.GTC,), reduce_only,
        0, display_lots * 10),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(-5, 5),
    st.sampled_from([1, 3, 10, 30, 120, 250, 400]),  # up to 0.4 BTC: margin binds on 1,000 USDC
    st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    st.booleans(),
    st.sampled_from([False, False, False, True]),
    st.sampled_from([0, 0, 0, 1, 3, 10]),  # icebergs now and then (some refused: IOC, reduce-only, too big)
)
cancel = st.one_of(st.builds(lambda n: CancelOrder(0, 1, order_id=n), st.integers(1, 40)), st.just(CancelAll(0, 1)))
tx = st.tuples(st.integers(0, 2), st.one_of(st.lists(place, min_size=1, max_size=2), st.lists(cancel, max_size=1, min_size=1)))
blocks = st.lists(st.lists(tx, min_size=2, max_size=8), min_size=2, max_size=6)


def _raw(txs: list[tuple[int, list[Action]]], height: int) -> list[bytes]:
    out = []
    for index, (who, actions) in enumerate(txs):
        key = KEYS[who]
        out.append(sign_tx(key, Tx("perpchain-test", key.address, 1_800_000_000_000 + height * 1_000 + index,
                                   tuple(actions))))
    return out


def _check_invariants(app: Application, store: CommittedStore) -> None:
    margin = MarginKeeper(store)
    book = app.books[1]
    assert book.invariant_violations() == []
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is None or ask is None or bid < ask, "crossed book after a block"
    positions = list(margin.all_positions())
    assert sum(p.size_lots for p in positions) == 0
    balances = sum(b.amount_micro_usdc for b in BankKeeper(store).balances())
    pool = FundingKeeper(store).pool()
    assert balances - sum(p.cost_micro_usdc for p in positions) + pool == len(KEYS) * FUNDED_MICRO_USDC
    exposure: dict[tuple[SubaccountId, int], int] = defaultdict(int)
    resting: dict[SubaccountId, int] = defaultdict(int)
    orders = orderbook_keeper(store, app.books, BlockContext("", 0, 0))
    for side in (Side.BUY, Side.SELL):
        for order in book.iter_orders(side):
            _, hidden = orders.iceberg(1, order.order_id) or (0, 0)  # an iceberg's hidden rest counts too
            exposure[(order.owner, side)] += order.size_lots + hidden
            resting[order.owner] += 1
    for key in KEYS:
        owner = SubaccountId(key.address, 0)
        stored = margin.exposure(owner, 1)
        assert (stored.bid_lots, stored.ask_lots) == (exposure[(owner, Side.BUY)], exposure[(owner, Side.SELL)])
        assert orders.open_order_count(owner) == resting[owner] == len(list(orders.orders_of(owner)))
    # Prices do not move here (no validators), so no accepted order or fill may leave anyone
    # under the initial requirement.
    for key in KEYS:
        risk = account_risk(SubaccountId(key.address, 0), MarketsKeeper(store), BankKeeper(store), margin,
                            OracleKeeper(store))
        assert risk.equity_micro_usdc >= risk.initial_micro_usdc, (key.address.hex(), risk)
    rebuilt = Application(store)
    assert rebuilt.books.dump() == app.books.dump()
    assert app.mempool_books.dump() == app.books.dump(), "the mempool's books did not follow the commit"
    rebuilt.signers.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_random_blocks_keep_the_book_uncrossed_positions_balanced_collateral_conserved_and_replay_identical(
    script: list[list[tuple[int, list[Action]]]]
) -> None:
    with tempfile.TemporaryDirectory() as first_dir, tempfile.TemporaryDirectory() as second_dir:
        first, second = start_app(Path(first_dir), KEYS), start_app(Path(second_dir), KEYS)
        try:
            for block in script:
                raws = _raw(block, first.height + 1)
                results_first = [r.code for r in first.block(raws)]
                results_second = [r.code for r in second.block(raws)]
                assert results_first == results_second
                _check_invariants(first.app, first.store)
            assert first.store.last_commit().app_hash == second.store.last_commit().app_hash
            assert list(first.store.iterate(b"", None)) == list(second.store.iterate(b"", None))
        finally:
            for h in (first, second):
                h.app.signers.close()
                h.store.close()
