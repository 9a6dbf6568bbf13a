"""margin's errors (codes 400-419)."""

from modules.errors import ChainError


class MarginError(ChainError):
    codespace = "margin"


class InsufficientMargin(MarginError):
    """After this order the subaccount's equity would be below its initial margin requirement."""

    code = 400


class OpenInterestCap(MarginError):
    """The fill would take the market's open interest over its cap."""

    code = 401


class InsufficientFreeCollateral(MarginError):
    """A transfer out of a subaccount with positions or orders may move only its free collateral."""

    code = 402
