"""funding's keeper under `funding/`: index, the hour's premium samples, history, the pool."""

from __future__ import annotations

import struct

from modules.encoding import i128, read_i128, read_uint
from modules.funding.keys import POOL, STORE_PREFIX, history_key, history_prefix, state_key
from modules.funding.types import FundingRate, FundingState
from modules.store import KVStore, PrefixStore, prefix_end

_STATE = struct.Struct(">16sqIQ")
_HISTORY = struct.Struct(">q16s")


class FundingKeeper:
    """Each market's funding state is read once per keeper (a margin check reads the index of every
    market a subaccount holds): only the block's funding step writes it, after the txs, and a tx
    never does, so one keeper set serves a block's txs (modules/keepers.py). A write drops the
    keeper's copy rather than keeping the value, so a write into a branch that is then dropped
    is not remembered."""

    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)
        self._states: dict[int, FundingState] = {}

    def state(self, market_id: int) -> FundingState:
        found = self._states.get(market_id)
        if found is None:
            raw = self._store.get(state_key(market_id))
            if raw is None:
                found = FundingState()
            else:
                index, premium, samples, hour = _STATE.unpack(raw)
                found = FundingState(read_i128(index), premium, samples, hour)
            self._states[market_id] = found
        return found

    def set_state(self, market_id: int, state: FundingState) -> None:
        self._store.set(state_key(market_id), _STATE.pack(
            i128(state.index), state.premium_sum_ppm, state.samples, state.hour))
        self._states.pop(market_id, None)

    def index(self, market_id: int) -> int:
        return self.state(market_id).index

    def record_rate(self, market_id: int, rate: FundingRate, keep: int) -> None:
        self._store.set(history_key(market_id, rate.hour), _HISTORY.pack(rate.rate_ppm, i128(rate.index)))
        if rate.hour > keep:
            self._store.delete(history_key(market_id, rate.hour - keep))

    def history(self, market_id: int) -> list[FundingRate]:
        prefix = history_prefix(market_id)
        out = []
        for key, raw in self._store.iterate(prefix, prefix_end(prefix)):
            rate, index = _HISTORY.unpack(raw)
            out.append(FundingRate(read_uint(key[-8:]), rate, read_i128(index)))
        return out

    def pool(self) -> int:
        raw = self._store.get(POOL)
        return read_i128(raw) if raw is not None else 0

    def add_to_pool(self, amount_micro_usdc: int) -> None:
        self._store.set(POOL, i128(self.pool() + amount_micro_usdc))
