"""staking's abci_query answers (docs/staking.md). Integers as decimal strings, addresses 0x-hex.

| path                                   | answer                                                |
| /staking/validators                    | every validator (V below), the params, pending bonds, totals, bond debits |
| /staking/validators/<consensus address> | one validator: V                                     |

V = consensus_address, operator, eth_address (its bridge key; null without a bridge),
bond_micro_usdc, power (in CometBFT's set), jailed, jailed_until_height ("0" if not jailed),
missed_blocks (in the current window), slashed_micro_usdc (total ever), tombstoned,
forfeited_at_height ("0" unless an equivocation report charged it), unbonding (its entries:
entry_id, amount_micro_usdc, created_height, mature_height).
"""

from __future__ import annotations

from typing import Any

from modules.bridge.keeper import BridgeKeeper
from modules.params import params_to_json
from modules.queries import BadQueryArgument, QueryContext
from modules.staking.errors import UnknownValidator
from modules.staking.keeper import StakingKeeper
from modules.staking.types import StakingValidator


def _hex(raw: bytes) -> str:
    return f"0x{raw.hex()}"


def _validator_json(staking: StakingKeeper, bridge: BridgeKeeper, v: StakingValidator) -> dict[str, Any]:
    member = bridge.validator(v.consensus_address)
    window = staking.signing_window(v.consensus_address)
    return {"consensus_address": _hex(v.consensus_address), "operator": _hex(v.operator),
            "eth_address": _hex(member.eth_address) if member is not None else None,
            "bond_micro_usdc": str(v.bond_micro_usdc), "power": str(v.power), "jailed": v.jailed,
            "jailed_until_height": str(v.jailed_until_height if v.jailed else 0),
            "missed_blocks": str(window.missed if window is not None else 0),
            "slashed_micro_usdc": str(v.slashed_micro_usdc), "tombstoned": v.tombstoned,
            "forfeited_at_height": str(staking.forfeited_at(v.consensus_address) or 0),
            "unbonding": [{"entry_id": str(e.entry_id), "amount_micro_usdc": str(e.amount_micro_usdc),
                           "created_height": str(e.created_height), "mature_height": str(e.mature_height)}
                          for e in staking.unbonding_entries(v.consensus_address)]}


def _consensus_address(text: str) -> bytes:
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise BadQueryArgument(f"a consensus address is 40 hex digits (0x optional), got {text[:64]!r}")
    return raw


def staking(q: QueryContext, args: list[str]) -> dict[str, Any]:
    keeper, bridge = StakingKeeper(q.store), BridgeKeeper(q.store)
    if args == ["validators"]:
        return {"validators": [_validator_json(keeper, bridge, v) for v in keeper.validators()],
                "params": params_to_json(keeper.params()),
                "pending_bonds": [{"eth_address": _hex(eth), "amount_micro_usdc": str(amount)}
                                  for eth, amount in keeper.pending_bonds()],
                "slashed_total_micro_usdc": str(keeper.slashed_total()),
                "unbonded_total_micro_usdc": str(keeper.unbonded_total()),
                "withheld_for_reporters_micro_usdc": str(keeper.withheld_total()),
                "bond_debits": [{"eth_address": _hex(eth), "debited_micro_usdc": str(total)}
                                for eth, total in keeper.bond_debits()],
                "bond_debits_unlisted_micro_usdc": str(keeper.bond_debits_unlisted())}
    if len(args) == 2 and args[0] == "validators":
        address = _consensus_address(args[1])
        found = keeper.validator(address)
        if found is None:
            raise UnknownValidator(f"no validator {_hex(address)}")
        return _validator_json(keeper, bridge, found)
    raise q.unknown()
