"""anchor: the balances commitment the vault's escape hatch pays against (docs/anchoring.md)."""
