"""The indexer's tables (SQLAlchemy 2 typed ORM). Amounts are integers as the chain's events carry
them: prices in quote units per base unit as the market's ticks spell them, sizes in base atoms,
money in micro-USDC. A subaccount is written `0x<address>/<number>` as the events write it.

Every row but a block's own names the block (`height`) and its place in it (`event_index`: the
ordinal of the event among the block's events, successful txs' first in tx order, then the block's
own FinalizeBlock events; `tx_index`: the tx it came from, None for the block's own events)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SUBACCOUNT = String(64)  # 0x + 40 hex digits + / + up to 3 digits


class Base(DeclarativeBase):
    pass


class Block(Base):
    """One ingested block: written in the same transaction as everything it produced, so its row
    is the proof that the block is stored whole, and the highest one is where following resumes."""

    __tablename__ = "blocks"

    height: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    tx_count: Mapped[int] = mapped_column(Integer)
    event_count: Mapped[int] = mapped_column(Integer)
    order_count: Mapped[int] = mapped_column(Integer)  # order_placed events: the bench's unit


class Trade(Base):
    """One fill between a resting maker and a taker (`fill` event)."""

    __tablename__ = "trades"
    __table_args__ = (
        UniqueConstraint("height", "event_index", name="uq_trades_position"),
        Index("ix_trades_market_height", "market_id", "height", "event_index"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, ForeignKey("blocks.height"))
    tx_index: Mapped[int | None] = mapped_column(Integer)
    event_index: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    market_id: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    taker_side: Mapped[str] = mapped_column(String(4))  # buy | sell
    maker: Mapped[str] = mapped_column(SUBACCOUNT)
    taker: Mapped[str] = mapped_column(SUBACCOUNT)
    maker_order_id: Mapped[int] = mapped_column(BigInteger)
    taker_order_id: Mapped[int] = mapped_column(BigInteger)
    maker_fee_micro_usdc: Mapped[int] = mapped_column(BigInteger)
    taker_fee_micro_usdc: Mapped[int] = mapped_column(BigInteger)
    maker_realized_pnl_micro_usdc: Mapped[int] = mapped_column(BigInteger)
    taker_realized_pnl_micro_usdc: Mapped[int] = mapped_column(BigInteger)


class Fill(Base):
    """One side of a trade as its subaccount sees it: two rows per trade (maker and taker)."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("height", "event_index", "role", name="uq_fills_position"),
        Index("ix_fills_subaccount_height", "subaccount", "height", "event_index"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, ForeignKey("blocks.height"))
    tx_index: Mapped[int | None] = mapped_column(Integer)
    event_index: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    subaccount: Mapped[str] = mapped_column(SUBACCOUNT)
    role: Mapped[str] = mapped_column(String(5))  # maker | taker
    market_id: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String(4))  # this subaccount's side: buy | sell
    price: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    fee_micro_usdc: Mapped[int] = mapped_column(BigInteger)
    realized_pnl_micro_usdc: Mapped[int] = mapped_column(BigInteger)


CANDLE_INTERVALS_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}


class Candle(Base):
    """OHLCV of one market over one interval starting at `start_ms` (block time), from its trades."""

    __tablename__ = "candles"

    market_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interval: Mapped[str] = mapped_column(String(3), primary_key=True)  # a key of CANDLE_INTERVALS_MS
    start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open: Mapped[int] = mapped_column(BigInteger)
    high: Mapped[int] = mapped_column(BigInteger)
    low: Mapped[int] = mapped_column(BigInteger)
    close: Mapped[int] = mapped_column(BigInteger)
    volume: Mapped[int] = mapped_column(BigInteger)  # base atoms traded
    quote_volume_micro_usdc: Mapped[int] = mapped_column(BigInteger)  # sum of price x size over the market's size unit
    trade_count: Mapped[int] = mapped_column(Integer)
    last_height: Mapped[int] = mapped_column(BigInteger)


ORDER_STATUSES = ("open", "partially_filled", "filled", "cancelled", "expired")


class Order(Base):
    """An order's latest state; its history is in `order_updates`."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_subaccount_status", "subaccount", "status"),)

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    market_id: Mapped[int] = mapped_column(Integer)
    subaccount: Mapped[str] = mapped_column(SUBACCOUNT)
    client_id: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)  # as placed (or as last modified), base atoms
    filled_size: Mapped[int] = mapped_column(BigInteger)
    time_in_force: Mapped[str] = mapped_column(String(8))
    iceberg: Mapped[bool] = mapped_column(Boolean)  # `size` is then the shown slice only
    status: Mapped[str] = mapped_column(String(16))  # one of ORDER_STATUSES
    reason: Mapped[str | None] = mapped_column(String(160))  # why it was cancelled or expired
    placed_height: Mapped[int] = mapped_column(BigInteger)
    placed_time_ms: Mapped[int] = mapped_column(BigInteger)
    updated_height: Mapped[int] = mapped_column(BigInteger)


class OrderUpdate(Base):
    """One step of an order's life: placed, filled (partially or wholly), modified, cancelled, expired."""

    __tablename__ = "order_updates"
    __table_args__ = (
        UniqueConstraint("height", "event_index", "order_id", name="uq_order_updates_position"),
        Index("ix_order_updates_order", "order_id", "height", "event_index"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, ForeignKey("blocks.height"))
    tx_index: Mapped[int | None] = mapped_column(Integer)
    event_index: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigInteger)
    subaccount: Mapped[str] = mapped_column(SUBACCOUNT)
    market_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # the order's status after this step
    size: Mapped[int] = mapped_column(BigInteger)  # placed/modified: the size; filled: the fill's size
    filled_size: Mapped[int] = mapped_column(BigInteger)  # cumulative after this step
    price: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(160))


class FundingRate(Base):
    """A market's hourly funding rate and the index it moved to (`funding_rate` event)."""

    __tablename__ = "funding_rates"

    market_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix hour the rate is for
    height: Mapped[int] = mapped_column(BigInteger, ForeignKey("blocks.height"))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    rate_ppm: Mapped[int] = mapped_column(BigInteger)
    samples: Mapped[int] = mapped_column(Integer)
    index: Mapped[int] = mapped_column(BigInteger)


class Position(Base):
    """A subaccount's position per market as its fills, takeovers and deleveragings built it: what
    each hour's funding payment is charged on."""

    __tablename__ = "positions"

    subaccount: Mapped[str] = mapped_column(SUBACCOUNT, primary_key=True)
    market_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)  # signed base atoms: > 0 long
    # the market's index at its last change: the chain settled its funding there
    funding_index: Mapped[int] = mapped_column(BigInteger)
    updated_height: Mapped[int] = mapped_column(BigInteger)


class FundingPayment(Base):
    """What a position paid (> 0) or received (< 0) at one hourly funding tick: what the index's move
    adds to the settlement the chain owes on it since its last change (rounded up once, as the chain)."""

    __tablename__ = "funding_payments"
    __table_args__ = (Index("ix_funding_payments_subaccount_height", "subaccount", "height"),)

    subaccount: Mapped[str] = mapped_column(SUBACCOUNT, primary_key=True)
    market_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, ForeignKey("blocks.height"))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)  # the position's signed size, base atoms
    rate_ppm: Mapped[int] = mapped_column(BigInteger)
    payment_micro_usdc: Mapped[int] = mapped_column(BigInteger)


LIQUIDATION_KINDS = ("liquidation", "liquidation_fill", "insurance_fund_takeover", "deleveraging")


class Liquidation(Base):
    """One step of a liquidation: the subaccount taken over (`liquidation`), its closing through the
    book (`liquidation_fill`), by the insurance fund, or against a counterparty (`deleveraging`, ADL)."""

    __tablename__ = "liquidations"
    __table_args__ = (
        UniqueConstraint("height", "event_index", name="uq_liquidations_position"),
        Index("ix_liquidations_subaccount_height", "subaccount", "height"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, ForeignKey("blocks.height"))
    tx_index: Mapped[int | None] = mapped_column(Integer)
    event_index: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))  # one of LIQUIDATION_KINDS
    subaccount: Mapped[str] = mapped_column(SUBACCOUNT)
    market_id: Mapped[int | None] = mapped_column(Integer)
    counterparty: Mapped[str | None] = mapped_column(SUBACCOUNT)  # deleveraging only
    size: Mapped[int | None] = mapped_column(BigInteger)
    price: Mapped[int | None] = mapped_column(BigInteger)  # bankruptcy price
    fee_micro_usdc: Mapped[int | None] = mapped_column(BigInteger)
    equity_micro_usdc: Mapped[int | None] = mapped_column(BigInteger)  # liquidation only
    maintenance_micro_usdc: Mapped[int | None] = mapped_column(BigInteger)  # liquidation only


TRANSFER_KINDS = ("deposit", "deposit_reversed", "deposit_corrected", "withdrawal", "transfer_in", "transfer_out")


class Transfer(Base):
    """Money into or out of a subaccount: bridge deposits and withdrawals, transfers between
    subaccounts (one row for each side), a deposit's correction after a halt (what it takes back
    from the first recipient, `deposit_reversed`, and credits the right one, `deposit_corrected`)."""

    __tablename__ = "transfers"
    __table_args__ = (
        UniqueConstraint("height", "event_index", "kind", name="uq_transfers_position"),
        Index("ix_transfers_subaccount_height", "subaccount", "height"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, ForeignKey("blocks.height"))
    tx_index: Mapped[int | None] = mapped_column(Integer)
    event_index: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))  # one of TRANSFER_KINDS
    subaccount: Mapped[str] = mapped_column(SUBACCOUNT)
    amount_micro_usdc: Mapped[int] = mapped_column(BigInteger)  # > 0; `kind` says which way
    counterparty: Mapped[str | None] = mapped_column(String(66))  # the other subaccount, or the Ethereum address
    reference: Mapped[str | None] = mapped_column(String(80))  # deposit nonce, withdrawal id, Ethereum tx hash
