"""orderbook's errors (codes 300-319; advanced orders 320-349)."""

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


class TwapZeroSlices(OrderbookError):
    """A TWAP needs at least one slice."""

    code = 320


class InvalidTwap(OrderbookError):
    """A TWAP's interval or slice count is out of range, or its slices would be under one step."""

    code = 321


class IcebergDisplayOffStep(OrderbookError):
    """An iceberg's display size is not a positive multiple of the market's step size."""

    code = 322


class IcebergDisplayAboveTotal(OrderbookError):
    """An iceberg's display size is larger than the order's size."""

    code = 323


class IcebergNotAllowed(OrderbookError):
    """Icebergs rest: not IOC, FOK or reduce-only; and they are cancelled and placed again, not modified."""

    code = 324


class InvalidTrail(OrderbookError):
    """A trailing stop needs exactly one distance: a price on the tick, or 1..5000 basis points."""

    code = 325


class NoPositionToProtect(OrderbookError):
    """A position take-profit or stop-loss needs an open position in that market."""

    code = 326


class InvalidSlippage(OrderbookError):
    """The slippage bound of a triggered or TWAP order must be 1..5000 basis points."""

    code = 327


class TpSlPriceMissing(OrderbookError):
    """A position TP/SL needs a take-profit price, a stop-loss price, or both."""

    code = 328


class TooManyTwaps(OrderbookError):
    """The subaccount already has the maximum number of running TWAPs (docs/orders.md)."""

    code = 329


class InvalidOrderbookGenesis(OrderbookError):
    """The orderbook section of genesis is wrong (the log names the field)."""

    code = 330


class PriceOutsideBand(OrderbookError):
    """An order's price is further from the oracle price than the market's price band allows."""

    code = 331


class StorageLimitReached(OrderbookError):
    """The subaccount already stores as many orders, conditionals and TWAPs as its equity tier allows."""

    code = 332
