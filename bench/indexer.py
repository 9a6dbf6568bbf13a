"""`indexer` benchmark: how fast the indexer stores blocks, against the chain's throughput goal.

Setup (not timed): the `orders` benchmark's flow (`perpchain load`'s: market-maker re-quotes of 15
post-only prices a side after a cancel-all, IOC takers crossing the spread) through the real
Application in process, about 3,500 orders a block; each block's FinalizeBlock events kept as the
indexer reads them from a node. Timed: the indexer storing every block, one transaction each,
into a new SQLite file (the default), migrations done before the clock starts.

  ingest_orders_per_s   orders placed in the stored blocks per second of ingestion (goal >= 10,000)

Then the read API over a week of history (bench/api.py says how):

  api_p99_ms            candles and fills requests from 200 concurrent clients each asking about once a
                        second (open loop, from the scheduled time), 99th percentile (goal <= 200)
  api_requests_per_s    the same 200 clients asking back to back: the most the API serves
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from bench.api import measure_api
from bench.orders import ACCOUNTS, BLOCK_TXS, LEVELS, _secret, _sign, _start
from client.blocks import BlockRecord, from_finalize_block
from genesis.markets import LOCALNET_MARKETS
from indexer.db import open_engine, sqlite_url, upgrade
from indexer.ingest import Ingestor, units_by_market
from localnet.load import Flow, TxPlan
from wire import PrivateKey

GOAL_ORDERS_PER_S = 10_000


def record_blocks(folder: Path, txs_total: int) -> list[BlockRecord]:
    """The blocks of the flow as the app finalizes them (each a BlockRecord as read from a node)."""
    keys = [PrivateKey(_secret(i)) for i in range(ACCOUNTS)]
    market = LOCALNET_MARKETS[0]
    tick = int(market["tick_size"])
    flow = Flow(int(market["market_id"]), tick, int(market["reference_price"]) // tick * tick, LEVELS)
    signed = [raw for _, raw in _sign(keys, flow, TxPlan(seed=7, bad_share_ppm=0), txs_total)]
    blocks = []
    with _start(folder / "chain", keys) as chain:
        for start in range(0, len(signed), BLOCK_TXS):
            proposed = chain.propose(signed[start:start + BLOCK_TXS])
            height, time_ms = chain.height + 1, chain.next_time_ms()
            response = MessageToDict(chain.finalize(proposed, time_ms), preserving_proto_field_name=True)
            chain.commit()
            blocks.append(from_finalize_block(height, f"{height:064X}", time_ms, response))
    return blocks


def run(size: int = 0) -> dict[str, Any]:
    """`size`: txs in the recorded flow (default 2,000, about 35,000 orders)."""
    units = units_by_market(LOCALNET_MARKETS)
    with tempfile.TemporaryDirectory(prefix="perpchain-bench-indexer-") as tmp:
        blocks = record_blocks(Path(tmp), size or 2_000)
        engine = open_engine(sqlite_url(Path(tmp) / "indexer.db"))
        upgrade(engine)
        ingestor = Ingestor(engine, lambda: units)
        started = time.perf_counter()
        for block in blocks:
            ingestor.store(block)
        elapsed_s = time.perf_counter() - started
        engine.dispose()
    orders = sum(1 for b in blocks for e in b.events if e.type == "order_placed")
    fills = sum(1 for b in blocks for e in b.events if e.type == "fill")
    return {
        "bench": "indexer",
        "ingest_orders_per_s": round(orders / elapsed_s),
        "goal_orders_per_s": GOAL_ORDERS_PER_S,
        "meets_goal": orders / elapsed_s >= GOAL_ORDERS_PER_S,
        "orders": orders,
        "fills": fills,
        "events": sum(len(b.events) for b in blocks),
        "blocks": len(blocks),
        "ingest_s": round(elapsed_s, 2),
        "database": "sqlite",
        **measure_api(),
    }
