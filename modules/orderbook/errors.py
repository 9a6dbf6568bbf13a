"""orderbook's errors (codes 300-339)."""

from modules.errors import ChainError


class OrderbookError(ChainError):
    codespace = "orderbook"


class PriceOffTick(OrderbookError):
    """The price is not a positive multiple of the market's tick_size."""

    code = 300


class SizeOffStep(OrderbookError):
    """The size is not a positive multiple of the market's step_size."""

    code = 301


class SizeUnderMinimum(OrderbookError):
    """The size is below the market's min_order_size."""

    code = 302


class DuplicateClientId(OrderbookError):
    """The subaccount already has an open order with this client id."""

    code = 303


class OrderNotFound(OrderbookError):
    """No open order with that id (or client id) in that market."""

    code = 304


class NotYourOrder(OrderbookError):
    """The order belongs to another subaccount; only its owner's key can cancel or modify it."""

    code = 305


class PostOnlyWouldCross(OrderbookError):
    """A post-only order would take liquidity; it is refused instead."""

    code = 306


class FillOrKillNotFilled(OrderbookError):
    """A fill-or-kill order could not fill its whole size at its limit price."""

    code = 307


class ReduceOnlyWouldIncrease(OrderbookError):
    """A reduce-only order must be on the side that shrinks an open position."""

    code = 308


class TooManyOpenOrders(OrderbookError):
    """The subaccount has the maximum number of resting orders (docs/orderbook.md)."""

    code = 309


class InvalidOrder(OrderbookError):
    """An order field is malformed: side, time in force, expiry, or a contradictory option."""

    code = 310


class DeadManSwitchRejected(OrderbookError):
    """The cancel-all time is too soon or too far, or the daily number of schedules is used up."""

    code = 311


class InvalidSubaccountNumber(OrderbookError):
    """Subaccount numbers run from 0 to 127."""

    code = 312


class TriggerWrongSide(OrderbookError):
    """A conditional order whose trigger already holds at the current oracle price would fire at once."""

    code = 313
