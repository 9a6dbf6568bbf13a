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


class MalformedEquivocation(StakingError):
    """An equivocation report whose records or signatures are out of shape: a hash not 32 bytes, a
    recipient not 20, an integer out of its vault type, or a signature the vault refuses (not 65
    bytes, v not 27/28, high s, no key recovered)."""

    code = 807


class NotConflicting(StakingError):
    """An equivocation report of two anchors with different nonces, or of one digest twice."""

    code = 808


class DifferentSigners(StakingError):
    """An equivocation report whose two signatures come from two keys."""

    code = 809


class UnknownSigner(StakingError):
    """An equivocation report signed by a key that is not, and never was, a staking validator's
    bridge key (or a chain without a bridge)."""

    code = 810


class AlreadyForfeited(StakingError):
    """An equivocation report of a validator an earlier report already charged: one forfeiture
    per validator."""

    code = 811


class InvalidUnbondAmount(StakingError):
    """An unbond of 0, or of more than the validator's bond."""

    code = 812


class UnbondLeavesDust(StakingError):
    """An unbond that would leave a bond above 0 but below one power unit: unbond all of it, or
    leave at least one unit."""

    code = 813


class TooManyUnbondings(StakingError):
    """An unbond while the validator already has MAX_UNBONDING_ENTRIES entries unbonding."""

    code = 814
