"""bank: subaccount balances in micro-USDC; the only module that moves collateral."""
