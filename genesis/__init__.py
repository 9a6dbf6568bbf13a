"""Genesis: the app_state every validator starts from, and CometBFT homes that carry it."""
