"""A throwaway chain with a market: a maker quoting every market and a taker trading against it,
for the terminal's benchmark and its screenshots."""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from client import Client, PlaceOrder, PrivateKey, Side, TimeInForce
from localnet.devchain import DevChain
from localnet.market_maker import MakerConfig, MarketMaker


def taker_flow(url: str, key: PrivateKey, stop: threading.Event, seed: int = 7) -> None:
    """IOC orders against the maker, now and then sweeping a few levels, so candles have shape."""
    rng = random.Random(seed)
    with Client(url, timeout_s=3.0) as client:
        markets = client.markets()
        while not stop.is_set():
            market = rng.choice(markets)
            side = rng.choice((Side.BUY, Side.SELL))
            reference = int(market["reference_price"])
            price = reference * (103 if side == Side.BUY else 97) // 100
            price -= price % int(market["tick_size"])
            step = int(market["step_size"])
            notional = rng.choice((300, 600, 1_500, 4_000)) * 1_000_000
            size = max(notional * 10 ** int(market["size_decimals"]) // reference // step * step,
                       int(market["min_order_size"]))
            try:
                client.place(key, PlaceOrder(0, int(market["market_id"]), side, price, size, TimeInForce.IOC),
                             wait=False)
            except Exception:  # a rejected IOC (reduce, margin) changes nothing here
                pass
            stop.wait(rng.uniform(0.15, 0.6))


@dataclass(frozen=True)
class TradedChain:
    chain: DevChain
    trader_key: PrivateKey  # funded, trading nothing yet: the terminal's user
    maker: MarketMaker


@contextmanager
def traded_chain(folder: Path, maker_config: MakerConfig, block_time_ms: int) -> Iterator[TradedChain]:
    """A chain of three funded keys (maker, taker, trader) in `folder`, the maker quoting and the
    taker trading on threads until the block ends."""
    with DevChain(folder, accounts=3, usdc_each=1_000_000, block_time_ms=block_time_ms) as chain:
        maker_key, taker_key, trader_key = chain.keys
        stop = threading.Event()
        maker_client = Client(chain.rpc_url, timeout_s=3.0)
        maker = MarketMaker(maker_client, maker_key, maker_config, emit=lambda line: None)
        threads = [threading.Thread(target=maker.run, args=(stop,), daemon=True),
                   threading.Thread(target=taker_flow, args=(chain.rpc_url, taker_key, stop), daemon=True)]
        for thread in threads:
            thread.start()
        try:
            yield TradedChain(chain, trader_key, maker)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=20)
            maker_client.close()
