"""Unjail's refusals, in the order the handler checks them (modules/staking/msg_server.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modules.context import BlockContext
from modules.errors import ChainError
from modules.staking.errors import BondTooSmall, JailCooldown, NotJailed, NotValidatorOperator, Tombstoned
from modules.staking.keeper import StakingKeeper
from modules.staking.msg_server import handle_unjail
from modules.staking.params import StakingParams
from modules.staking.types import StakingValidator, Unjail
from tests.memory_store import MemoryStore

OPERATOR = bytes([7]) * 20
JAILED = StakingValidator(bytes([1]) * 20, bytes(32), OPERATOR, 5_000_000, 0, jailed=True, jailed_until_height=50)


def unjail(validator: StakingValidator, height: int, signer: bytes = OPERATOR) -> StakingKeeper:
    staking = StakingKeeper(MemoryStore())
    staking.set_params(StakingParams(power_unit_micro_usdc=1_000_000))
    staking.set_validator(validator)
    handle_unjail(staking, BlockContext("c", height, 0), signer, Unjail())
    return staking


@pytest.mark.parametrize("validator, height, signer, error", [
    (JAILED, 50, bytes(20), NotValidatorOperator),
    (replace(JAILED, tombstoned=True), 50, OPERATOR, Tombstoned),
    (replace(JAILED, jailed=False, jailed_until_height=0), 50, OPERATOR, NotJailed),
    (JAILED, 49, OPERATOR, JailCooldown),
    (replace(JAILED, bond_micro_usdc=999_999), 50, OPERATOR, BondTooSmall),
    (replace(JAILED, tombstoned=True, jailed_until_height=99), 10, OPERATOR, Tombstoned),  # tombstone first
])
def test_unjail_is_refused(validator: StakingValidator, height: int, signer: bytes, error: type[ChainError]) -> None:
    with pytest.raises(error):
        unjail(validator, height, signer)


def test_unjail_at_the_cooldowns_end_clears_the_jail() -> None:
    staking = unjail(JAILED, 50)
    back = staking.validator(JAILED.consensus_address)
    assert back is not None and (back.jailed, back.jailed_until_height, back.power) == (False, 0, 0)  # power: end of block
