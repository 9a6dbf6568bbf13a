"""staking's errors (codes 800-819)."""

from modules.errors import ChainError


class StakingError(ChainError):
    codespace = "staking"


class InvalidStakingGenesis(StakingError):
    """The staking section of the genesis app_state is wrong; the message names the field."""

    code = 800


class NotValidatorOperator(StakingError):
    """Only a validator's operator account may unjail it."""

    code = 801


class NotJailed(StakingError):
    """An unjail of a validator that is not jailed."""

    code = 802


class JailCooldown(StakingError):
    """An unjail before the validator's jail cool-down ends (jailed_until_height)."""

    code = 803


class Tombstoned(StakingError):
    """A validator jailed for double-signing can never be unjailed."""

    code = 804


class BondTooSmall(StakingError):
    """An unjail of a validator whose bond, after slashing, is below one power unit: it would have
    no power; bond more first."""

    code = 805


class UnknownValidator(StakingError):
    """A query of a consensus address that is no validator's."""

    code = 806
