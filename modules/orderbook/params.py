"""orderbook's fixed limits (documented in docs/orderbook.md)."""

MAX_OPEN_ORDERS_PER_SUBACCOUNT = 256
MAX_GOOD_TIL_TIME_AHEAD_MS = 90 * 24 * 3600 * 1000  # a good-til-time order may rest 90 days at most
MAX_GOOD_TIL_BLOCKS_AHEAD = 1_000_000
DEAD_MAN_MIN_DELAY_MS = 5_000  # "cancel all at T": T at least 5 s after the block's time
DEAD_MAN_MAX_DELAY_MS = 24 * 3600 * 1000  # ... and at most a day ahead
DEAD_MAN_DAILY_LIMIT = 1_000  # schedules per address per UTC day (block time)
RECENT_TRADES_KEPT = 200  # per market
