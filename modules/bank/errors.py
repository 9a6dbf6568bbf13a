"""bank's errors (codes 100-119)."""

from modules.errors import ChainError


class BankError(ChainError):
    codespace = "bank"


class InsufficientBalance(BankError):
    """The subaccount holds less than the amount to move."""

    code = 100


class InvalidSubaccount(BankError):
    """Subaccount numbers run from 0 to 127."""

    code = 101


class InvalidAmount(BankError):
    """Amounts are positive whole micro-USDC."""

    code = 102


class SelfTransfer(BankError):
    """Sending a subaccount's collateral to itself changes nothing and is refused."""

    code = 103


class InvalidGenesis(BankError):
    """The bank section of the genesis app_state is wrong; the message names the field."""

    code = 104
