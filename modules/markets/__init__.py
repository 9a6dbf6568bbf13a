"""markets: per-market parameters from genesis (tick, step, sizes, margin fractions, fees, status)."""
