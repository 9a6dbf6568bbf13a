"""staking's action handlers and block steps: validate, call the keeper, report events.

Actions: Unjail and Unbond (a validator's operator), the two equivocation reports (anyone).
At the start of a block: CometBFT's set moves to what it holds from this height (the updates sent
two blocks ago reach the oracle's copy of it), evidence slashes, jails and tombstones, and the last
commit's votes move each validator's signing window (a validator down for too much of it is
slashed and jailed). At the end: matured unbondings are released to their operators, bonds
credited through the bridge join their validators, and every power that changed goes to CometBFT
as a validator update and to the bridge, which records a new valset for the vault. Every
micro-USDC that leaves a bond goes through release_bond.
"""

from __future__ import annotations

from dataclasses import replace

from modules.anchor.types import AnchorRecord
from modules.bridge.types import BridgeParams
from modules.context import BlockContext, Event
from modules.oracle.types import Validator
from modules.staking.errors import (
    AlreadyForfeited,
    BondTooSmall,
    DifferentSigners,
    InvalidUnbondAmount,
    JailCooldown,
    MalformedEquivocation,
    NotConflicting,
    NotJailed,
    NotValidatorOperator,
    Tombstoned,
    TooManyUnbondings,
    UnbondLeavesDust,
    UnknownSigner,
)
from modules.staking.expected_keepers import Bank, Bridge, ConsensusSet, EquivocationVerifier
from modules.staking.keeper import StakingKeeper
from modules.staking.params import MAX_UNBONDING_ENTRIES, PPM, StakingParams
from modules.staking.rules import allowed_powers, bonded_power, due_power, empty_window, is_down, record_vote, reporter_share, slash_amount
from modules.staking.types import (
    CommitVote,
    Misbehavior,
    MisbehaviorKind,
    ReportAnchorEquivocation,
    ReportWithdrawalEquivocation,
    SignedAnchor,
    SigningWindow,
    StakingValidator,
    Unbond,
    Unjail,
    ValidatorUpdate,
)
from modules.types import INSURANCE_FUND, SubaccountId

UPDATE_DELAY_BLOCKS = 2  # CometBFT applies the updates of FinalizeBlock H from height H + 2


def _hex(raw: bytes) -> str:
    return f"0x{raw.hex()}"


def release_bond(staking: StakingKeeper, bank: Bank, bridge: Bridge, validator: StakingValidator,
                 amount_micro_usdc: int, to: SubaccountId, withheld_micro_usdc: int = 0) -> None:
    """The one way micro-USDC leaves a bond (a slash, an equivocation, an unbonding's release), taken
    from `validator`'s: bond money the vault holds becomes a balance on the chain's ledger (`to`: the
    insurance fund or the operator), which the bridge counts as released bond money, and a debit
    of the validator's bridge key that the next anchor carries to the vault (docs/anchoring.md).
    `withheld_micro_usdc` of it becomes nobody's on the chain: the vault's reporter share of an
    equivocation, which the vault may pay out on Ethereum."""
    if amount_micro_usdc:
        credited = amount_micro_usdc - withheld_micro_usdc
        bank.mint(to, credited)
        bridge.add_bonds_released(credited)
        staking.add_withheld(withheld_micro_usdc)
        member = bridge.validator(validator.consensus_address)
        staking.debit_bond(member.eth_address if member is not None else None, amount_micro_usdc)


def _slash(staking: StakingKeeper, bank: Bank, bridge: Bridge, validator: StakingValidator, slash_ppm: int,
           reason: str, withhold_reporter_share: bool = False) -> tuple[StakingValidator, list[Event]]:
    """Take `slash_ppm` of the bond and of each of its unbonding entries (each rounded up) into the
    insurance fund: money still unbonding answers for every infraction slashed before it is released."""
    from_bond = slash_amount(validator.bond_micro_usdc, slash_ppm)
    from_unbonding = 0
    for entry in staking.unbonding_entries(validator.consensus_address):
        taken = slash_amount(entry.amount_micro_usdc, slash_ppm)
        staking.set_unbonding(replace(entry, amount_micro_usdc=entry.amount_micro_usdc - taken))
        from_unbonding += taken
    amount = from_bond + from_unbonding
    slashed = replace(validator, bond_micro_usdc=validator.bond_micro_usdc - from_bond,
                      slashed_micro_usdc=validator.slashed_micro_usdc + amount)
    withheld = reporter_share(amount) if withhold_reporter_share else 0
    release_bond(staking, bank, bridge, validator, amount, INSURANCE_FUND, withheld)
    staking.add_slashed(amount)
    return slashed, [Event("validator_slashed", (
        ("validator", _hex(validator.consensus_address)), ("reason", reason), ("slashed_micro_usdc", str(amount)),
        ("from_unbonding_micro_usdc", str(from_unbonding)), ("bond_micro_usdc", str(slashed.bond_micro_usdc))))]


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
        if not is_down(count_vote(staking, vote.consensus_address, vote.signed, params), params):
            continue
        validator, slashed = _slash(staking, bank, bridge, validator, params.downtime_slash_ppm, "downtime")
        validator, jailed = _jail(staking, validator, ctx.height + params.jail_cooldown_blocks, "downtime")
        staking.set_validator(validator)
        events += slashed + [jailed]
    return events


def count_vote(staking: StakingKeeper, consensus_address: bytes, signed: bool, params: StakingParams) -> SigningWindow:
    """One more commit in the validator's window (a window of another size starts again): its slot's
    bit changes only where the vote differs from what the slot held, the head always."""
    window = staking.signing_window(consensus_address)
    if window is None or window.size != params.downtime_window_blocks:
        if window is not None:
            staking.clear_signing_window(consensus_address)
        window = empty_window(params)
    slot = window.next_slot
    was_missed = staking.slot_missed(consensus_address, slot)
    staking.set_slot_missed(consensus_address, slot, not signed)
    window = record_vote(window, was_missed, signed)
    staking.set_signing_window(consensus_address, window)
    return window


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


def handle_unbond(staking: StakingKeeper, ctx: BlockContext, signer: bytes, action: Unbond) -> list[Event]:
    """The amount leaves the bond at once (its power follows at the end of the block) into an
    unbonding entry that stays slashable until it is released at ctx.height + unbonding_period_blocks."""
    validator = staking.validator_of_operator(signer)
    if validator is None:
        raise NotValidatorOperator(f"{_hex(signer)} operates no validator; only a validator's operator unbonds")
    address, bond, amount = _hex(validator.consensus_address), validator.bond_micro_usdc, action.amount_micro_usdc
    if not 0 < amount <= bond:
        raise InvalidUnbondAmount(f"validator {address} bonds {bond} micro-USDC; an unbond takes 1 to {bond}, "
                                  f"not {amount}")
    params = staking.params()
    left = bond - amount
    if 0 < left < params.power_unit_micro_usdc:
        raise UnbondLeavesDust(f"unbonding {amount} of {bond} micro-USDC would leave {left}, less than one power "
                               f"unit ({params.power_unit_micro_usdc}): unbond all {bond} or leave at least one unit")
    if len(staking.unbonding_entries(validator.consensus_address)) >= MAX_UNBONDING_ENTRIES:
        raise TooManyUnbondings(f"validator {address} already has {MAX_UNBONDING_ENTRIES} unbondings pending; "
                                f"wait for the first to be released")
    staking.set_validator(replace(validator, bond_micro_usdc=left))
    entry = staking.add_unbonding(validator.consensus_address, amount, ctx.height,
                                  ctx.height + params.unbonding_period_blocks)
    return [Event("unbonding_started", (
        ("validator", address), ("entry_id", str(entry.entry_id)), ("amount_micro_usdc", str(amount)),
        ("bond_micro_usdc", str(left)), ("mature_height", str(entry.mature_height))))]


def release_unbondings(staking: StakingKeeper, bank: Bank, bridge: Bridge, ctx: BlockContext) -> list[Event]:
    """Entries mature at this height or before leave the bond for their operator's subaccount 0, by
    maturity then creation, at most unbonding_releases_per_block of them; the rest carry over to the
    next block (an `unbonding_carried_over` event says so)."""
    budget = staking.params().unbonding_releases_per_block
    due = staking.due_unbondings(ctx.height, budget + 1)
    events: list[Event] = []
    for entry in due[:budget]:
        validator = staking.validator(entry.consensus_address)
        assert validator is not None, f"unbonding entry {entry.entry_id} of no validator"
        release_bond(staking, bank, bridge, validator, entry.amount_micro_usdc, SubaccountId(validator.operator, 0))
        staking.add_unbonded(entry.amount_micro_usdc)
        staking.remove_unbonding(entry)
        events.append(Event("unbonding_released", (
            ("validator", _hex(entry.consensus_address)), ("entry_id", str(entry.entry_id)),
            ("operator", _hex(validator.operator)), ("amount_micro_usdc", str(entry.amount_micro_usdc)),
            ("mature_height", str(entry.mature_height)))))
    if len(due) > budget:
        events.append(Event("unbonding_carried_over", (("released", str(budget)),
                                                       ("next_entry_id", str(due[budget].entry_id)))))
    return events


def _bridge_params(bridge: Bridge) -> BridgeParams:
    params = bridge.params()
    if params is None:
        raise UnknownSigner("this chain has no bridge: no validator has a bridge key")
    return params


def _check_signature(signature: bytes, which: str) -> None:
    if len(signature) != 65:
        raise MalformedEquivocation(f"signature {which} must be 65 bytes (r || s || v), got {len(signature)}")


def _anchor_record(side: SignedAnchor, which: str) -> AnchorRecord:
    """The anchor module's record of the signed members (the stored-only ones are 0: not signed)."""
    for name in ("app_hash", "balances_root", "bond_debits_hash"):
        if len(getattr(side, name)) != 32:
            raise MalformedEquivocation(f"anchor {which}: {name} must be 32 bytes, got {len(getattr(side, name))}")
    _check_signature(side.signature, which)
    return AnchorRecord(side.anchor_nonce, side.chain_id, side.height, side.app_hash, side.balances_root,
                        side.total_claimable_micro_usdc, side.deposit_nonce, side.withdrawal_id,
                        side.withdrawn_total_micro_usdc, side.bond_debits_hash, leaf_count=0, time_ms=0)


def handle_report_anchor_equivocation(staking: StakingKeeper, bank: Bank, bridge: Bridge,
                                      verifier: EquivocationVerifier, ctx: BlockContext, signer: bytes,
                                      action: ReportAnchorEquivocation) -> list[Event]:
    """Two different anchors with one nonce signed by one validator's bridge key: the pair the
    vault's proveAnchorEquivocation forfeits a bond for (see _forfeit)."""
    record_a, record_b = _anchor_record(action.a, "a"), _anchor_record(action.b, "b")
    if record_a.nonce != record_b.nonce:
        raise NotConflicting(f"the anchors have nonces {record_a.nonce} and {record_b.nonce}: no equivocation")
    params = _bridge_params(bridge)
    try:
        digest_a = verifier.anchor_digest(params.eth_chain_id, params.vault, record_a)
        digest_b = verifier.anchor_digest(params.eth_chain_id, params.vault, record_b)
    except ValueError as error:
        raise MalformedEquivocation(f"an anchor member is outside its vault type ({error})") from None
    return _forfeit(staking, bank, bridge, verifier, ctx, signer, (digest_a, action.a.signature),
                    (digest_b, action.b.signature), ("anchor_nonce", str(record_a.nonce)))


def handle_report_withdrawal_equivocation(staking: StakingKeeper, bank: Bank, bridge: Bridge,
                                          verifier: EquivocationVerifier, ctx: BlockContext, signer: bytes,
                                          action: ReportWithdrawalEquivocation) -> list[Event]:
    """Two different (recipient, amount) of one withdrawal id signed by one validator's bridge key:
    the pair the vault's proveWithdrawalEquivocation forfeits a bond for (see _forfeit)."""
    for which, side in (("a", action.a), ("b", action.b)):
        if len(side.recipient) != 20:
            raise MalformedEquivocation(f"withdrawal {which}: the recipient must be 20 bytes, got {len(side.recipient)}")
        _check_signature(side.signature, which)
    params = _bridge_params(bridge)
    try:
        digest_a, digest_b = (verifier.withdrawal_digest(params.eth_chain_id, params.vault, action.withdrawal_id,
                                                         side.recipient, side.amount_micro_usdc)
                              for side in (action.a, action.b))
    except ValueError as error:
        raise MalformedEquivocation(f"a withdrawal member is outside its vault type ({error})") from None
    return _forfeit(staking, bank, bridge, verifier, ctx, signer, (digest_a, action.a.signature),
                    (digest_b, action.b.signature), ("withdrawal_id", str(action.withdrawal_id)))


def _forfeit(staking: StakingKeeper, bank: Bank, bridge: Bridge, verifier: EquivocationVerifier, ctx: BlockContext,
             reporter: bytes, a: tuple[bytes, bytes], b: tuple[bytes, bytes], what: tuple[str, str]) -> list[Event]:
    """Checks in the vault's order (digests differ, both signatures good and by one key), then the
    key's validator loses its whole bond and every unbonding entry into the insurance fund, is
    jailed and tombstoned, and is charged once. No reward on the chain: the vault pays the reporter."""
    (digest_a, signature_a), (digest_b, signature_b) = a, b
    if digest_a == digest_b:
        raise NotConflicting(f"both signatures are over one digest 0x{digest_a.hex()}: no equivocation")
    signer_a, signer_b = verifier.signer(digest_a, signature_a), verifier.signer(digest_b, signature_b)
    if signer_a is None or signer_b is None:
        raise MalformedEquivocation(f"signature {'a' if signer_a is None else 'b'} is one the vault refuses (v not "
                                    f"27/28, high s, or no key recovered)")
    if signer_a != signer_b:
        raise DifferentSigners(f"signature a is by {_hex(signer_a)}, b by {_hex(signer_b)}")
    holder = bridge.eth_key_holder(signer_a)
    validator = staking.validator(holder) if holder is not None else None
    if validator is None:
        raise UnknownSigner(f"{_hex(signer_a)} is not and never was a staking validator's bridge key")
    address = _hex(validator.consensus_address)
    forfeited_at = staking.forfeited_at(validator.consensus_address)
    if forfeited_at is not None:
        raise AlreadyForfeited(f"validator {address} was charged for equivocation at height {forfeited_at}")
    # The vault pays a share of the same bond to whoever proves the pair there; the fund gets the rest.
    validator, slashed = _slash(staking, bank, bridge, validator, PPM, "equivocation", withhold_reporter_share=True)
    validator, jailed = _jail(staking, validator, ctx.height, "equivocation")
    staking.set_validator(replace(validator, tombstoned=True))
    staking.set_forfeited(validator.consensus_address, ctx.height)
    return slashed + [jailed, Event("validator_tombstoned", (("validator", address),
                                                              ("infraction_height", str(ctx.height)))),
                      Event("equivocation_reported", (("validator", address), ("eth_address", _hex(signer_a)),
                                                      what, ("reporter", _hex(reporter))))]
