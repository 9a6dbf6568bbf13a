"""oracle's keeper: oracle prices and the validator set under `oracle/`."""

from __future__ import annotations

import struct
from typing import Iterator

from modules.encoding import read_uint, stored_uint, u64
from modules.oracle.keys import ENABLE_HEIGHT, STORE_PREFIX, VALIDATOR, price_key, validator_key
from modules.oracle.params import STALE_AFTER_BLOCKS
from modules.oracle.types import OraclePrice, Validator
from modules.store import KVStore, PrefixStore, prefix_end

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
        raw = self._store.get(price_key(market_id))
        found = None
        if raw is not None:
            price, height = _PRICE.unpack(raw)
            found = OraclePrice(market_id, price, height)
        self._prices[market_id] = found
        return found

    def set_price(self, price: OraclePrice) -> None:
        self._store.set(price_key(price.market_id), _PRICE.pack(price.price, price.updated_height))
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
            yield Validator(key[len(VALIDATOR):], raw[:32], read_uint(raw[32:]))

    def set_validator(self, validator: Validator) -> None:
        self._store.set(validator_key(validator.address), validator.pub_key + u64(validator.power))

    def remove_validator(self, address: bytes) -> None:
        """Out of CometBFT's set (a validator update of power 0)."""
        self._store.delete(validator_key(address))

    def vote_extensions_enable_height(self) -> int:
        if self._enable_height is None:
            self._enable_height = stored_uint(self._store.get(ENABLE_HEIGHT))
        return self._enable_height

    def set_vote_extensions_enable_height(self, height: int) -> None:
        self._store.set(ENABLE_HEIGHT, u64(height))
        self._enable_height = height
