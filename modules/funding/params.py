"""funding's fixed rules (docs/funding.md)."""

HOUR_MS = 3_600_000
IMPACT_NOTIONAL_MICRO_USDC = 1_000_000_000  # 1,000 USDC: the size whose average fill price is the impact price
PREMIUM_TO_HOURLY_DIVISOR = 8  # the hourly rate is the hour's average premium / 8 (an 8-hour convergence)
MAX_HOURLY_RATE_PPM = 1_000  # |rate| at most 0.1% per hour
INDEX_SCALE = 1_000_000  # the index counts pico-USDC per lot: micro-USDC x 10^6
HISTORY_KEPT = 48  # hourly rates kept per market for queries
MIN_PREMIUM_CLAMP_PPM = 1_000  # a premium sample is clamped to +-max(this, initial - maintenance margin)
