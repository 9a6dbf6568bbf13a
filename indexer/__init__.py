"""The indexer: follows a node through client/ and keeps the chain's history (trades, candles, each
subaccount's fills, orders' lifecycle, funding, liquidations, transfers) in SQL (docs/indexer.md)."""
