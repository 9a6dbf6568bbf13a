"""liquidation's errors (codes 750-769): only genesis ones reach users; liquidation never fails a block."""

from modules.errors import ChainError


class LiquidationError(ChainError):
    codespace = "liquidation"


class InvalidLiquidationGenesis(LiquidationError):
    """The liquidation section of genesis is wrong (the log names the field)."""

    code = 750
