"""The app_state section of genesis.json, validated by the same rules the chain applies."""

from __future__ import annotations

from typing import Any

from modules.bank.genesis import validate_genesis


def build_app_state(funds: list[tuple[str, int, int]]) -> dict[str, Any]:
    """funds: (0x address, subaccount, micro-USDC); raises InvalidGenesis naming the bad field."""
    app_state = {
        "bank": {
            "balances": [
                {"address": address.lower(), "subaccount": number, "amount_micro_usdc": str(amount)}
                for address, number, amount in funds
            ]
        }
    }
    validate_genesis(app_state["bank"])
    return app_state
