"""oracle's keeper: oracle prices and the validator set under `oracle/`."""

from __future__ import annotations

import struct
from typing import Iterator

from modules.oracle.params import STALE_AFTER_BLOCKS
from modules.oracle.types import OraclePrice, Validator
from modules.store import KVStore, PrefixStore, prefix_end

STORE_PREFIX = b"oracle/"
PRICE = b"p/"  # p/<market u32> -> price u64, updated height u64
VALIDATOR = b"v/"  # v/<address 20> -> pub_key 32, power u64
ENABLE_HEIGHT = b"ve_height"  # vote extensions enabled from this height (0: never)
_PRICE = struct.Struct(">QQ")


class OracleKeeper:
    """Prices change only in the block's oracle step and the enable height only at InitChain,
    each through a keeper of its own, so a keeper remembers what it read (a placement reads a
    market's price several times)."""

    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)
        self._prices: dict[int, OraclePrice | None] = {}
        self._enable_height: int | None = None

    def price(self, market_id: int) -> OraclePrice | None:
        if market_id in self._prices:
            return self._prices[market_id]
        raw = self._store.get(PRICE + market_id.to_bytes(4, "big"))
        found = None
        if raw is not None:
            price, height = _PRICE.unpack(raw)
            found = OraclePrice(market_id, price, height)
        self._prices[market_id] = found
        return found

    def set_price(self, price: OraclePrice) -> None:
        self._store.set(PRICE + price.market_id.to_bytes(4, "big"), _PRICE.pack(price.price, price.updated_height))
        self._prices[price.market_id] = price

    def is_stale(self, market_id: int, height: int) -> bool:
        """Only once oracle prices flow (vote extensions on): no update for STALE_AFTER_BLOCKS."""
        enabled = self.vote_extensions_enable_height()
        if enabled == 0 or height <= enabled + STALE_AFTER_BLOCKS:
            return False
        current = self.price(market_id)
        last = current.updated_height if current is not None else enabled
        return height - last > STALE_AFTER_BLOCKS

    def validators(self) -> Iterator[Validator]:
        for key, raw in self._store.iterate(VALIDATOR, prefix_end(VALIDATOR)):
            yield Validator(key[len(VALIDATOR):], raw[:32], int.from_bytes(raw[32:], "big"))

    def set_validator(self, validator: Validator) -> None:
        self._store.set(VALIDATOR + validator.address, validator.pub_key + validator.power.to_bytes(8, "big"))

    def vote_extensions_enable_height(self) -> int:
        if self._enable_height is None:
            raw = self._store.get(ENABLE_HEIGHT)
            self._enable_height = int.from_bytes(raw, "big") if raw is not None else 0
        return self._enable_height

    def set_vote_extensions_enable_height(self, height: int) -> None:
        self._store.set(ENABLE_HEIGHT, height.to_bytes(8, "big"))
        self._enable_height = height
