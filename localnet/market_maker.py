"""`perpchain mm`: a market maker that keeps every market of a localnet quoted.

Around each market's fair price (the oracle price, or the genesis reference price before the
validators report one; `price_source` is the seam) it rests `levels` post-only GTC orders per side, the best
ones `spread_bps` apart and each level `level_bps` further out. It re-quotes a market, in one tx
of CancelAll(market) + PlaceOrder x N, when the fair price moved by `requote_bps`, when its
position changed (a fill) or when its resting orders are not the ones it placed.

Inventory stays bounded: quotes lean against the position (a long lowers both sides by up to half
the spread), and the side that would grow the position offers at most `max_position - |position|`
in total, so position + resting size on that side never exceeds the limit. Quotes never cross
other traders' resting orders (a crossing post-only order would fail the whole tx).

Used in-process by tests and the TUI benchmark (`MarketMaker(...).run(stop_event)`), and as a
command that runs until SIGINT/SIGTERM, then cancels its quotes and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from client import (
    CancelAll,
    ChainRejected,
    Client,
    ClientError,
    PlaceOrder,
    PrivateKey,
    QueryFailed,
    Side,
    TimeInForce,
    TxRejected,
    address_to_hex,
    load_key,
)
from client.arguments import subaccount_number, uint_arg
from modules.integers import U32_MAX

log = logging.getLogger("perpchain.mm")

MICRO = 1_000_000
BPS = 10_000
MAX_ACTIONS_PER_TX = 64


@dataclass(frozen=True)
class MakerConfig:
    levels: int = 5
    spread_bps: int = 10  # best ask - best bid, around the fair price
    level_bps: int = 5  # between consecutive levels of one side
    size_usdc: int = 500  # notional of one level at the fair price
    max_position_usdc: int = 5_000  # per market, notional at the fair price
    requote_bps: int = 5  # fair-price move that triggers a re-quote
    subaccount: int = 0
    markets: tuple[str, ...] = ()  # tickers or ids; empty: every active market
    poll_s: float = 0.05

    def validate(self) -> None:
        if not 1 <= self.levels <= (MAX_ACTIONS_PER_TX - 1) // 2:
            raise ValueError(f"--levels must be 1..{(MAX_ACTIONS_PER_TX - 1) // 2} (one tx carries 64 actions)")
        if self.spread_bps < 1 or self.level_bps < 1 or self.requote_bps < 1:
            raise ValueError("--spread-bps, --level-bps and --requote-bps must be at least 1")
        if self.size_usdc <= 0 or self.max_position_usdc <= 0:
            raise ValueError("--size and --max-position must be positive USDC amounts")


@dataclass(frozen=True)
class MarketParams:
    market_id: int
    ticker: str
    size_decimals: int
    tick_size: int
    step_size: int
    min_order_size: int
    status: str
    reference_price: int
    oracle_price: int | None = None

    @classmethod
    def from_json(cls, entry: dict[str, Any], oracle_price: int | None = None) -> "MarketParams":
        return cls(int(entry["market_id"]), str(entry["ticker"]), int(entry["size_decimals"]),
                   int(entry["tick_size"]), int(entry["step_size"]), int(entry["min_order_size"]),
                   str(entry.get("status", "active")), int(entry["reference_price"]), oracle_price)

    def atoms_for(self, notional_micro_usdc: int, price: int) -> int:
        """Base atoms worth `notional_micro_usdc` at `price`, down to the step."""
        atoms_per_unit: int = 10**self.size_decimals  # (int ** int is typed Any: a negative power is a float)
        atoms = notional_micro_usdc * atoms_per_unit // price
        return atoms // self.step_size * self.step_size

    def format_price(self, price: int) -> str:
        """With as many decimals as one tick needs (tick 0.1 USDC: 65000.0)."""
        decimals, tick = 6, self.tick_size
        while decimals and tick % 10 == 0:
            tick, decimals = tick // 10, decimals - 1
        whole, fraction = divmod(price, MICRO)
        return f"{whole}.{fraction:06d}"[:-(6 - decimals) or None] if decimals else str(whole)

    def format_size(self, atoms: int) -> str:
        sign = "-" if atoms < 0 else "+"
        whole, fraction = divmod(abs(atoms), 10**self.size_decimals)
        return f"{sign}{whole}.{fraction:0{self.size_decimals}d}" if self.size_decimals else f"{sign}{whole}"


def fair_price(market: MarketParams) -> int:
    """The price quotes centre on: the chain's mark (oracle price, else the reference price)."""
    return market.oracle_price if market.oracle_price is not None else market.reference_price


@dataclass(frozen=True)
class Quote:
    side: Side
    price: int
    size: int


@dataclass(frozen=True)
class QuotePlan:
    bids: tuple[Quote, ...]
    asks: tuple[Quote, ...]
    centre: int  # the fair price after the inventory skew


def plan_quotes(market: MarketParams, fair: int, position: int, config: MakerConfig,
                best_other_bid: int | None = None, best_other_ask: int | None = None) -> QuotePlan:
    """The ladder to rest for a fair price and a signed position (base atoms), both sides best first."""
    tick = market.tick_size
    level_size = max(market.atoms_for(config.size_usdc * MICRO, fair), market.min_order_size)
    max_position = max(market.atoms_for(config.max_position_usdc * MICRO, fair), market.min_order_size)
    half_spread = max(fair * config.spread_bps // (2 * BPS), tick)
    step = max(fair * config.level_bps // BPS, tick)
    lean = min(abs(position) * half_spread // max_position, half_spread)
    centre = fair - lean if position > 0 else fair + lean  # long: lower both sides so asks fill first

    def ladder(side: Side, capacity: int) -> tuple[Quote, ...]:
        quotes: list[Quote] = []
        previous: int | None = None
        for level in range(config.levels):
            if side == Side.BUY:
                price = (centre - half_spread - level * step) // tick * tick
                if previous is not None:
                    price = min(price, previous - tick)
                if best_other_ask is not None:
                    price = min(price, best_other_ask - tick)
            else:
                price = -(-(centre + half_spread + level * step) // tick) * tick
                if previous is not None:
                    price = max(price, previous + tick)
                if best_other_bid is not None:
                    price = max(price, best_other_bid + tick)
            size = min(level_size, capacity) // market.step_size * market.step_size
            if price <= 0 or size < market.min_order_size:
                break
            quotes.append(Quote(side, price, size))
            capacity -= size
            previous = price
        return tuple(quotes)

    return QuotePlan(ladder(Side.BUY, max(max_position - position, 0)),
                     ladder(Side.SELL, max(max_position + position, 0)), centre)


@dataclass
class MarketState:
    """What the maker placed last in one market, to tell when to re-quote."""

    fair: int = 0
    position: int = 0
    placed: frozenset[tuple[str, int, int]] = frozenset()
    quoted: bool = False
    retry_after: float = 0.0


@dataclass
class MakerStats:
    requotes: int = 0
    rejected: int = 0
    last_height: int = 0
    plans: dict[int, QuotePlan] = field(default_factory=dict)


class MarketMaker:
    """Quotes every market of a node from one key's subaccount. `step()` does one pass;
    `run(stop)` steps once per new block until `stop` is set, then cancels its quotes."""

    def __init__(self, client: Client, key: PrivateKey, config: MakerConfig = MakerConfig(),
                 price_source: Callable[[MarketParams], int] = fair_price,
                 emit: Callable[[str], None] | None = None) -> None:
        config.validate()
        self.client = client
        self.key = key
        self.config = config
        self.price_source = price_source
        self.emit = emit or log.info
        self.owner = f"{address_to_hex(key.address).lower()}/{config.subaccount}"
        self.address = address_to_hex(key.address).lower()
        self.states: dict[int, MarketState] = {}
        self.stats = MakerStats()

    # -- one pass ----------------------------------------------------------------------------------

    def oracle_prices(self) -> dict[int, int]:
        """market id -> oracle price, for the markets that have one (none before the oracle)."""
        try:
            answer = self.client.query("/oracle/prices")
        except QueryFailed:
            return {}
        return {int(p["market_id"]): int(p["price"]) for p in answer["prices"] if p.get("price") is not None}

    def markets(self) -> list[MarketParams]:
        wanted = set(self.config.markets)
        chosen = []
        oracle = self.oracle_prices()
        for entry in self.client.markets():
            market = MarketParams.from_json(entry, oracle.get(int(entry["market_id"])))
            if market.status != "active":
                continue
            if wanted and str(market.market_id) not in wanted and market.ticker not in wanted:
                continue
            chosen.append(market)
        return chosen

    def step(self) -> int:
        """Re-quote the markets that need it; returns how many were re-quoted."""
        markets = self.markets()
        orders: dict[int, set[tuple[str, int, int]]] = {}
        for order in self.client.orders(self.address, self.config.subaccount):
            orders.setdefault(int(order["market_id"]), set()).add(
                (order["side"], int(order["price"]), int(order["size"])))
        answer = self.client.positions(self.address, self.config.subaccount)
        positions = {int(p["market_id"]): int(p["size"]) for p in answer["positions"]}
        now = time.monotonic()
        pending: list[tuple[MarketParams, QuotePlan, str, str]] = []
        for market in markets:
            state = self.states.setdefault(market.market_id, MarketState())
            fair = self.price_source(market)
            position = positions.get(market.market_id, 0)
            reason = self._reason(state, fair, position, frozenset(orders.get(market.market_id, set())))
            if reason is None or now < state.retry_after:
                continue
            best_bid, best_ask = self._best_other_prices(market.market_id)
            plan = plan_quotes(market, fair, position, self.config, best_bid, best_ask)
            actions: list[CancelAll | PlaceOrder] = [CancelAll(self.config.subaccount, market.market_id), *(
                PlaceOrder(self.config.subaccount, market.market_id, q.side, q.price, q.size, TimeInForce.GTC,
                           post_only=True) for q in (*plan.bids, *plan.asks))]
            try:
                tx_hash = self.client.submit(self.client.build(self.key, actions))
            except TxRejected as rejected:
                self._rejected(market, state, rejected)
                continue
            pending.append((market, plan, tx_hash, reason))
            state.fair, state.position = fair, position
        done = 0
        for market, plan, tx_hash, reason in pending:
            state = self.states[market.market_id]
            try:
                result = self.client.wait_for_tx(tx_hash, timeout_s=15.0)
            except TxRejected as rejected:
                self._rejected(market, state, rejected)
                continue
            state.placed = frozenset((q.side.name.lower(), q.price, q.size) for q in (*plan.bids, *plan.asks))
            state.quoted = True
            self.stats.requotes += 1
            self.stats.last_height = result.height
            self.stats.plans[market.market_id] = plan
            done += 1
            self.emit(self._describe(market, plan, state.position, result.height, reason))
        return done

    def _reason(self, state: MarketState, fair: int, position: int,
                resting: frozenset[tuple[str, int, int]]) -> str | None:
        if not state.quoted:
            return "start"
        if abs(fair - state.fair) * BPS >= self.config.requote_bps * state.fair:
            return "price"
        if position != state.position:
            return "fill"
        if resting != state.placed:
            return "orders"
        return None

    def _best_other_prices(self, market_id: int) -> tuple[int | None, int | None]:
        """Best bid and ask resting from anyone but this maker's subaccount (L3 book)."""
        book = self.client.query(f"/book/{market_id}/l3/{4 * self.config.levels + 8}")
        best: list[int | None] = []
        for side in ("bids", "asks"):
            found = None
            for order in book[side]:
                if f"{order['owner']}/{order['subaccount']}" != self.owner:
                    found = int(order["price"])
                    break
            best.append(found)
        return best[0], best[1]

    def _rejected(self, market: MarketParams, state: MarketState, rejected: ChainRejected) -> None:
        self.stats.rejected += 1
        state.quoted = False  # quote afresh once the back-off ends
        state.retry_after = time.monotonic() + 1.0
        self.emit(f"[mm] {market.ticker} re-quote rejected: {rejected}")

    def _describe(self, market: MarketParams, plan: QuotePlan, position: int, height: int, reason: str) -> str:
        def side(quotes: Sequence[Quote]) -> str:
            if not quotes:
                return "none"
            return f"{market.format_price(quotes[0].price)}..{market.format_price(quotes[-1].price)}"

        return (f"[mm] h{height} {market.ticker:<8} {reason:<6} centre {market.format_price(plan.centre)} "
                f"pos {market.format_size(position)} bids {len(plan.bids)} {side(plan.bids)} "
                f"asks {len(plan.asks)} {side(plan.asks)}")

    # -- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event, cancel_on_exit: bool = True) -> None:
        """Step after every new block until `stop` is set; a node that goes away is waited for."""
        last_height = 0
        delay = 0.5
        while not stop.is_set():
            try:
                height = self.client.height()
                if height > last_height:
                    self.step()
                    last_height = height
                delay = 0.5
                stop.wait(self.config.poll_s)
            except ChainRejected as error:  # a query refused: log and go on
                self.emit(f"[mm] query refused: {error}")
                stop.wait(1.0)
            except ClientError as error:
                self.emit(f"[mm] node unavailable ({error}); retrying in {delay:.1f}s")
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        if cancel_on_exit:
            self.cancel_quotes()

    def cancel_quotes(self) -> None:
        try:
            self.client.send(self.key, [CancelAll(self.config.subaccount, 0)], wait=True)
            self.emit("[mm] quotes cancelled")
        except ClientError as error:
            self.emit(f"[mm] could not cancel quotes on exit: {error}")


# -- command line ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, default_node: str) -> None:
    parser.add_argument("--node", default=default_node, help="RPC URL of a node (%(default)s)")
    parser.add_argument("--key", required=True, help="key file of the maker (fund it first)")
    parser.add_argument("--subaccount", type=subaccount_number, default=0)
    parser.add_argument("--levels", type=uint_arg("levels"), default=5, help="orders per side (%(default)s)")
    parser.add_argument("--spread-bps", type=uint_arg("spread-bps", 0, U32_MAX), default=10, help="best ask - best bid (%(default)s bps)")
    parser.add_argument("--level-bps", type=uint_arg("level-bps", 0, U32_MAX), default=5, help="distance between levels (%(default)s bps)")
    parser.add_argument("--size", type=uint_arg("size"), default=500, metavar="USDC", help="notional per level (%(default)s)")
    parser.add_argument("--max-position", type=uint_arg("max-position"), default=5_000, metavar="USDC",
                        help="inventory limit per market, notional (%(default)s)")
    parser.add_argument("--requote-bps", type=uint_arg("requote-bps", 0, U32_MAX), default=5, help="fair-price move that re-quotes (%(default)s)")
    parser.add_argument("--markets", default="", help="comma-separated tickers or ids (default: all)")


def config_from_args(args: argparse.Namespace) -> MakerConfig:
    return MakerConfig(levels=args.levels, spread_bps=args.spread_bps, level_bps=args.level_bps,
                       size_usdc=args.size, max_position_usdc=args.max_position, requote_bps=args.requote_bps,
                       subaccount=args.subaccount,
                       markets=tuple(m.strip() for m in args.markets.split(",") if m.strip()))


def run_command(args: argparse.Namespace) -> int:
    """`perpchain mm`: run until SIGINT/SIGTERM, cancel the quotes, exit 0."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    config = config_from_args(args)
    key = load_key(Path(args.key))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Client(args.node, timeout_s=5.0) as client:
        maker = MarketMaker(client, key, config)
        log.info("[mm] %s quoting on %s: %d levels, spread %d bps, %d USDC per level, max position %d USDC",
                 maker.owner, args.node, config.levels, config.spread_bps, config.size_usdc, config.max_position_usdc)
        maker.run(stop)
    log.info("[mm] stopped after %d re-quotes", maker.stats.requotes)
    return 0


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="perpchain mm", description=__doc__.split("\n\n")[0])
    add_arguments(parser, os.environ.get("PERPCHAIN_NODE", "http://127.0.0.1:26601"))
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
