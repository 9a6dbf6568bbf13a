"""Properties of position TP/SL and TWAP on an in-process chain over random blocks (hypothesis):
a position's TP/SL never grows exposure (it always fits inside the position, and firing it only
shrinks the position); a TWAP never executes more than its total size."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from modules.margin.keeper import MarginKeeper
from modules.orderbook.actions import CancelAll, ConditionalKind, PlaceOrder, PlaceTwap, SetPositionTpSl
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, oracle_tx_with, start_app
from wire import PrivateKey, sign_tx
from wire.codec import Action, Tx
from wire.pb import abci_pb

KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in (301, 302, 303)]
BTC, USDC, PRICE = 1, 1_000_000, 65_000_000_000
_nonces = itertools.count(1)


def _signed(h: AppHarness, key: PrivateKey, *actions: Action) -> bytes:
    return sign_tx(key, Tx("perpchain-test", key.address, h.time_ms + next(_nonces), actions))


def _block(h: AppHarness, txs: list[bytes], price: int) -> abci_pb.ResponseFinalizeBlock:
    response = h.finalize([oracle_tx_with({BTC: price}), *txs])
    h.commit()
    return response


def _position(h: AppHarness, key: PrivateKey) -> int:
    return MarginKeeper(h.store).position(SubaccountId(key.address, 0), BTC).size_lots


def _ladder(maker: PrivateKey, h: AppHarness, price: int) -> bytes:
    """The maker's fresh two-sided quotes around `price` (its old ones cancelled first)."""
    quotes = [PlaceOrder(0, BTC, side, price + sign * step * 100 * USDC, 100)
              for step in (1, 5) for side, sign in ((Side.BUY, -1), (Side.SELL, 1))]
    return _signed(h, maker, CancelAll(0, BTC), *quotes)


# steps: a trade by the trader (signed lots, at an unchanged price) or a price move (in 0.1% units)
steps = st.lists(st.one_of(st.tuples(st.just("trade"), st.integers(1, 15) | st.integers(-15, -1)),
                           st.tuples(st.just("move"), st.integers(-30, 30))), min_size=1, max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long=st.booleans(), lots=st.integers(2, 15), tp_away=st.integers(3, 25), sl_away=st.integers(3, 25),
       protect=st.integers(1, 15), plan=steps)
def test_position_tpsl_never_grows_exposure(long: bool, lots: int, tp_away: int, sl_away: int, protect: int,
                                            plan: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        h = start_app(Path(directory) / "db", KEYS, oracle=True)
        try:
            maker, trader, _ = KEYS
            price = PRICE
            _block(h, [_ladder(maker, h, price)], price)
            side = Side.BUY if long else Side.SELL
            _block(h, [_signed(h, trader, PlaceOrder(0, BTC, side, price + (1 if long else -1) * 600 * USDC,
                                                     lots * 10, TimeInForce.IOC))], price)
            assert _position(h, trader) == (lots if long else -lots)
            sign = 1 if long else -1
            take_profit = (price + sign * price * tp_away // 1000) // 100_000 * 100_000
            stop_loss = (price - sign * price * sl_away // 1000) // 100_000 * 100_000
            tpsl = _block(h, [_signed(h, trader, SetPositionTpSl(0, BTC, take_profit, stop_loss,
                                                                 min(protect, lots) * 10, 5_000))], price)
            assert tpsl.tx_results[1].code == 0, tpsl.tx_results[1].log
            for kind, amount in plan:
                txs = [_ladder(maker, h, price)]
                if kind == "trade":
                    trade_side = Side.BUY if amount > 0 else Side.SELL
                    limit = price + (1 if amount > 0 else -1) * 600 * USDC
                    txs.append(_signed(h, trader, PlaceOrder(0, BTC, trade_side, limit, abs(amount) * 10,
                                                             TimeInForce.IOC)))
                    _block(h, txs, price)
                else:
                    before = _position(h, trader)
                    price = price + price * amount // 1000
                    response = _block(h, [], price)
                    fired = [e for e in response.events if e.type == "conditional_triggered"]
                    after = _position(h, trader)
                    # only the TP/SL trade in a price block: it may only shrink the position
                    assert abs(after) <= abs(before) and after * before >= 0
                    if not fired:
                        assert after == before
                    event(f"{len(fired)} TP/SL fired on a price move")
                    _block(h, [_ladder(maker, h, price)], price)
                held = _position(h, trader)
                for c in ConditionalBook(h.store).of(SubaccountId(trader.address, 0), BTC):
                    assert c.kind in (ConditionalKind.POSITION_STOP_LOSS, ConditionalKind.POSITION_TAKE_PROFIT)
                    closable = held if c.side == Side.SELL else -held
                    assert 0 < c.size_lots <= closable, (c, held)
        finally:
            h.app.signers.close()
            h.store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(total=st.integers(1, 40), slices=st.integers(1, 10), interval=st.integers(1, 3),
       liquidity=st.lists(st.integers(0, 12), min_size=1, max_size=40))
def test_a_twap_never_executes_more_than_its_total(total: int, slices: int, interval: int,
                                                   liquidity: list[int]) -> None:
    slices = min(slices, total)
    with tempfile.TemporaryDirectory() as directory:
        h = start_app(Path(directory) / "db", KEYS, oracle=True)
        try:
            maker, trader, _ = KEYS
            placed = _block(h, [_signed(h, trader, PlaceTwap(0, BTC, Side.BUY, total * 10, slices, interval, 50))],
                            PRICE)
            assert placed.tx_results[1].code == 0, placed.tx_results[1].log
            children, finished = [], []
            for block_index in range(slices * interval + 2):
                offered = liquidity[block_index % len(liquidity)]
                txs = [_signed(h, maker, PlaceOrder(0, BTC, Side.SELL, PRICE, offered * 10))] if offered else []
                response = _block(h, txs, PRICE)
                for event in response.events:
                    attributes = {a.key: a.value for a in event.attributes}
                    if event.type == "twap_child":
                        children.append(attributes)
                    elif event.type == "twap_finished":
                        finished.append(attributes)
            filled = sum(int(c["filled"]) for c in children)
            assert filled <= total * 10
            assert _position(h, trader) * 10 == filled
            assert all(int(c["filled"]) <= int(c["size"]) for c in children)
            assert len(children) <= slices
            [done] = finished
            assert (int(done["filled"]), int(done["remaining"])) == (filled, total * 10 - filled)
        finally:
            h.app.signers.close()
            h.store.close()
