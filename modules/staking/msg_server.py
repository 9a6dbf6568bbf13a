"""staking's action handler and block steps: validate, call the keeper, report events.

At the start of a block: CometBFT's set moves to what it holds from this height (the updates sent
two blocks ago reach the oracle's copy of it), evidence slashes, jails and tombstones, and the last
commit's votes move each validator's signing window (a validator down for too much of it is
slashed and jailed). At the end: bonds credited through the bridge join their validators, and
every power that changed goes to CometBFT as a validator update and to the bridge, which records
a new valset for the vault.
"""

from __future__ import annotations

from dataclasses import replace

from modules.context import BlockContext, Event
from modules.oracle.types import Validator
from modules.staking.errors import BondTooSmall, JailCooldown, NotJailed, NotValidatorOperator, Tombstoned
from modules.staking.expected_keepers import Bank, Bridge, ConsensusSet
from modules.staking.keeper import StakingKeeper
from modules.staking.rules import allowed_powers, bonded_power, due_power, empty_window, is_down, record_vote, slash_amount
from modules.staking.types import CommitVote, Misbehavior, MisbehaviorKind, StakingValidator, Unjail, ValidatorUpdate
from modules.types import INSURANCE_FUND

UPDATE_DELAY_BLOCKS = 2  # CometBFT applies the updates of FinalizeBlock H from height H + 2


def _hex(raw: bytes) -> str:
    return f"0x{raw.hex()}"


def _slash(staking: StakingKeeper, bank: Bank, bridge: Bridge, validator: StakingValidator, slash_ppm: int,
           reason: str) -> tuple[StakingValidator, list[Event]]:
    """Take `slash_ppm` of the bond into the insurance fund: bond money the vault holds becomes the
    fund's balance on the chain's ledger, which the bridge counts as released bond money, and a
    debit of the validator's bridge key that the next anchor carries to the vault."""
    amount = slash_amount(validator.bond_micro_usdc, slash_ppm)
    slashed = replace(validator, bond_micro_usdc=validator.bond_micro_usdc - amount,
                      slashed_micro_usdc=validator.slashed_micro_usdc + amount)
    if amount:
        bank.mint(INSURANCE_FUND, amount)
        bridge.add_bonds_released(amount)
        staking.add_slashed(amount)
        member = bridge.validator(validator.consensus_address)
        staking.debit_bond(member.eth_address if member is not None else None, amount)
    return slashed, [Event("validator_slashed", (
        ("validator", _hex(validator.consensus_address)), ("reason", reason), ("slashed_micro_usdc", str(amount)),
        ("bond_micro_usdc", str(slashed.bond_micro_usdc))))]


def _jail(staking: StakingKeeper, validator: StakingValidator, until_height: int, reason: str) -> tuple[StakingValidator, Event]:
    """Jailed: its power goes to 0 at the end of the block (allowed_powers permitting); its window
    starts again when it is back."""
    staking.clear_signing_window(validator.consensus_address)
    jailed = replace(validator, jailed=True, jailed_until_height=until_height)
    return jailed, Event("validator_jailed", (("validator", _hex(validator.consensus_address)), ("reason", reason),
                                              ("jailed_until_height", str(until_height))))


def apply_consensus_updates(staking: StakingKeeper, consensus: ConsensusSet, height: int) -> None:
    """The oracle's copy of CometBFT's set becomes the set of this height: ProcessProposal and the
    next block check the extensions and votes of this height against it."""
    for address, power in staking.take_consensus_updates(height):
        validator = staking.validator(address)
        if power == 0 or validator is None:
            consensus.remove_validator(address)
        else:
            consensus.set_validator(Validator(address, validator.pub_key, power))


def handle_evidence(staking: StakingKeeper, bank: Bank, bridge: Bridge, ctx: BlockContext,
                    misbehavior: list[Misbehavior]) -> list[Event]:
    """Double-signing (a duplicate vote or a light-client attack): slashed double_sign_slash_ppm,
    jailed and tombstoned (never unjailed). Evidence against an unknown or tombstoned validator
    changes nothing (one infraction is punished once)."""
    params = staking.params()
    events: list[Event] = []
    for evidence in misbehavior:
        validator = staking.validator(evidence.consensus_address)
        if validator is None or validator.tombstoned:
            continue
        kind = MisbehaviorKind(evidence.kind).name.lower() if evidence.kind in (1, 2) else "unknown"
        validator, slashed = _slash(staking, bank, bridge, validator, params.double_sign_slash_ppm, kind)
        validator, jailed = _jail(staking, validator, ctx.height + params.jail_cooldown_blocks, kind)
        staking.set_validator(replace(validator, tombstoned=True))
        events += slashed + [jailed, Event("validator_tombstoned", (
            ("validator", _hex(validator.consensus_address)), ("infraction_height", str(evidence.height))))]
    return events


def handle_downtime(staking: StakingKeeper, bank: Bank, bridge: Bridge, ctx: BlockContext,
                    votes: list[CommitVote]) -> list[Event]:
    """Each vote of the last commit moves its validator's window (O(validators): one window read
    and written each); a validator that signed fewer than the minimum of a full window is slashed
    downtime_slash_ppm and jailed for jail_cooldown_blocks. Jailed validators are not counted."""
    params = staking.params()
    events: list[Event] = []
    for vote in sorted(votes, key=lambda v: v.consensus_address):
        validator = staking.validator(vote.consensus_address)
        if validator is None or validator.jailed:
            continue
        window = staking.signing_window(vote.consensus_address) or empty_window(params)
        window = record_vote(window, vote.signed, params)
        if not is_down(window, params):
            staking.set_signing_window(vote.consensus_address, window)
            continue
        validator, slashed = _slash(staking, bank, bridge, validator, params.downtime_slash_ppm, "downtime")
        validator, jailed = _jail(staking, validator, ctx.height + params.jail_cooldown_blocks, "downtime")
        staking.set_validator(validator)
        events += slashed + [jailed]
    return events


def handle_unjail(staking: StakingKeeper, ctx: BlockContext, signer: bytes, action: Unjail) -> list[Event]:
    validator = staking.validator_of_operator(signer)
    if validator is None:
        raise NotValidatorOperator(f"{_hex(signer)} operates no validator; only a validator's operator unjails it")
    address = _hex(validator.consensus_address)
    if validator.tombstoned:
        raise Tombstoned(f"validator {address} double-signed and is jailed for good")
    if not validator.jailed:
        raise NotJailed(f"validator {address} is not jailed")
    if ctx.height < validator.jailed_until_height:
        raise JailCooldown(f"validator {address} is jailed until height {validator.jailed_until_height}; "
                           f"this is height {ctx.height}")
    params = staking.params()
    if bonded_power(validator.bond_micro_usdc, params) < 1:
        raise BondTooSmall(f"validator {address} bonds {validator.bond_micro_usdc} micro-USDC, less than one power "
                           f"unit ({params.power_unit_micro_usdc}); bond more first")
    staking.set_validator(replace(validator, jailed=False, jailed_until_height=0))
    return [Event("validator_unjailed", (("validator", address),))]


def join_pending_bonds(staking: StakingKeeper, bridge: Bridge) -> list[Event]:
    """Bonds credited to a validator's bridge key (this block, or before the key was its) join its bond."""
    events: list[Event] = []
    for validator in staking.validators():
        member = bridge.validator(validator.consensus_address)
        pending = staking.pending_bond(member.eth_address) if member is not None else 0
        if member is None or not pending:
            continue
        staking.set_pending_bond(member.eth_address, 0)
        staking.set_validator(replace(validator, bond_micro_usdc=validator.bond_micro_usdc + pending))
        events.append(Event("bond_added", (("validator", _hex(validator.consensus_address)),
                                           ("eth_address", _hex(member.eth_address)),
                                           ("amount_micro_usdc", str(pending)),
                                           ("bond_micro_usdc", str(validator.bond_micro_usdc + pending)))))
    return events


def update_powers(staking: StakingKeeper, bridge: Bridge, ctx: BlockContext) -> tuple[list[ValidatorUpdate], list[Event]]:
    """Every power allowed_powers lets change this block: sent to CometBFT, given to the bridge
    validator (a new valset for the vault when any changed), and scheduled for the oracle's copy
    of CometBFT's set two blocks on."""
    params = staking.params()
    validators = list(staking.validators())
    allowed = allowed_powers([(v.consensus_address, v.power, due_power(v, params)) for v in validators])
    updates: list[ValidatorUpdate] = []
    events: list[Event] = []
    bridge_changed = False
    for validator in validators:
        power = allowed.get(validator.consensus_address)
        if power is None:
            continue
        staking.set_validator(replace(validator, power=power))
        staking.schedule_consensus_update(ctx.height + UPDATE_DELAY_BLOCKS, validator.consensus_address, power)
        updates.append(ValidatorUpdate(validator.pub_key, power))
        member = bridge.validator(validator.consensus_address)
        if member is not None and member.power != power:
            bridge.set_validator(replace(member, power=power))
            bridge_changed = True
        events.append(Event("validator_power", (("validator", _hex(validator.consensus_address)),
                                                ("power", str(power)), ("previous_power", str(validator.power)))))
    if bridge_changed:
        valset = bridge.record_valset(bridge.valset_nonce() + 1)
        events.append(Event("valset_recorded", (("valset_nonce", str(valset.nonce)),
                                                ("total_power", str(valset.total_power)))))
    return updates, events
