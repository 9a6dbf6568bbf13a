"""markets' errors (codes 200-219)."""

from modules.errors import ChainError


class MarketsError(ChainError):
    codespace = "markets"


class UnknownMarket(MarketsError):
    """No market has that id; `perpchain query markets` lists them."""

    code = 200


class MarketPaused(MarketsError):
    """The market is paused: no placements or fills until it is active again (cancels still work)."""

    code = 201


class MarketReduceOnly(MarketsError):
    """The market accepts only reduce-only orders."""

    code = 202


class InvalidMarketGenesis(MarketsError):
    """The markets section of the genesis app_state is wrong; the message names the field."""

    code = 203
