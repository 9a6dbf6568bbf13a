"""A seeded random genesis for the simulation: traders, markets, validators and the bridge.

Everything comes from `random.Random(seed)`, so a seed names one genesis exactly.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from app.driver import Genesis
from genesis.markets import market
from modules.types import INSURANCE_FUND
from wire.crypto import PrivateKey, keccak256

GENESIS_TIME_MS = 1_800_000_000_000
ETH_CHAIN_ID = 31337


@dataclass(frozen=True)
class SimValidator:
    pub_key: bytes  # ed25519, as CometBFT hands it to InitChain
    power: int
    operator: PrivateKey  # signs the validator's chain txs (deposit claims, withdrawal signatures)
    eth_key: PrivateKey  # its bridge key

    @property
    def consensus_address(self) -> bytes:
        return hashlib.sha256(self.pub_key).digest()[:20]


@dataclass(frozen=True)
class SimGenesis:
    seed: int
    chain_id: str
    traders: tuple[PrivateKey, ...]
    markets: tuple[dict[str, Any], ...]
    validators: tuple[SimValidator, ...]
    vault: bytes
    anchor_interval_blocks: int
    app_state: dict[str, Any]

    @property
    def supply_micro_usdc(self) -> int:
        return sum(int(b["amount_micro_usdc"]) for b in self.app_state["bank"]["balances"])

    def chain_genesis(self) -> Genesis:
        """What InitChain carries: the app state, the validators, vote extensions from height 1."""
        return Genesis(self.chain_id, self.app_state, tuple((v.pub_key, v.power) for v in self.validators),
                       vote_extensions_from=1)

    @property
    def byzantine(self) -> SimValidator:
        """The validator that sometimes claims forged deposits: the one with the least power,
        which is always under a third of the total."""
        return min(self.validators, key=lambda v: (v.power, v.consensus_address))


def _key(seed: int, name: str) -> PrivateKey:
    return PrivateKey(keccak256(f"perpchain simulation {seed} {name}".encode()))


# Base markets (as on the localnet); the genesis draws margin fractions and caps around them.
_BASES = (
    (1, "BTC-USD", 4, 100_000, 10, 10, 65_000_000_000),
    (2, "ETH-USD", 3, 10_000, 10, 10, 3_200_000_000),
    (3, "SOL-USD", 2, 1_000, 10, 10, 150_000_000),
    (4, "DOGE-USD", 0, 10, 100, 100, 150_000),
)


def random_genesis(seed: int, traders_count: int | None = None, markets_count: int | None = None) -> SimGenesis:
    """`traders_count` and `markets_count` (1 to 4) override the seed's draws of them; every other
    draw stays the seed's."""
    rng = random.Random(seed)
    drawn_traders = rng.randint(6, 14)
    traders = tuple(_key(seed, f"trader {i}") for i in range(traders_count or drawn_traders))
    markets = []
    drawn_markets = rng.randint(2, 4)
    for market_id, ticker, decimals, tick, step, minimum, price in _BASES[: markets_count or drawn_markets]:
        initial_ppm = rng.choice((50_000, 100_000, 200_000))
        cap_lots = rng.choice((200, 2_000, 50_000))  # a small cap makes open-interest limits bite
        markets.append(market(market_id, ticker, decimals, tick, step, minimum, price, cap_lots * step,
                              initial_ppm, initial_ppm * 3 // 5))
    validators = tuple(SimValidator(keccak256(f"sim {seed} validator {i}".encode()), rng.randint(5, 20),
                                    _key(seed, f"operator {i}"), _key(seed, f"eth {i}")) for i in range(4))
    vault = keccak256(f"sim {seed} vault".encode())[:20]
    # Half the traders are thinly funded, so their takers run at high leverage and shocks liquidate them.
    balances = [{"address": f"0x{k.address.hex()}", "subaccount": 0,
                 "amount_micro_usdc": str(rng.randint(200, 3_000) * 1_000_000 if i % 2 else
                                          rng.randint(5_000, 100_000) * 1_000_000)} for i, k in enumerate(traders)]
    balances.append({"address": f"0x{INSURANCE_FUND.address.hex()}", "subaccount": 0,
                     "amount_micro_usdc": str(rng.randint(0, 50_000) * 1_000_000)})
    balances = [b for b in balances if b["amount_micro_usdc"] != "0"]
    anchor_interval = rng.choice((10, 25))
    app_state = {
        "bank": {"balances": balances},
        "markets": {"markets": markets},
        "bridge": {"eth_chain_id": ETH_CHAIN_ID, "vault": f"0x{vault.hex()}", "validators": [
            {"consensus_address": v.consensus_address.hex().upper(), "operator": f"0x{v.operator.address.hex()}",
             "eth_address": f"0x{v.eth_key.address.hex()}", "power": v.power} for v in validators]},
        "anchor": {"interval_blocks": anchor_interval},
    }
    return SimGenesis(seed, f"sim-{seed}", traders, tuple(markets), validators, vault, anchor_interval, app_state)
