"""oracle: validators' price observations (through vote extensions) aggregated into each
market's oracle price: stake-weighted median, per-block clamp, staleness."""
