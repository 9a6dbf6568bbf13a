"""staking's genesis params (docs/staking.md, `query params`). Shares of a bond are in ppm;
periods are in blocks, so they do not depend on block time."""

from __future__ import annotations

from dataclasses import dataclass

from modules.params import bounded

PPM = 1_000_000
MAX_VALIDATORS = 128  # the set is this small: every per-block loop over validators is bounded by it
REPORTER_SHARE_BPS = 1_000  # Vault.REPORTER_SHARE_BPS: the vault pays this share of a forfeited bond to who proves it there
MAX_UNBONDING_ENTRIES = 7  # per validator: a slash walks them all, so they are few
# CometBFT fails a block whose validator updates take its set past MaxTotalVotingPower ((2^63 - 1) / 8),
# which would halt the chain; no validator's power passes its share of that.
MAX_VALIDATOR_POWER = (2**63 - 1) // 8 // MAX_VALIDATORS


@dataclass(frozen=True)
class StakingParams:
    power_unit_micro_usdc: int = bounded(1_000_000_000, 1, 2**63 - 1)  # bond per unit of voting power
    # Blocks between a bond's unbonding and its release in the vault; longer than the anchor
    # timeout plus the freeze window, so unbonding cannot outrun a fraud proof (docs/staking.md).
    unbonding_period_blocks: int = bounded(1_209_600, 1, 2**63 - 1)
    double_sign_slash_ppm: int = bounded(50_000, 0, PPM)  # 5% of the bond, and tombstoned
    downtime_slash_ppm: int = bounded(100, 0, PPM)  # 0.01% of the bond
    downtime_window_blocks: int = bounded(10_000, 1, 1_000_000)
    downtime_min_signed_ppm: int = bounded(50_000, 0, PPM)  # signed fewer than 5% of the window: jailed
    jail_cooldown_blocks: int = bounded(1_200, 0, 2**63 - 1)
    # Unbonding entries released per block at most (the rest wait for the next block, in order).
    unbonding_releases_per_block: int = bounded(32, 1, 10_000)
