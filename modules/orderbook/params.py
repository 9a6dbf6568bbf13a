"""orderbook's limits: fixed rules, and the genesis params (docs/orders.md, `query params`).

What a subaccount may keep stored (resting orders, conditionals, TWAPs together) scales with its
equity, in tiers modelled on dYdX's equity tiers: under the first tier's minimum it may store
nothing. Each kind also has its own cap. The per-block budgets bound the work a block does at its
start, whatever is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modules.orderbook.errors import InvalidOrderbookGenesis
from modules.params import bounded, genesis_integer

MAX_GOOD_TIL_TIME_AHEAD_MS = 90 * 24 * 3600 * 1000  # a good-til-time order may rest 90 days at most
MAX_GOOD_TIL_BLOCKS_AHEAD = 1_000_000
DEAD_MAN_MIN_DELAY_MS = 5_000  # "cancel all at T": T at least 5 s after the block's time
DEAD_MAN_MAX_DELAY_MS = 24 * 3600 * 1000  # ... and at most a day ahead
DEAD_MAN_DAILY_LIMIT = 1_000  # schedules per address per UTC day (block time)
RECENT_TRADES_KEPT = 200  # per market
MAX_SLIPPAGE_BPS = 5_000  # the widest slippage bound of an order priced from the oracle (TWAP child, trailing, TP/SL)
MAX_TWAP_SLICES = 1_000
MAX_TWAP_INTERVAL_BLOCKS = 10_000
USDC = 1_000_000  # micro-USDC
MAX_TIERS = 16
MAX_STORED = 4_096
MAX_EQUITY = 10**18 - 1  # micro-USDC: a tier's threshold fits far below 2^63


@dataclass(frozen=True)
class StorageTier:
    """From `min_equity_micro_usdc` of equity, a subaccount may store `max_stored` obligations."""

    min_equity_micro_usdc: int
    max_stored: int


DEFAULT_TIERS = (
    StorageTier(20 * USDC, 4),
    StorageTier(100 * USDC, 16),
    StorageTier(1_000 * USDC, 64),
    StorageTier(10_000 * USDC, 256),
    StorageTier(100_000 * USDC, 512),
)


def _parse_tiers(where: str, value: Any) -> tuple[StorageTier, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TIERS:
        raise InvalidOrderbookGenesis(f"{where} must be a list of 1 to {MAX_TIERS} tiers")
    tiers = []
    for index, entry in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(entry, dict) or sorted(entry) != ["max_stored", "min_equity_micro_usdc"]:
            raise InvalidOrderbookGenesis(f"{here} must be an object with min_equity_micro_usdc and max_stored")
        equity = entry["min_equity_micro_usdc"]
        if not isinstance(equity, str):
            raise InvalidOrderbookGenesis(f"{here}.min_equity_micro_usdc must be a decimal string")
        tiers.append(StorageTier(
            genesis_integer(f"{here}.min_equity_micro_usdc", equity, 0, MAX_EQUITY, InvalidOrderbookGenesis),
            genesis_integer(f"{here}.max_stored", entry["max_stored"], 0, MAX_STORED, InvalidOrderbookGenesis)))
    for before, after in zip(tiers, tiers[1:]):
        if after.min_equity_micro_usdc <= before.min_equity_micro_usdc or after.max_stored < before.max_stored:
            raise InvalidOrderbookGenesis(f"{where} must rise: each tier's equity above the one before, "
                                          "its max_stored not below")
    return tuple(tiers)


def _tiers_to_json(tiers: tuple[StorageTier, ...]) -> list[dict[str, Any]]:
    return [{"min_equity_micro_usdc": str(t.min_equity_micro_usdc), "max_stored": t.max_stored} for t in tiers]


@dataclass(frozen=True)
class OrderbookParams:
    storage_tiers: tuple[StorageTier, ...] = field(
        default=DEFAULT_TIERS, metadata={"parse": _parse_tiers, "to_json": _tiers_to_json})
    max_open_orders: int = bounded(256, 0, MAX_STORED)  # resting orders per subaccount
    max_conditionals: int = bounded(256, 0, MAX_STORED)  # stops, take-profits, trailing stops, TP/SL
    max_twaps: int = bounded(16, 0, 1_024)
    triggers_per_block: int = bounded(128, 1, 100_000)  # conditionals fired at a block's start
    twap_children_per_block: int = bounded(48, 1, 100_000)
    expiries_per_block: int = bounded(1_024, 1, 1_000_000)  # good-til orders expired at a block's start
    dead_man_switches_per_block: int = bounded(512, 1, 10_000)

    def max_stored(self, equity_micro_usdc: int) -> int:
        """What a subaccount with this equity may store in all (0 under the first tier)."""
        allowed = 0
        for tier in self.storage_tiers:
            if equity_micro_usdc >= tier.min_equity_micro_usdc:
                allowed = tier.max_stored
        return allowed
