"""One block's events into rows, in one database transaction with the block's own row.

The `Ingestor` keeps what the next block needs to be read quickly (the orders still open, every
position, the current candles, each market's last funding index) in memory, loaded from the
database at start; it is dropped whenever a transaction fails, so memory never runs ahead of disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from client.blocks import BlockRecord, PlacedEvent
from indexer import models
from indexer.models import CANDLE_INTERVALS_MS
from modules.funding.params import INDEX_SCALE
from modules.types import BOND_SUBACCOUNT, INSURANCE_FUND

TERMINAL = frozenset({"filled", "cancelled", "expired"})


@dataclass(frozen=True)
class MarketUnits:
    """What turns an event's sizes into lots and notionals (from the markets query)."""

    step_size: int
    size_decimals: int

    def notional_micro_usdc(self, price: int, size: int) -> int:
        return price * size // 10**self.size_decimals


MarketsSource = Callable[[], dict[int, MarketUnits]]


def units_by_market(markets: Iterable[dict[str, Any]]) -> dict[int, MarketUnits]:
    """Each market's units, by id, from market entries as the node's `/markets` query gives them."""
    return {int(m["market_id"]): MarketUnits(int(m["step_size"]), int(m["size_decimals"])) for m in markets}


def subaccount_of(owner: str, number: str) -> str:
    return f"{owner}/{number}"


def candle_start_ms(time_ms: int, interval_ms: int) -> int:
    return time_ms - time_ms % interval_ms


def funding_payment_micro_usdc(size: int, step_size: int, index_now: int, index_then: int) -> int:
    """What a position of `size` atoms pays (> 0) as the index moves, rounded up as the chain rounds."""
    return -(-((size // step_size) * (index_now - index_then)) // INDEX_SCALE)


def hourly_funding_micro_usdc(held: HeldPosition, step_size: int, index_now: int, index_before: int) -> int:
    """What one tick adds to the settlement the chain owes on `held` since it last changed: the
    chain rounds once per settlement, so a position's hourly rows add up to what it settles."""
    return (funding_payment_micro_usdc(held.size, step_size, index_now, held.funding_index)
            - funding_payment_micro_usdc(held.size, step_size, index_before, held.funding_index))


@dataclass(frozen=True)
class HeldPosition:
    """A position as the indexer follows it: signed base atoms, and the market's funding index when
    it last changed (where the chain last settled its funding into its cost)."""

    size: int
    funding_index: int


@dataclass
class _Block:
    """The rows one block produces, gathered before they are written in one go."""

    record: BlockRecord
    trades: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    order_updates: list[dict[str, Any]] = field(default_factory=list)
    new_orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    changed_orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    funding_rates: list[dict[str, Any]] = field(default_factory=list)
    funding_payments: list[dict[str, Any]] = field(default_factory=list)
    liquidations: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[tuple[str, int], HeldPosition] = field(default_factory=dict)
    candles: dict[tuple[int, str, int], dict[str, Any]] = field(default_factory=dict)
    order_count: int = 0


class Ingestor:
    """Stores blocks in height order into `engine`'s tables (already migrated)."""

    def __init__(self, engine: Engine, markets: MarketsSource) -> None:
        self.engine = engine
        self._markets_source = markets
        self._markets: dict[int, MarketUnits] = {}
        self._loaded = False
        self._open_orders: dict[int, dict[str, Any]] = {}
        self._positions: dict[tuple[str, int], HeldPosition] = {}
        self._candles: dict[tuple[int, str], dict[str, Any]] = {}  # the latest of each market and interval
        self._funding_index: dict[int, int] = {}

    # -- what is kept in memory --------------------------------------------------------------

    def last_height(self) -> int:
        """The highest block stored (0: none yet): where following resumes."""
        with Session(self.engine) as session:
            return session.scalar(select(func.max(models.Block.height))) or 0

    def stored_hash(self, height: int) -> str | None:
        with Session(self.engine) as session:
            return session.scalar(select(models.Block.hash).where(models.Block.height == height))

    def _load(self, session: Session) -> None:
        columns = [c.key for c in models.Order.__table__.columns]
        self._open_orders = {
            row.order_id: {c: getattr(row, c) for c in columns}
            for row in session.scalars(select(models.Order).where(models.Order.status.in_(("open", "partially_filled"))))}
        self._positions = {(p.subaccount, p.market_id): HeldPosition(p.size, p.funding_index)
                           for p in session.scalars(select(models.Position))}
        candle_columns = [c.key for c in models.Candle.__table__.columns]
        latest = (select(models.Candle.market_id, models.Candle.interval, func.max(models.Candle.start_ms))
                  .group_by(models.Candle.market_id, models.Candle.interval))
        self._candles = {}
        for market_id, interval, start_ms in session.execute(latest):
            candle = session.get_one(models.Candle, (market_id, interval, start_ms))
            self._candles[(market_id, interval)] = {c: getattr(candle, c) for c in candle_columns}
        last_rates = (select(models.FundingRate.market_id, func.max(models.FundingRate.hour))
                      .group_by(models.FundingRate.market_id))
        self._funding_index = {market_id: session.get_one(models.FundingRate, (market_id, hour)).index
                               for market_id, hour in session.execute(last_rates)}
        self._loaded = True

    def _units(self, market_id: int) -> MarketUnits:
        if market_id not in self._markets:
            self._markets = self._markets_source()  # a market listed since: read them again
        return self._markets[market_id]

    # -- one block ---------------------------------------------------------------------------

    def store(self, record: BlockRecord) -> bool:
        """Store `record` and everything it produced in one transaction; False when that height is
        already stored (a re-delivered block is skipped whole)."""
        try:
            with Session(self.engine) as session, session.begin():
                if not self._loaded:
                    self._load(session)
                if session.get(models.Block, record.height) is not None:
                    return False
                block = _Block(record)
                for index, event in enumerate(record.events):
                    self._apply(block, index, event)
                self._write(session, block)
        except IntegrityError:
            self._loaded = False  # another writer stored it between our check and our commit
            return False
        except BaseException:
            self._loaded = False
            raise
        self._commit_memory(block)
        return True

    def _place(self, block: _Block, index: int, event: PlacedEvent) -> dict[str, Any]:
        return {"height": block.record.height, "tx_index": event.tx_index, "event_index": index,
                "time_ms": block.record.time_ms}

    def _apply(self, block: _Block, index: int, event: PlacedEvent) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, block, index, event)

    def _order(self, block: _Block, order_id: int) -> dict[str, Any] | None:
        """An order this block may change (None: not known, e.g. a liquidation's own order)."""
        if order_id in block.new_orders:
            return block.new_orders[order_id]
        if order_id in block.changed_orders:
            return block.changed_orders[order_id]
        known = self._open_orders.get(order_id)
        if known is None:
            return None
        block.changed_orders[order_id] = dict(known)
        return block.changed_orders[order_id]

    def _order_update(self, block: _Block, index: int, event: PlacedEvent, order: dict[str, Any], size: int,
                      reason: str | None) -> None:
        order["updated_height"] = block.record.height
        block.order_updates.append({
            **self._place(block, index, event), "order_id": order["order_id"], "subaccount": order["subaccount"],
            "market_id": order["market_id"], "status": order["status"], "size": size,
            "filled_size": order["filled_size"], "price": order["price"], "reason": reason})

    def _held(self, block: _Block, subaccount: str, market_id: int) -> HeldPosition:
        key = (subaccount, market_id)
        return block.positions[key] if key in block.positions else self._positions.get(key, HeldPosition(0, 0))

    def _position(self, block: _Block, subaccount: str, market_id: int) -> int:
        return self._held(block, subaccount, market_id).size

    def _funding_index_now(self, block: _Block, market_id: int) -> int:
        """The market's index after this block's ticks so far (0: a new market's index at genesis)."""
        return next((r["index"] for r in reversed(block.funding_rates) if r["market_id"] == market_id),
                    self._funding_index.get(market_id, 0))

    def _move(self, block: _Block, subaccount: str, market_id: int, delta: int) -> None:
        """A trade settles the position's funding, as the chain does before every trade."""
        block.positions[(subaccount, market_id)] = HeldPosition(
            self._position(block, subaccount, market_id) + delta, self._funding_index_now(block, market_id))

    def _candle(self, block: _Block, market_id: int, interval: str, start_ms: int) -> dict[str, Any] | None:
        key = (market_id, interval, start_ms)
        if key in block.candles:
            return block.candles[key]
        latest = self._candles.get((market_id, interval))
        if latest is not None and latest["start_ms"] == start_ms:
            block.candles[key] = {**latest, "_stored": True}
            return block.candles[key]
        return None

    def _trade_into_candles(self, block: _Block, market_id: int, price: int, size: int) -> None:
        quote = self._units(market_id).notional_micro_usdc(price, size)
        for interval, interval_ms in CANDLE_INTERVALS_MS.items():
            start_ms = candle_start_ms(block.record.time_ms, interval_ms)
            candle = self._candle(block, market_id, interval, start_ms)
            if candle is None:
                block.candles[(market_id, interval, start_ms)] = {
                    "market_id": market_id, "interval": interval, "start_ms": start_ms, "open": price, "high": price,
                    "low": price, "close": price, "volume": size, "quote_volume_micro_usdc": quote, "trade_count": 1,
                    "last_height": block.record.height, "_stored": False}
                continue
            candle["high"] = max(candle["high"], price)
            candle["low"] = min(candle["low"], price)
            candle["close"] = price
            candle["volume"] += size
            candle["quote_volume_micro_usdc"] += quote
            candle["trade_count"] += 1
            candle["last_height"] = block.record.height

    # -- writing -----------------------------------------------------------------------------

    def _write(self, session: Session, block: _Block) -> None:
        record = block.record
        session.execute(insert(models.Block), [{
            "height": record.height, "hash": record.hash, "time_ms": record.time_ms, "tx_count": record.tx_count,
            "event_count": len(record.events), "order_count": block.order_count}])
        for model, rows in ((models.Trade, block.trades), (models.Fill, block.fills),
                            (models.Order, list(block.new_orders.values())), (models.OrderUpdate, block.order_updates),
                            (models.FundingRate, block.funding_rates), (models.FundingPayment, block.funding_payments),
                            (models.Liquidation, block.liquidations), (models.Transfer, block.transfers)):
            if rows:
                session.execute(insert(model), rows)
        if block.changed_orders:
            session.execute(update(models.Order), list(block.changed_orders.values()))
        new_positions: list[dict[str, Any]] = []
        moved_positions: list[dict[str, Any]] = []
        for (subaccount, market_id), held in block.positions.items():
            row = {"subaccount": subaccount, "market_id": market_id, "size": held.size,
                   "funding_index": held.funding_index, "updated_height": record.height}
            (moved_positions if (subaccount, market_id) in self._positions else new_positions).append(row)
        if new_positions:
            session.execute(insert(models.Position), new_positions)
        if moved_positions:
            session.execute(update(models.Position), moved_positions)
        new_candles = [{k: v for k, v in c.items() if k != "_stored"} for c in block.candles.values() if not c["_stored"]]
        stored_candles = [{k: v for k, v in c.items() if k != "_stored"} for c in block.candles.values() if c["_stored"]]
        if new_candles:
            session.execute(insert(models.Candle), new_candles)
        if stored_candles:
            session.execute(update(models.Candle), stored_candles)

    def _commit_memory(self, block: _Block) -> None:
        for order_id, order in (*block.new_orders.items(), *block.changed_orders.items()):
            if order["status"] in TERMINAL:
                self._open_orders.pop(order_id, None)
            else:
                self._open_orders[order_id] = order
        self._positions.update(block.positions)
        for (market_id, interval, _), candle in sorted(block.candles.items()):
            self._candles[(market_id, interval)] = {k: v for k, v in candle.items() if k != "_stored"}
        for rate in block.funding_rates:
            self._funding_index[rate["market_id"]] = rate["index"]


# -- one handler per event type ----------------------------------------------------------------


def _order_placed(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    a = event.attributes
    order_id = int(a["order_id"])
    replaced = ingestor._order(block, int(a["replaces_order_id"])) if "replaces_order_id" in a else None
    order: dict[str, Any] = {
        "order_id": order_id, "market_id": int(a["market_id"]), "subaccount": subaccount_of(a["owner"], a["subaccount"]),
        "client_id": int(a["client_id"]), "side": a["side"], "price": int(a["price"]), "size": int(a["size"]),
        "filled_size": 0, "time_in_force": a.get("time_in_force") or (replaced or {}).get("time_in_force", "GTC"),
        "iceberg": a.get("iceberg") == "true" or event.type == "iceberg_refill", "status": "open", "reason": None,
        "placed_height": block.record.height, "placed_time_ms": block.record.time_ms,
        "updated_height": block.record.height}
    block.new_orders[order_id] = order
    block.order_count += event.type == "order_placed"
    ingestor._order_update(block, index, event, order, order["size"], None)


def _fill(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    a = event.attributes
    market_id, price, size = int(a["market_id"]), int(a["price"]), int(a["size"])
    taker_side = a["taker_side"]
    maker_side = "sell" if taker_side == "buy" else "buy"
    place = ingestor._place(block, index, event)
    block.trades.append({
        **place, "market_id": market_id, "price": price, "size": size, "taker_side": taker_side,
        "maker": a["maker"], "taker": a["taker"], "maker_order_id": int(a["maker_order_id"]),
        "taker_order_id": int(a["taker_order_id"]), "maker_fee_micro_usdc": int(a["maker_fee_micro_usdc"]),
        "taker_fee_micro_usdc": int(a["taker_fee_micro_usdc"]),
        "maker_realized_pnl_micro_usdc": int(a["maker_realized_pnl_micro_usdc"]),
        "taker_realized_pnl_micro_usdc": int(a["taker_realized_pnl_micro_usdc"])})
    for role, side in (("maker", maker_side), ("taker", taker_side)):
        order_id = int(a[f"{role}_order_id"])
        block.fills.append({
            **place, "subaccount": a[role], "role": role, "market_id": market_id, "order_id": order_id, "side": side,
            "price": price, "size": size, "fee_micro_usdc": int(a[f"{role}_fee_micro_usdc"]),
            "realized_pnl_micro_usdc": int(a[f"{role}_realized_pnl_micro_usdc"])})
        ingestor._move(block, a[role], market_id, size if side == "buy" else -size)
        order = ingestor._order(block, order_id)
        if order is not None:
            order["filled_size"] += size
            order["status"] = "filled" if order["filled_size"] >= order["size"] else "partially_filled"
            ingestor._order_update(block, index, event, order, size, None)
    ingestor._trade_into_candles(block, market_id, price, size)


def _order_ended(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    order = ingestor._order(block, int(event.attributes["order_id"]))
    if order is None:
        return
    order["status"] = "expired" if event.type == "order_expired" else "cancelled"
    order["reason"] = event.attributes.get("reason")
    ingestor._order_update(block, index, event, order, 0, order["reason"])


def _order_modified(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    """Shrunk in place (a modify that keeps priority): the event's size is what is left to fill."""
    order = ingestor._order(block, int(event.attributes["order_id"]))
    if order is None:
        return
    order["size"] = order["filled_size"] + int(event.attributes["size"])
    ingestor._order_update(block, index, event, order, order["size"], "modified")


def _funding_rate(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    a = event.attributes
    market_id, hour, rate_ppm, index_now = int(a["market_id"]), int(a["hour"]), int(a["rate_ppm"]), int(a["index"])
    place = ingestor._place(block, index, event)
    previous = ingestor._funding_index_now(block, market_id)
    block.funding_rates.append({"market_id": market_id, "hour": hour, "height": place["height"],
                                "time_ms": place["time_ms"], "rate_ppm": rate_ppm, "samples": int(a["samples"]),
                                "index": index_now})
    step_size = ingestor._units(market_id).step_size
    holders = {key for key in (*ingestor._positions, *block.positions) if key[1] == market_id}
    for subaccount, _ in sorted(holders):
        held = ingestor._held(block, subaccount, market_id)
        if held.size:
            block.funding_payments.append({
                "subaccount": subaccount, "market_id": market_id, "hour": hour, "height": place["height"],
                "time_ms": place["time_ms"], "size": held.size, "rate_ppm": rate_ppm,
                "payment_micro_usdc": hourly_funding_micro_usdc(held, step_size, index_now, previous)})


def _optional_int(attributes: dict[str, str], key: str) -> int | None:
    return int(attributes[key]) if key in attributes else None


def _liquidation(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    a = event.attributes
    subaccount = a["subaccount"]
    market_id = _optional_int(a, "market_id")
    size = _optional_int(a, "size")
    block.liquidations.append({
        **ingestor._place(block, index, event), "kind": event.type, "subaccount": subaccount, "market_id": market_id,
        "counterparty": a.get("counterparty"), "size": size, "price": _optional_int(a, "price") or
        _optional_int(a, "bankruptcy_price"), "fee_micro_usdc": _optional_int(a, "fee_micro_usdc"),
        "equity_micro_usdc": _optional_int(a, "equity_micro_usdc"),
        "maintenance_micro_usdc": _optional_int(a, "maintenance_micro_usdc")})
    if event.type in ("insurance_fund_takeover", "deleveraging") and market_id is not None and size:
        held = ingestor._position(block, subaccount, market_id)
        closing = -size if held > 0 else size  # the liquidated side closes; the other side takes it on
        other = a["counterparty"] if event.type == "deleveraging" else str(INSURANCE_FUND)
        ingestor._move(block, subaccount, market_id, closing)
        ingestor._move(block, other, market_id, -closing)


def _transfer_row(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent, kind: str, subaccount: str,
                  amount: str, counterparty: str | None, reference: str | None) -> None:
    block.transfers.append({**ingestor._place(block, index, event), "kind": kind, "subaccount": subaccount,
                            "amount_micro_usdc": int(amount), "counterparty": counterparty, "reference": reference})


def _transfer(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    a = event.attributes
    sender = subaccount_of(a["sender"], a["sender_subaccount"])
    recipient = subaccount_of(a["recipient"], a["recipient_subaccount"])
    _transfer_row(ingestor, block, index, event, "transfer_out", sender, a["amount_micro_usdc"], recipient, None)
    _transfer_row(ingestor, block, index, event, "transfer_in", recipient, a["amount_micro_usdc"], sender, None)


def _deposit_credited(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    a = event.attributes
    if int(a["subaccount"]) == BOND_SUBACCOUNT:  # a validator's bond (docs/staking.md): no balance moved
        return
    _transfer_row(ingestor, block, index, event, "deposit", subaccount_of(a["recipient"], a["subaccount"]),
                  a["amount_micro_usdc"], a["sender"], f"deposit {a['nonce']} {a['eth_tx_hash']}")


def _deposit_corrected(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    """A row for each side that is a balance: a bond's side (subaccount 255) moved none."""
    a = event.attributes
    reference = f"deposit {a['nonce']} {a['eth_tx_hash']}"
    if int(a["previous_subaccount"]) != BOND_SUBACCOUNT:
        _transfer_row(ingestor, block, index, event, "deposit_reversed",
                      subaccount_of(a["previous_recipient"], a["previous_subaccount"]),
                      a["previous_amount_micro_usdc"], None, reference)
    if int(a["subaccount"]) != BOND_SUBACCOUNT:
        _transfer_row(ingestor, block, index, event, "deposit_corrected",
                      subaccount_of(a["recipient"], a["subaccount"]), a["amount_micro_usdc"], None, reference)


def _withdrawal_queued(ingestor: Ingestor, block: _Block, index: int, event: PlacedEvent) -> None:
    a = event.attributes
    _transfer_row(ingestor, block, index, event, "withdrawal", subaccount_of(a["owner"], a["subaccount"]),
                  a["amount_micro_usdc"], a["recipient"], f"withdrawal {a['withdrawal_id']}")


_HANDLERS: dict[str, Callable[[Ingestor, _Block, int, PlacedEvent], None]] = {
    "order_placed": _order_placed,
    "iceberg_refill": _order_placed,
    "fill": _fill,
    "order_cancelled": _order_ended,
    "order_expired": _order_ended,
    "order_modified": _order_modified,
    "funding_rate": _funding_rate,
    "liquidation": _liquidation,
    "liquidation_fill": _liquidation,
    "insurance_fund_takeover": _liquidation,
    "deleveraging": _liquidation,
    "transfer": _transfer,
    "deposit_credited": _deposit_credited,
    "deposit_corrected": _deposit_corrected,
    "withdrawal_queued": _withdrawal_queued,
}
