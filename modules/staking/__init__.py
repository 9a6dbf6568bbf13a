"""staking: validators' bonds and the power they give, slashing on evidence and downtime,
jailing and unjailing, and the validator updates CometBFT and the bridge follow (docs/staking.md)."""
