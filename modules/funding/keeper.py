"""funding's keeper under `funding/`: index, the hour's premium samples, history, the pool."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from modules.store import KVStore, PrefixStore, prefix_end

STORE_PREFIX = b"funding/"
STATE = b"s/"  # s/<market u32> -> index i128, premium sum i64, samples u32, hour u64
HISTORY = b"h/"  # h/<market u32><hour u64> -> rate ppm i64, index i128
POOL = b"pool"  # i128 micro-USDC: payments received minus paid (>= 0 once all settle)
_STATE = struct.Struct(">16sqIQ")
_HISTORY = struct.Struct(">q16s")


@dataclass(frozen=True)
class FundingState:
    index: int = 0
    premium_sum_ppm: int = 0
    samples: int = 0
    hour: int = 0  # the hour (block time // 1 h) the samples belong to; 0: not started


@dataclass(frozen=True)
class FundingRate:
    hour: int
    rate_ppm: int
    index: int


class FundingKeeper:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    def state(self, market_id: int) -> FundingState:
        raw = self._store.get(STATE + market_id.to_bytes(4, "big"))
        if raw is None:
            return FundingState()
        index, premium, samples, hour = _STATE.unpack(raw)
        return FundingState(int.from_bytes(index, "big", signed=True), premium, samples, hour)

    def set_state(self, market_id: int, state: FundingState) -> None:
        self._store.set(STATE + market_id.to_bytes(4, "big"), _STATE.pack(
            state.index.to_bytes(16, "big", signed=True), state.premium_sum_ppm, state.samples, state.hour))

    def index(self, market_id: int) -> int:
        return self.state(market_id).index

    def record_rate(self, market_id: int, rate: FundingRate, keep: int) -> None:
        prefix = HISTORY + market_id.to_bytes(4, "big")
        self._store.set(prefix + rate.hour.to_bytes(8, "big"),
                        _HISTORY.pack(rate.rate_ppm, rate.index.to_bytes(16, "big", signed=True)))
        if rate.hour > keep:
            self._store.delete(prefix + (rate.hour - keep).to_bytes(8, "big"))

    def history(self, market_id: int) -> list[FundingRate]:
        prefix = HISTORY + market_id.to_bytes(4, "big")
        out = []
        for key, raw in self._store.iterate(prefix, prefix_end(prefix)):
            rate, index = _HISTORY.unpack(raw)
            out.append(FundingRate(int.from_bytes(key[-8:], "big"), rate, int.from_bytes(index, "big", signed=True)))
        return out

    def pool(self) -> int:
        raw = self._store.get(POOL)
        return int.from_bytes(raw, "big", signed=True) if raw is not None else 0

    def add_to_pool(self, amount_micro_usdc: int) -> None:
        self._store.set(POOL, (self.pool() + amount_micro_usdc).to_bytes(16, "big", signed=True))
