"""The app_state section of genesis.json, validated by the same rules the chain applies."""

from __future__ import annotations

from typing import Any

from genesis.markets import LOCALNET_MARKETS
from modules.genesis import validate_app_state


def build_app_state(funds: list[tuple[str, int, int]], markets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """funds: (0x address, subaccount, micro-USDC); the localnet markets unless others are given.
    Raises the owning module's genesis error naming the bad field."""
    app_state: dict[str, Any] = {
        "bank": {
            "balances": [
                {"address": address.lower(), "subaccount": number, "amount_micro_usdc": str(amount)}
                for address, number, amount in funds
            ]
        },
        "markets": {"markets": LOCALNET_MARKETS if markets is None else markets},
    }
    validate_app_state(app_state)
    return app_state
