"""Fixed limits of the transaction envelope."""

MAX_TX_BYTES = 32 * 1024
MAX_ACTIONS_PER_TX = 64
# Nonces are millisecond timestamps; the chain keeps each account's most recent ones.
RECENT_NONCES_KEPT = 100
NONCE_PAST_WINDOW_MS = 2 * 24 * 3600 * 1000
NONCE_FUTURE_WINDOW_MS = 1 * 24 * 3600 * 1000
