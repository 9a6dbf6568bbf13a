"""The SQL behind each list: which rows, in which total order, written as the API's JSON.

Each listing names its sort key; a page is the `limit` rows after the cursor's key in that order
(keyset pagination: no OFFSET, so a page costs the same however deep, and rows the indexer adds
meanwhile neither repeat nor hide one). Event lists run newest first, on (height, event_index)
and a tie-breaker where one event makes two rows; candles run oldest first, on their start time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence, Unpack

from sqlalchemy import ColumnElement, Connection, Row, func, select, tuple_

from indexer import models
from indexer.api.cursor import decode_cursor, encode_cursor
from indexer.api.errors import ApiError

# A mapped attribute (models.Trade.height) or a labelled expression: what select() takes as a column.
Column = Any

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def subaccount_key(address: str, number: int) -> str:
    """`0x<address>/<number>` as the indexer stores it; 400 for an address that is not 20 bytes of hex."""
    if not ADDRESS.fullmatch(address):
        raise ApiError("invalid_parameter", f"address: {address!r} is not 0x followed by 40 hex digits")
    return f"{address.lower()}/{number}"


@dataclass(frozen=True)
class Listing:
    """A list's columns (labelled as the JSON fields), its sort key and which fields are strings."""

    columns: tuple[Column, ...]
    key: tuple[Column, ...]
    key_types: tuple[type, ...]
    descending: bool
    decimal_fields: frozenset[str]  # integers written as decimal strings

    def to_json(self, names: Sequence[str], rows: Sequence[Row[Unpack[tuple[Any, ...]]]]) -> list[dict[str, Any]]:
        """Rows of a result whose columns are `names`, as JSON objects (the hot path of every list)."""
        fields = [(name, name in self.decimal_fields) for name in names]
        return [{name: str(value) if decimal and value is not None else value
                 for (name, decimal), value in zip(fields, row)} for row in rows]


def _place(table: Any) -> tuple[Column, ...]:
    return (table.height, table.tx_index, table.event_index, table.time_ms)


TRADES = Listing(
    columns=(*_place(models.Trade), models.Trade.market_id, models.Trade.price, models.Trade.size,
             models.Trade.taker_side, models.Trade.maker, models.Trade.taker),
    key=(models.Trade.height, models.Trade.event_index), key_types=(int, int), descending=True,
    decimal_fields=frozenset({"price", "size"}),
)

FILLS = Listing(
    columns=(*_place(models.Fill), models.Fill.subaccount, models.Fill.role, models.Fill.market_id,
             models.Fill.order_id, models.Fill.side, models.Fill.price, models.Fill.size, models.Fill.fee_micro_usdc,
             models.Fill.realized_pnl_micro_usdc),
    key=(models.Fill.height, models.Fill.event_index, models.Fill.role), key_types=(int, int, str), descending=True,
    decimal_fields=frozenset({"order_id", "price", "size", "fee_micro_usdc", "realized_pnl_micro_usdc"}),
)

CANDLES = Listing(
    columns=(models.Candle.market_id, models.Candle.interval.label("resolution"), models.Candle.start_ms,
             models.Candle.open, models.Candle.high, models.Candle.low, models.Candle.close, models.Candle.volume,
             models.Candle.quote_volume_micro_usdc, models.Candle.trade_count, models.Candle.last_height),
    key=(models.Candle.start_ms,), key_types=(int,), descending=False,
    decimal_fields=frozenset({"open", "high", "low", "close", "volume", "quote_volume_micro_usdc"}),
)

ORDERS = Listing(
    columns=(models.Order.order_id, models.Order.client_id, models.Order.market_id, models.Order.subaccount,
             models.Order.side, models.Order.price, models.Order.size, models.Order.filled_size,
             models.Order.time_in_force, models.Order.iceberg, models.Order.status, models.Order.reason,
             models.Order.placed_height, models.Order.placed_time_ms, models.Order.updated_height),
    key=(models.Order.order_id,), key_types=(int,), descending=True,
    decimal_fields=frozenset({"order_id", "client_id", "price", "size", "filled_size"}),
)

ORDER_UPDATES = Listing(
    columns=(*_place(models.OrderUpdate), models.OrderUpdate.order_id, models.OrderUpdate.subaccount,
             models.OrderUpdate.market_id, models.OrderUpdate.status, models.OrderUpdate.size,
             models.OrderUpdate.filled_size, models.OrderUpdate.price, models.OrderUpdate.reason),
    key=(models.OrderUpdate.height, models.OrderUpdate.event_index, models.OrderUpdate.order_id),
    key_types=(int, int, int), descending=True,
    decimal_fields=frozenset({"order_id", "size", "filled_size", "price"}),
)

FUNDING_PAYMENTS = Listing(
    columns=(models.FundingPayment.subaccount, models.FundingPayment.market_id, models.FundingPayment.hour,
             models.FundingPayment.height, models.FundingPayment.time_ms, models.FundingPayment.size,
             models.FundingPayment.rate_ppm, models.FundingPayment.payment_micro_usdc),
    key=(models.FundingPayment.height, models.FundingPayment.market_id, models.FundingPayment.hour),
    key_types=(int, int, int), descending=True,
    decimal_fields=frozenset({"size", "payment_micro_usdc"}),
)

TRANSFERS = Listing(
    columns=(*_place(models.Transfer), models.Transfer.kind, models.Transfer.subaccount,
             models.Transfer.amount_micro_usdc, models.Transfer.counterparty, models.Transfer.reference),
    key=(models.Transfer.height, models.Transfer.event_index, models.Transfer.kind), key_types=(int, int, str),
    descending=True, decimal_fields=frozenset({"amount_micro_usdc"}),
)


def page(connection: Connection, listing: Listing, where: Sequence[ColumnElement[bool]], cursor: str | None,
         limit: int) -> dict[str, Any]:
    """`{"items", "next_cursor"}`: up to `limit` rows after `cursor` in the listing's order."""
    statement = select(*listing.columns).where(*where)
    if cursor is not None:
        after = tuple_(*listing.key), tuple_(*decode_cursor(cursor, listing.key_types))
        statement = statement.where(after[0] < after[1] if listing.descending else after[0] > after[1])
    order = [column.desc() if listing.descending else column.asc() for column in listing.key]
    result = connection.execute(statement.order_by(*order).limit(limit + 1))
    names, rows = list(result.keys()), result.all()
    items = listing.to_json(names, rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]  # its values as stored: a key field may be written as a string in the JSON
        next_cursor = encode_cursor(tuple(last[names.index(column.key)] for column in listing.key))
    return {"items": items, "next_cursor": next_cursor}


def in_chain_order(connection: Connection, listing: Listing, where: Sequence[ColumnElement[bool]],
                   after_height: int, up_to_height: int) -> list[dict[str, Any]]:
    """Every row of the blocks after `after_height` up to `up_to_height`, oldest first: what a stream
    sends when the indexer has stored those blocks."""
    height = listing.key[0]
    statement = select(*listing.columns).where(*where, height > after_height, height <= up_to_height)
    result = connection.execute(statement.order_by(*(column.asc() for column in listing.key)))
    return listing.to_json(list(result.keys()), result.all())


def indexed_head(connection: Connection) -> tuple[int, int | None]:
    """The last block the indexer stored whole, and its time (0, None before the first)."""
    height = connection.execute(select(func.max(models.Block.height))).scalar()
    if height is None:
        return 0, None
    time_ms = connection.execute(select(models.Block.time_ms).where(models.Block.height == height)).scalar()
    return int(height), time_ms
