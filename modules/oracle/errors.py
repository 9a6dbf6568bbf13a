"""oracle's errors (codes 500-519)."""

from modules.errors import ChainError


class OracleError(ChainError):
    codespace = "oracle"


class OracleTxNotAllowed(OracleError):
    """The oracle tx is made by the block proposer from vote extensions; it cannot be sent, and
    in a block it may only come first."""

    code = 500


class MarketStale(OracleError):
    """No fresh oracle price for too many blocks: the market accepts only reduce-only orders."""

    code = 501
