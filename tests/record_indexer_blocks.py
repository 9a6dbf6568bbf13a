"""Records what a real chain's CometBFT answers for /block (its id and header) and /block_results
at every height of a short traded run (a maker quoting every market, a taker trading against it,
one transfer, one order modified in place) into tests/unit/data/indexer_blocks.json.gz, with the
markets query: the input of tests/unit/test_indexer_ingest.py, which needs no running node.
Re-record with `python -m tests.record_indexer_blocks` after a change to the events or CometBFT.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from client import Client, ModifyOrder, PlaceOrder, Side, SubaccountId, TimeInForce
from client.blocks import read_raw
from localnet.market_maker import MakerConfig
from localnet.traded import traded_chain

OUT = Path(__file__).resolve().parent / "unit" / "data" / "indexer_blocks.json.gz"
TRADING_S = 12.0


def _one_of_each(client: Client, key: Any, other: Any) -> None:
    """What the maker and taker do not: a transfer, and a resting order shrunk in place then cancelled."""
    client.transfer(key, SubaccountId(other.address, 1), 1_000_000)
    market = client.markets()[0]
    price = int(market["reference_price"]) * 80 // 100
    price -= price % int(market["tick_size"])
    size = int(market["min_order_size"]) * 4
    placed = client.place(key, PlaceOrder(0, int(market["market_id"]), Side.BUY, price, size, TimeInForce.GTC))
    order_id = int(next(e.attributes["order_id"] for e in placed.events if e.type == "order_placed"))
    client.modify(key, ModifyOrder(0, int(market["market_id"]), order_id, price, size // 2))
    client.cancel_all(key)


def record(out: Path = OUT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, \
            traded_chain(Path(folder), MakerConfig(levels=3), block_time_ms=200) as traded:
        with Client(traded.chain.rpc_url) as client:
            _one_of_each(client, traded.trader_key, traded.chain.keys[0])
            time.sleep(TRADING_S)
            last = client.height()
            blocks = []
            for height in range(1, last + 1):
                block, results = read_raw(client, height)
                blocks.append({"block": {"block_id": block["block_id"], "block": {"header": block["block"]["header"]}},
                               "block_results": results})
            recorded = {"markets": client.markets(), "blocks": blocks}
    out.write_bytes(gzip.compress((json.dumps(recorded, sort_keys=True) + "\n").encode(), mtime=0))
    return recorded


if __name__ == "__main__":
    recorded = record()
    print(f"recorded {len(recorded['blocks'])} blocks into {OUT}")
