"""The chain's state as it means, not as it is stored: one canonical value per module section,
read through the keepers, so a store-layout rewrite that keeps the rules keeps every digest.

`app/state_export.py` exports keys and values byte for byte; those change with any change of key
or value encoding, and so does the app hash. This view instead lists what the state says:
balances, positions, resting orders in time priority with their hidden iceberg reserve,
conditionals, TWAPs, oracle prices, funding, nonces, bridge withdrawals and claims, anchors, the
recent trades and liquidations, and each subaccount's risk (equity and both requirements), each
as sorted plain values. Left out on purpose, as layout or algorithm detail: secondary indexes
(by-subaccount, expiry and client-id keys, the liquidation deadline index, the trigger queue and
trailing-stop segments), id counters (every id handed out shows in the records), the app hash and
whatever signs it (an anchor's app hash and its validators' signatures).

A rewrite that changes a keeper's reads adapts this file so it yields the same values; it never
changes what a section holds to make a recording pass.

Records are written as tuples of their fields in a fixed order (written out here, not taken from
the dataclasses, so a field a rewrite adds for its own bookkeeping does not change a digest).
Sections come in two kinds: the STATE_SECTIONS, cheap enough to read after every block, and the
SLOW_SECTIONS, read when `slow` is asked for: the bridge and anchor records and the recent-trades
log, which only grow or roll, and each holder's risk (equity and requirements), a function of the
other sections. Every fill already shows in the cheap sections (positions, balances, the makers'
remaining sizes); the trade log and risk pin how it is reported and judged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from app.router import keepers_over
from modules.anchor.keeper import AnchorKeeper
from modules.auth.keeper import AuthKeeper
from modules.bank.keeper import BankKeeper
from modules.bridge.keeper import BridgeKeeper
from modules.context import BlockContext
from modules.funding.keeper import FundingKeeper
from modules.liquidation.index import LiquidationHistory
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.book import Books
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.twap import TwapBook
from modules.orderbook.types import Side
from modules.store import KVStore
from modules.types import SubaccountId

TRADES_PER_MARKET = 200  # what /trades serves at most
LIQUIDATIONS_KEPT = 500  # what /liquidation/history serves at most


def _sub(s: SubaccountId) -> str:
    return f"{s.address.hex()}/{s.number}"


@dataclass
class _View:
    store: KVStore
    books: Books
    accounts: list[bytes]
    time_ms: int

    def __post_init__(self) -> None:
        self.markets = MarketsKeeper(self.store)
        self.market_ids = [m.market_id for m in self.markets.markets()]
        self.bank, self.margin = BankKeeper(self.store), MarginKeeper(self.store)
        self.oracle, self.funding = OracleKeeper(self.store), FundingKeeper(self.store)
        self.orderbook = keepers_over(self.store, self.books, BlockContext("", 0, self.time_ms)).orderbook
        self.conditionals = ConditionalBook(self.store)
        self.positions = list(self.margin.all_positions())
        self.exposures = list(self.margin.all_exposures())
        self.holders = sorted({p.subaccount for p in self.positions} | {s for s, _, _ in self.exposures})


def _auth(v: _View) -> Any:
    auth = AuthKeeper(v.store)
    return [[a.hex(), list(auth.recent_nonces(a))] for a in v.accounts]


def _bank(v: _View) -> Any:
    return [v.bank.supply(), [[_sub(b.subaccount), b.amount_micro_usdc] for b in v.bank.balances()]]


def _markets(v: _View) -> Any:
    return [[m.market_id, m.ticker, m.size_decimals, m.tick_size, m.step_size, m.min_order_size, m.initial_margin_ppm,
             m.maintenance_margin_ppm, m.max_open_interest, m.maker_fee_ppm, m.taker_fee_ppm, int(m.status),
             m.reference_price, m.price_band_ppm] for m in v.markets.markets()]


def _oracle(v: _View) -> Any:
    prices = [(m, v.oracle.price(m)) for m in v.market_ids]
    return [[m, p.price, p.updated_height] if p is not None else [m, None] for m, p in prices]


def _funding(v: _View) -> Any:
    rows = []
    for m in v.market_ids:
        state = v.funding.state(m)
        rows.append([m, state.index, state.premium_sum_ppm, state.samples, state.hour,
                     [[r.hour, r.rate_ppm, r.index] for r in v.funding.history(m)]])
    return [v.funding.pool(), rows]


def _margin(v: _View) -> Any:
    return [[[_sub(p.subaccount), p.market_id, p.size_lots, p.cost_micro_usdc, p.funding_index] for p in v.positions],
            [[_sub(s), m, e.bid_lots, e.ask_lots] for s, m, e in v.exposures],
            [[m, v.margin.open_interest_lots_x2(m)] for m in v.market_ids]]


def _orderbook(v: _View) -> Any:
    resting = []
    for market_id in v.books.market_ids():
        for side in (Side.BUY, Side.SELL):
            for o in v.books[market_id].iter_orders(side):  # best price first, then time priority
                hidden = v.orderbook.iceberg(market_id, o.order_id)
                resting.append([o.order_id, o.market_id, _sub(o.owner), o.client_id, int(o.side), o.price_ticks,
                                o.size_lots, o.post_only, o.reduce_only, int(o.tif), o.good_til_block,
                                o.good_til_time_ms, list(hidden) if hidden is not None else None])
    dead_man = [[a.hex(), v.orderbook.dead_man_switch(a), v.orderbook.dead_man_count_today(a)] for a in v.accounts]
    return [resting, dead_man]


def _trades(v: _View) -> Any:
    """The recent-trades log (RECENT_TRADES_KEPT per market, more than ten blocks' fills)."""
    return [[m, [[t.height, t.seq, t.price_ticks, int(t.taker_side), t.size_lots, t.maker_order_id, _sub(t.maker),
                  _sub(t.taker)] for t in v.orderbook.recent_trades(m, TRADES_PER_MARKET)]] for m in v.market_ids]


def _conditionals(v: _View) -> Any:
    records = [[c.conditional_id, c.market_id, _sub(c.owner), int(c.kind), int(c.side), c.trigger_ticks, c.limit_ticks,
                c.size_lots, c.reduce_only, c.trail_ticks, c.trail_bps, c.anchor_ticks, c.slippage_bps,
                0 if c.kind == ConditionalKind.TRAILING_STOP else c.link_id]  # a trailing stop links its trigger segment
               for c in v.conditionals.all()]
    pairs = []
    for s in v.holders:
        for m in v.market_ids:
            pair = v.conditionals.position_pair(s, m)
            if pair != (0, 0):
                pairs.append([_sub(s), m, list(pair)])
    return [records, pairs]


def _twaps(v: _View) -> Any:
    return [[t.twap_id, t.market_id, _sub(t.owner), int(t.side), t.total_lots, t.filled_lots, t.slices, t.slices_done,
             t.interval_blocks, t.next_block, t.slippage_bps, t.reduce_only] for t in TwapBook(v.store).all()]


def _liquidation(v: _View) -> Any:
    return [[h, _sub(s), e] for h, s, e in LiquidationHistory(v.store).latest(LIQUIDATIONS_KEPT)]


def _risk(v: _View) -> Any:
    rows = []
    for s in v.holders:
        risk = account_risk(s, v.markets, v.bank, v.margin, v.oracle)
        rows.append([_sub(s), risk.equity_micro_usdc, risk.initial_micro_usdc, risk.maintenance_micro_usdc])
    return rows


def _bridge(v: _View) -> Any:
    bridge = BridgeKeeper(v.store)
    params = bridge.params()
    withdrawals = []
    for withdrawal_id in range(1, bridge.next_withdrawal_id()):
        w = bridge.withdrawal(withdrawal_id)
        withdrawals.append(None if w is None else [w.withdrawal_id, _sub(w.owner), w.recipient.hex(),
                                                   w.amount_micro_usdc, w.height,
                                                   [[c.hex(), sig.hex(), key.hex()]
                                                    for c, sig, key in bridge.signatures(withdrawal_id)]])
    deposits = []
    for nonce in range(1, bridge.next_deposit_nonce() + 8):  # the credited ones and claims on the next few
        credited = bridge.credited(nonce)
        deposits.append([nonce, None if credited is None else [credited[0].hex(), credited[1]],
                         [[a.hex(), h.hex()] for a, h in bridge.claims(nonce)],
                         [[a.hex(), h.hex()] for a, h in bridge.disputes(nonce)]])
    halt = bridge.deposit_halt()
    return [None if params is None else [params.eth_chain_id, params.vault.hex()],
            [[b.consensus_address.hex(), b.operator.hex(), b.eth_address.hex(), b.power] for b in bridge.validators()],
            bridge.next_deposit_nonce(), [[a.hex(), n] for a, n in bridge.last_claims()], deposits, withdrawals,
            bridge.withdrawn_total(), None if halt is None else [halt.halt_id, halt.nonce, halt.height],
            bridge.shortfall(), bridge.valset_nonce()]


def _anchor(v: _View) -> Any:
    anchor = AnchorKeeper(v.store)
    params = anchor.params()
    records = []
    for nonce in range(1, anchor.latest_nonce() + 1):
        r = anchor.record(nonce)
        if r is not None:  # its app hash, and the signatures over it, are the store layout's
            records.append([r.nonce, r.chain_id, r.height, r.balances_root.hex(), r.total_claimable_micro_usdc,
                            r.deposit_nonce, r.withdrawal_id, r.withdrawn_total_micro_usdc, r.leaf_count, r.time_ms,
                            r.shortfall_micro_usdc, r.gains_micro_usdc,
                            [[c.hex(), e.hex()] for c, e, _ in anchor.signatures(nonce)]])
    return [None if params is None else params.interval_blocks,
            [[leaf.address.hex(), leaf.amount_micro_usdc] for leaf in anchor.leaves()], records]


STATE_SECTIONS: dict[str, Callable[[_View], Any]] = {
    "auth": _auth, "bank": _bank, "markets": _markets, "oracle": _oracle, "funding": _funding, "margin": _margin,
    "orderbook": _orderbook, "conditionals": _conditionals, "twaps": _twaps, "liquidation": _liquidation,
}
SLOW_SECTIONS: dict[str, Callable[[_View], Any]] = {"risk": _risk, "trades": _trades, "bridge": _bridge, "anchor": _anchor}


def state_sections(store: KVStore, books: Books, addresses: Iterable[bytes], time_ms: int,
                   slow: bool = True) -> dict[str, Any]:
    """Every module section's meaning after the block at `time_ms` (the SLOW_SECTIONS only when
    `slow`). `addresses`: the accounts whose per-address records (nonces, dead-man switches) are
    listed; the store keeps no list of accounts to read them from."""
    view = _View(store, books, sorted(set(addresses)), time_ms)
    chosen = {**STATE_SECTIONS, **(SLOW_SECTIONS if slow else {})}
    return {name: read(view) for name, read in chosen.items()}


def canonical_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def section_digests(sections: dict[str, Any]) -> dict[str, str]:
    """sha256 of each section's canonical JSON, by section name."""
    return {name: hashlib.sha256(canonical_bytes(sections[name])).hexdigest() for name in sorted(sections)}


def state_digest(digests: dict[str, str]) -> str:
    """One sha256 over every section's digest, in name order."""
    return hashlib.sha256("".join(f"{name}={digests[name]}\n" for name in sorted(digests)).encode()).hexdigest()
