"""funding's records."""

from __future__ import annotations

from dataclasses import dataclass


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
