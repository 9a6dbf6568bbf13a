"""oracle's records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    """One validator's price for one market, weighted by its voting power."""

    market_id: int
    price: int  # micro-USDC per unit
    power: int


@dataclass(frozen=True)
class OraclePrice:
    market_id: int
    price: int  # micro-USDC per unit, a multiple of the market's tick
    updated_height: int


@dataclass(frozen=True)
class Validator:
    address: bytes  # 20 bytes, CometBFT's: sha256(pub_key)[:20]
    pub_key: bytes  # ed25519
    power: int
