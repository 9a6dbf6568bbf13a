"""oracle's fixed rules (docs/oracle.md)."""

MAX_CHANGE_PPM_PER_BLOCK = 100_000  # the oracle price moves at most 10% per block
STALE_AFTER_BLOCKS = 20  # no fresh price for this many blocks: the market goes reduce-only
MAX_EXTENSION_BYTES = 4_096
