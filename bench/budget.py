"""`budget` benchmark: what a block costs when everything stored wants work at its start, with
the per-block budgets of docs/orders.md and docs/liquidation.md in force (default params).

Setup (not timed; written through the stores, as `triggers` does, and committed as one block
through app/driver.py, the app restarted on it): 4 markets; N funded subaccounts (default 10,000) with 100 USDC each, the
16-item storage tier, each holding what that tier allows: 4 TWAPs (10 slices every 1,000 blocks,
due blocks spread) and 12 conditionals (stop-market buys and take-profit-market sells that
fire on a rise, stop-limit sells and take-profit-limit buys that fire on a fall, 1-4% away, and
trailing sells 1-3% behind the price); and one attacker address at its limits: 128 subaccounts
with 100,000 USDC each (the 512-item tier), each with 16 TWAPs of a child every block and 256
stops that all cross on the same print.

Timed, every block through the real Application.finalize_block and commit:
  calm_finalize_ms   median of 5 blocks with no price move (the TWAP budget is used every block:
                     the attacker's 2,048 TWAPs always have children due)
  (a calm block is twap_children_per_block children: calm_finalize_ms / 256 is what one costs)
  max_finalize_ms    the largest FinalizeBlock from the first crossing until the queue drained:
                     +5% (every rising trigger crosses), then -9.5% (every falling one and every
                     trailing stop), then flat
  blocks_to_drain    blocks from the first crossing until every crossed conditional has fired
  cpu_ms_per_block   user + system CPU of this process per block over the drain (/proc/self/stat)
  unfunded_orders_accepted  an unfunded key sends one tx per placement kind (limit, IOC, iceberg,
                     the four conditional kinds, trailing stop, TP/SL, TWAP) through CheckTx and a
                     block: how many the block accepted (CheckTx acceptances beside it)
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from app.driver import InProcessChain, priced_genesis
from bench.common import PRICE, TICK, bench_markets, same_price
from genesis.app_state import build_app_state
from modules.bank.keeper import BankKeeper
from modules.orderbook.actions import (
    ConditionalKind,
    PlaceConditional,
    PlaceOrder,
    PlaceTrailingStop,
    PlaceTwap,
    SetPositionTpSl,
)
from modules.orderbook.conditional_store import BANDS, Conditional, ConditionalBook
from modules.orderbook.trailing import trail_trigger
from modules.orderbook.twap import Twap, TwapBook
from modules.orderbook.types import Side, TimeInForce
from modules.store import KVStore
from modules.types import MAX_SUBACCOUNT, SubaccountId
from wire import PrivateKey, sign_tx
from wire.codec import Action, Tx
from wire.pb import abci_pb

MARKETS = 4
PRICE_TICKS = PRICE // TICK
USDC = 1_000_000
HONEST_EQUITY = 100 * USDC  # the 16-item tier
ATTACKER_EQUITY = 100_000 * USDC  # the 512-item tier
CHAIN_ID = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_ms() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK_TCK  # utime, stime


def _owner(i: int) -> SubaccountId:
    return SubaccountId(hashlib.sha256(b"honest" + i.to_bytes(8, "big")).digest()[:20], 0)


def _block(chain: InProcessChain, price: int, txs: list[bytes] | None = None
           ) -> tuple[float, float, abci_pb.ResponseFinalizeBlock]:
    """(wall ms, cpu ms, response) of one FinalizeBlock at `price` in every market, then Commit."""
    block = [chain.oracle_tx(same_price(MARKETS, price)), *(txs or [])]
    cpu, started = _cpu_ms(), time.perf_counter()
    response = chain.finalize(block)
    elapsed, cpu_used = (time.perf_counter() - started) * 1000, _cpu_ms() - cpu
    chain.commit()
    return elapsed, cpu_used, response


def _honest(book: ConditionalBook, twaps: TwapBook, owner: SubaccountId, i: int, height: int) -> None:
    market = 1 + i % MARKETS
    for k in range(4):
        twaps.put(Twap(twaps.next_id(), market, owner, Side.BUY if k % 2 else Side.SELL, 10, 0, 10, 0, 1_000,
                       height + 1 + (i * 4 + k) * 7_919 % 1_000, 100, False))
    for k in range(12):
        away = PRICE_TICKS * (100 + (i * 12 + k) * 37 % 300) // 10_000  # 1% .. 4%
        kind = (ConditionalKind.STOP_MARKET, ConditionalKind.TAKE_PROFIT_MARKET, ConditionalKind.STOP_LIMIT,
                ConditionalKind.TAKE_PROFIT_LIMIT, ConditionalKind.TRAILING_STOP)[k % 5 if k < 10 else 4]
        if kind == ConditionalKind.TRAILING_STOP:
            trail = PRICE_TICKS * (100 + (i + k) % 200) // 10_000
            book.add(Conditional(book.next_id(), market, owner, kind, Side.SELL,
                                 trail_trigger(Side.SELL, PRICE_TICKS, trail, 0), 0, 1, False, trail, 0, PRICE_TICKS,
                                 100))
            continue
        rising = kind in (ConditionalKind.STOP_MARKET, ConditionalKind.TAKE_PROFIT_MARKET)
        side = Side.BUY if kind in (ConditionalKind.STOP_MARKET, ConditionalKind.TAKE_PROFIT_LIMIT) else Side.SELL
        trigger = PRICE_TICKS + away if rising else PRICE_TICKS - away
        limit = trigger * 102 // 100 if side == Side.BUY else trigger * 98 // 100
        book.add(Conditional(book.next_id(), market, owner, kind, side, trigger, limit, 1, False))


def _attacker(book: ConditionalBook, twaps: TwapBook, address: bytes, height: int) -> None:
    for number in range(MAX_SUBACCOUNT + 1):
        owner = SubaccountId(address, number)
        for k in range(16):
            twaps.put(Twap(twaps.next_id(), 1 + k % MARKETS, owner, Side.BUY, 1_000, 0, 100, 0, 1, height + 1, 100,
                           False))
        for k in range(256):
            trigger = PRICE_TICKS * 1_001 // 1_000  # all on one print: +0.1%
            book.add(Conditional(book.next_id(), 1 + k % MARKETS, owner, ConditionalKind.STOP_MARKET, Side.BUY,
                                 trigger, trigger * 2, 1, False))


def _unfunded(chain: InProcessChain) -> dict[str, int]:
    key = PrivateKey.from_hex(hashlib.sha256(b"unfunded").hexdigest())
    actions: list[Action] = [
        PlaceConditional(0, 1, ConditionalKind.STOP_MARKET, Side.BUY, PRICE * 11 // 10, PRICE * 12 // 10, 10),
        PlaceConditional(0, 1, ConditionalKind.STOP_LIMIT, Side.SELL, PRICE * 9 // 10, PRICE * 9 // 10, 10),
        PlaceConditional(0, 1, ConditionalKind.TAKE_PROFIT_MARKET, Side.SELL, PRICE * 11 // 10, PRICE // 2, 10),
        PlaceConditional(0, 1, ConditionalKind.TAKE_PROFIT_LIMIT, Side.BUY, PRICE * 9 // 10, PRICE * 9 // 10, 10),
        PlaceTrailingStop(0, 1, Side.SELL, 10, trail_bps=100),
        SetPositionTpSl(0, 1, take_profit_price=PRICE * 11 // 10, stop_loss_price=PRICE * 9 // 10),
        PlaceTwap(0, 1, Side.BUY, 100, slices=10, interval_blocks=1),
    ]
    actions += [PlaceOrder(0, 1, Side.BUY, PRICE // 2, 10),  # resting limit
                PlaceOrder(0, 1, Side.BUY, PRICE, 10, TimeInForce.IOC),
                PlaceOrder(0, 1, Side.BUY, PRICE // 2, 100, display_size=10)]  # iceberg
    nonce = chain.next_time_ms()
    txs = [sign_tx(key, Tx(CHAIN_ID, key.address, nonce + n, (action,))) for n, action in enumerate(actions)]
    checked = sum(1 for tx in txs if chain.check(tx).code == 0)
    _, _, response = _block(chain, PRICE, txs)
    accepted = sum(1 for result in response.tx_results[1:] if result.code == 0)
    return {"unfunded_orders_sent": len(txs), "unfunded_orders_accepted": accepted,
            "unfunded_checktx_accepted": checked}


def _drained(store: KVStore) -> bool:
    book = ConditionalBook(store)
    return book.queued_count() == 0 and all(book.reach(band, m) is None
                                            for m in range(1, MARKETS + 1) for band in BANDS)


def run(size: int = 0) -> dict[str, Any]:
    subaccounts = size if size > 0 else 10_000
    attacker = hashlib.sha256(b"attacker").digest()[:20]
    with tempfile.TemporaryDirectory() as directory, InProcessChain.start(
            Path(directory) / "db", priced_genesis(CHAIN_ID, build_app_state([], bench_markets(MARKETS)))) as chain:
        _block(chain, PRICE)
        setup_started = time.perf_counter()
        height = chain.height

        def write(store: KVStore) -> None:
            bank, book, twaps = BankKeeper(store), ConditionalBook(store), TwapBook(store)
            for i in range(subaccounts):
                bank.mint(_owner(i), HONEST_EQUITY)
                _honest(book, twaps, _owner(i), i, height)
            for number in range(MAX_SUBACCOUNT + 1):
                bank.mint(SubaccountId(attacker, number), ATTACKER_EQUITY)
            _attacker(book, twaps, attacker, height)

        chain.write_state(write)
        setup_s = time.perf_counter() - setup_started
        conditionals = subaccounts * 12 + (MAX_SUBACCOUNT + 1) * 256

        calm = [_block(chain, PRICE)[0] for _ in range(5)]
        crossing = [PRICE * 105 // 100, PRICE * 95 // 100]
        walls: list[float] = []
        cpus: list[float] = []
        carried_blocks = 0
        started_at = chain.height + 1
        while True:
            price = crossing[min(len(walls), 1)]
            wall, cpu, response = _block(chain, price)
            walls.append(wall)
            cpus.append(cpu)
            carried_blocks += any(e.type == "triggers_carried" for e in response.events)
            if len(walls) >= 2 and _drained(chain.store):
                break
            if len(walls) > 5_000:
                raise RuntimeError("the triggered queue did not drain in 5,000 blocks")
        blocks_to_drain = chain.height - started_at + 1
        unfunded = _unfunded(chain)
    return {"bench": "budget", "subaccounts": subaccounts, "markets": MARKETS, "conditionals": conditionals,
            "twaps": subaccounts * 4 + (MAX_SUBACCOUNT + 1) * 16,
            "calm_finalize_ms": round(statistics.median(calm), 1), "goal_calm_ms": 20,
            "max_finalize_ms": round(max(walls), 1), "goal_max_ms": 250,
            "median_drain_finalize_ms": round(statistics.median(walls), 1),
            "p95_drain_finalize_ms": round(sorted(walls)[len(walls) * 95 // 100], 1),
            "blocks_to_drain": blocks_to_drain, "blocks_with_triggers_carried": carried_blocks,
            "cpu_ms_per_block": round(sum(cpus) / len(cpus), 1), "max_cpu_ms_per_block": round(max(cpus), 1),
            **unfunded, "setup_s": round(setup_s, 1)}
