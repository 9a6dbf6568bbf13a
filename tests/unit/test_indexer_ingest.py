"""The indexer's ingestion of blocks recorded from a real traded chain (tests/record_indexer_blocks.py):
trades, candles, fills, orders and transfers as the events say, each block once and whole."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from client.blocks import BlockRecord, PlacedEvent, from_rpc
from indexer import models
from indexer.db import open_engine, sqlite_url, upgrade
from indexer.ingest import Ingestor, units_by_market
from tests.indexer_recompute import expected_candles, expected_trades, stored_candles, stored_heights, stored_trades

RECORDED = json.loads(gzip.decompress((Path(__file__).parent / "data" / "indexer_blocks.json.gz").read_bytes()))
BLOCKS = [from_rpc(b["block"], b["block_results"]) for b in RECORDED["blocks"]]
UNITS = units_by_market(RECORDED["markets"])
SIZE_DECIMALS = {market_id: units.size_decimals for market_id, units in UNITS.items()}


def _engine(tmp_path: Path, name: str = "indexer.db") -> Engine:
    engine = open_engine(sqlite_url(tmp_path / name))
    upgrade(engine)
    return engine


def _ingest(engine: Engine, blocks: list[BlockRecord]) -> Ingestor:
    ingestor = Ingestor(engine, lambda: UNITS)
    for block in blocks:
        assert ingestor.store(block)
    return ingestor


def _events(kind: str) -> list[tuple[BlockRecord, PlacedEvent]]:
    return [(block, e) for block in BLOCKS for e in block.events if e.type == kind]


def _table(engine: Engine, model: Any) -> list[tuple[Any, ...]]:
    columns = [c for c in model.__table__.columns if c.key != "id"]
    with Session(engine) as session:
        return sorted(tuple(row) for row in session.execute(select(*columns)))


def test_the_recording_has_trades_cancels_a_modify_and_a_transfer() -> None:
    for kind in ("fill", "order_placed", "order_cancelled", "order_modified", "transfer"):
        assert _events(kind), kind


def test_trades_and_candles_equal_a_recomputation_from_the_events(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _ingest(engine, BLOCKS)
    assert stored_trades(engine) == expected_trades(BLOCKS)
    assert stored_candles(engine) == expected_candles(BLOCKS, SIZE_DECIMALS)
    assert stored_heights(engine) == [b.height for b in BLOCKS]


def test_each_trade_is_a_fill_of_its_maker_and_of_its_taker(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _ingest(engine, BLOCKS)
    with Session(engine) as session:
        fills = list(session.scalars(select(models.Fill)))
    opposite = {"buy": "sell", "sell": "buy"}
    expected = sorted((e.attributes[role], role, int(e.attributes[f"{role}_order_id"]), int(e.attributes["size"]),
                       e.attributes["taker_side"] if role == "taker" else opposite[e.attributes["taker_side"]])
                      for _, e in _events("fill") for role in ("maker", "taker"))
    assert sorted((f.subaccount, f.role, f.order_id, f.size, f.side) for f in fills) == expected


def test_orders_end_as_their_last_event_says(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _ingest(engine, BLOCKS)
    filled: dict[int, int] = {}
    for _, e in _events("fill"):
        for role in ("maker", "taker"):
            order_id = int(e.attributes[f"{role}_order_id"])
            filled[order_id] = filled.get(order_id, 0) + int(e.attributes["size"])
    ended = {int(e.attributes["order_id"]): e.attributes["reason"] for _, e in _events("order_cancelled")}
    with Session(engine) as session:
        orders = {o.order_id: o for o in session.scalars(select(models.Order))}
    assert set(orders) == {int(e.attributes["order_id"]) for _, e in _events("order_placed")}
    for order_id, order in orders.items():
        assert order.filled_size == filled.get(order_id, 0)
        if order_id in ended:
            assert (order.status, order.reason) == ("cancelled", ended[order_id])
        elif order.filled_size == order.size:
            assert order.status == "filled"
        else:
            assert order.status == ("partially_filled" if order.filled_size else "open")
    (_, modified), = _events("order_modified")
    order = orders[int(modified.attributes["order_id"])]
    assert order.size == order.filled_size + int(modified.attributes["size"])


def test_a_transfer_is_a_row_for_each_side(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _ingest(engine, BLOCKS)
    (_, transfer), = _events("transfer")
    a = transfer.attributes
    with Session(engine) as session:
        rows = sorted((t.kind, t.subaccount, t.counterparty, t.amount_micro_usdc)
                      for t in session.scalars(select(models.Transfer)))
    sender, recipient = f"{a['sender']}/{a['sender_subaccount']}", f"{a['recipient']}/{a['recipient_subaccount']}"
    amount = int(a["amount_micro_usdc"])
    assert rows == [("transfer_in", recipient, sender, amount), ("transfer_out", sender, recipient, amount)]


def test_a_redelivered_block_is_skipped_whole(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    ingestor = _ingest(engine, BLOCKS)
    busiest = max(BLOCKS, key=lambda b: len(b.events))
    assert not ingestor.store(busiest)
    assert not Ingestor(engine, lambda: UNITS).store(busiest)
    assert stored_trades(engine) == expected_trades(BLOCKS)


def test_resuming_with_a_new_ingestor_stores_what_one_pass_stores(tmp_path: Path) -> None:
    one_pass = _engine(tmp_path, "one.db")
    _ingest(one_pass, BLOCKS)
    resumed = _engine(tmp_path, "resumed.db")
    half = len(BLOCKS) // 2
    _ingest(resumed, BLOCKS[:half])
    assert Ingestor(resumed, lambda: UNITS).last_height() == BLOCKS[half - 1].height
    _ingest(resumed, BLOCKS[half:])
    for model in (models.Block, models.Trade, models.Fill, models.Candle, models.Order, models.OrderUpdate,
                  models.Position, models.Transfer):
        assert _table(resumed, model) == _table(one_pass, model), model.__tablename__


def test_a_block_that_fails_midway_leaves_nothing_and_is_stored_whole_later(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    ingestor = Ingestor(engine, lambda: UNITS)
    busiest = max(range(len(BLOCKS)), key=lambda i: sum(e.type == "fill" for e in BLOCKS[i].events))
    for block in BLOCKS[:busiest]:
        ingestor.store(block)
    good = BLOCKS[busiest]
    # a transfer too large for the database: its rows are written last, after the block's and its trades
    too_large = PlacedEvent(None, "transfer", {"sender": "0x01", "sender_subaccount": "0", "recipient": "0x02",
                                               "recipient_subaccount": "0", "amount_micro_usdc": str(2**64)})
    broken = BlockRecord(good.height, good.hash, good.time_ms, good.tx_count, (*good.events, too_large))
    with pytest.raises(OverflowError):
        ingestor.store(broken)
    with Session(engine) as session:
        assert session.scalar(select(func.max(models.Block.height))) == BLOCKS[busiest - 1].height
        assert session.scalar(select(func.count()).where(models.Trade.height == good.height)) == 0
    for block in BLOCKS[busiest:]:
        assert ingestor.store(block)
    assert stored_trades(engine) == expected_trades(BLOCKS)
    assert stored_candles(engine) == expected_candles(BLOCKS, SIZE_DECIMALS)


def test_a_bond_credited_or_corrected_moves_no_balance_and_gets_no_transfers_row(tmp_path: Path) -> None:
    """A bond (subaccount 255) is the staking module's, never a balance: neither its credit nor
    a deposit halt's correction of it writes a transfers row; a correction's ordinary side does."""
    engine = _engine(tmp_path)
    alice, validator_key = "0x" + "aa" * 20, "0x" + "bb" * 20
    credited = {"nonce": "7", "recipient": validator_key, "subaccount": "255", "amount_micro_usdc": "5000000",
                "eth_tx_hash": "0x" + "01" * 32, "sender": alice, "power": "3"}
    corrected = {"nonce": "7", "halt_id": "1", "previous_recipient": validator_key, "previous_subaccount": "255",
                 "previous_amount_micro_usdc": "5000000", "recipient": alice, "subaccount": "0",
                 "amount_micro_usdc": "5000000", "eth_tx_hash": "0x" + "02" * 32}
    last = BLOCKS[-1]
    blocks = [BlockRecord(last.height + 1, "ab" * 32, last.time_ms + 1, 1,
                          (PlacedEvent(0, "deposit_credited", credited),)),
              BlockRecord(last.height + 2, "cd" * 32, last.time_ms + 2, 1,
                          (PlacedEvent(0, "deposit_corrected", corrected),))]
    _ingest(engine, blocks)
    with Session(engine) as session:
        rows = [(t.kind, t.subaccount, t.amount_micro_usdc) for t in session.scalars(select(models.Transfer))]
    assert rows == [("deposit_corrected", f"{alice}/0", 5_000_000)]
