"""The read API's answers as typed models: FastAPI writes them into the OpenAPI document (/docs).

Prices, sizes, ids and amounts are decimal strings, as in the node's queries, so no JSON reader
rounds them; heights, indexes, times, counts and market ids are JSON numbers. A subaccount is
written `0x<address>/<number>`.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from indexer import models

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list; `next_cursor` fetches the next one (null: this is the last)."""

    items: list[Item]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null when there is none")


class ErrorBody(BaseModel):
    code: str = Field(description="one of the codes of docs/read-api.md: invalid_parameter, invalid_cursor, not_found, "
                                  "unknown_market, method_not_allowed, node_error, node_unavailable")
    message: str


class ErrorAnswer(BaseModel):
    error: ErrorBody


class Market(BaseModel):
    """A market's parameters as the node's `/markets` query gives them (docs/api.md, section 5)."""

    market_id: int
    ticker: str
    status: str = Field(description="active, reduce_only or paused")
    size_decimals: int
    tick_size: str = Field(description="micro-USDC per whole unit")
    step_size: str = Field(description="base atoms")
    min_order_size: str = Field(description="base atoms")
    reference_price: str
    price_band_ppm: int
    initial_margin_ppm: int
    maintenance_margin_ppm: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    max_open_interest: str = Field(description="base atoms")


class Markets(BaseModel):
    markets: list[Market]


class BookSnapshot(BaseModel):
    """The top levels of a market's book, best first, each [price, size, orders]."""

    market_id: int
    height: int = Field(description="the node's height when the book was read (the book is of that height or later)")
    bids: list[tuple[str, str, int]]
    asks: list[tuple[str, str, int]]


class EventPlace(BaseModel):
    """Where an event sits in the chain: the total order every event list is sorted by."""

    height: int
    tx_index: int | None = Field(description="the tx within the block; null for the block's own events")
    event_index: int = Field(description="the event among the block's events (txs' first, then the block's own)")
    time_ms: int = Field(description="the block's time, Unix milliseconds")


class Trade(EventPlace):
    market_id: int
    price: str = Field(description="micro-USDC per whole unit")
    size: str = Field(description="base atoms")
    taker_side: Literal["buy", "sell"]
    maker: str
    taker: str


class Fill(EventPlace):
    """One side of a trade as its subaccount sees it."""

    subaccount: str
    role: Literal["maker", "taker"]
    market_id: int
    order_id: str
    side: Literal["buy", "sell"]
    price: str
    size: str
    fee_micro_usdc: str = Field(description="paid (> 0) or rebated (< 0)")
    realized_pnl_micro_usdc: str


class Candle(BaseModel):
    market_id: int
    resolution: str = Field(description="1m, 5m, 1h or 1d")
    start_ms: int = Field(description="the interval's start, Unix milliseconds (block time)")
    open: str
    high: str
    low: str
    close: str
    volume: str = Field(description="base atoms traded")
    quote_volume_micro_usdc: str
    trade_count: int
    last_height: int = Field(description="the last block that changed it; the newest candle may still change")


class Order(BaseModel):
    """An order's latest state as the indexer last saw it."""

    order_id: str
    client_id: str
    market_id: int
    subaccount: str
    side: Literal["buy", "sell"]
    price: str
    size: str = Field(description="as placed or last modified, base atoms (an iceberg: its shown slice)")
    filled_size: str
    time_in_force: str
    iceberg: bool
    status: str = Field(description="open, partially_filled, filled, cancelled or expired")
    reason: str | None = Field(description="why it was cancelled or expired")
    placed_height: int
    placed_time_ms: int
    updated_height: int


class OrderUpdate(EventPlace):
    """One step of an order's life."""

    order_id: str
    subaccount: str
    market_id: int
    status: str
    size: str = Field(description="placed or modified: the order's size; filled: the fill's size")
    filled_size: str = Field(description="cumulative after this step")
    price: str
    reason: str | None


class FundingPayment(BaseModel):
    subaccount: str
    market_id: int
    hour: int = Field(description="the Unix hour the rate is for")
    height: int
    time_ms: int
    size: str = Field(description="the position's signed size, base atoms")
    rate_ppm: int
    payment_micro_usdc: str = Field(description="paid (> 0) or received (< 0)")


class Transfer(EventPlace):
    kind: str = Field(description=", ".join(models.TRANSFER_KINDS))
    subaccount: str
    amount_micro_usdc: str = Field(description="> 0; `kind` says which way")
    counterparty: str | None
    reference: str | None = Field(description="deposit nonce, withdrawal id or Ethereum tx hash")


class Status(BaseModel):
    indexed_height: int = Field(description="the last block the indexer stored whole (0: none yet)")
    indexed_time_ms: int | None
