"""liquidation: every block, the chain itself closes subaccounts under maintenance margin:
through the book no worse than bankruptcy, then the insurance fund, then auto-deleveraging."""
