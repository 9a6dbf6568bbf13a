"""An independent recomputation of the indexer's trades and candles straight from blocks' events,
and the indexer's tables read back in the same shape: what its tests compare."""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from client.blocks import BlockRecord
from indexer import models

INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}


def expected_trades(blocks: Iterable[BlockRecord]) -> list[tuple[Any, ...]]:
    """(height, market, price, size, maker, taker, maker order, taker order) of every fill event, in order."""
    return [(block.height, int(e.attributes["market_id"]), int(e.attributes["price"]), int(e.attributes["size"]),
             e.attributes["maker"], e.attributes["taker"], int(e.attributes["maker_order_id"]),
             int(e.attributes["taker_order_id"]))
            for block in blocks for e in block.events if e.type == "fill"]


def expected_candles(blocks: Iterable[BlockRecord], size_decimals: dict[int, int]) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """(market, interval, start) -> (open, high, low, close, volume, quote volume, trades), by brute force."""
    prices: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for block in blocks:
        for e in block.events:
            if e.type != "fill":
                continue
            for interval, length in INTERVALS_MS.items():
                key = (int(e.attributes["market_id"]), interval, block.time_ms // length * length)
                prices.setdefault(key, []).append((int(e.attributes["price"]), int(e.attributes["size"])))
    return {key: (trades[0][0], max(p for p, _ in trades), min(p for p, _ in trades), trades[-1][0],
                  sum(s for _, s in trades), sum(p * s // 10 ** size_decimals[key[0]] for p, s in trades), len(trades))
            for key, trades in prices.items()}


def stored_trades(engine: Engine) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        rows = session.scalars(select(models.Trade).order_by(models.Trade.height, models.Trade.event_index))
        return [(t.height, t.market_id, t.price, t.size, t.maker, t.taker, t.maker_order_id, t.taker_order_id)
                for t in rows]


def stored_candles(engine: Engine) -> dict[tuple[Any, ...], tuple[int, ...]]:
    with Session(engine) as session:
        return {(c.market_id, c.interval, c.start_ms): (c.open, c.high, c.low, c.close, c.volume,
                                                        c.quote_volume_micro_usdc, c.trade_count)
                for c in session.scalars(select(models.Candle))}


def stored_heights(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return list(session.scalars(select(models.Block.height).order_by(models.Block.height)))
