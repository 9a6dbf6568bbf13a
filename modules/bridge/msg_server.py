"""bridge's action handlers: validate, call the keeper, report events.

Deposit tally (docs/bridge.md): each validator claims deposit nonces in order; the claims for the
next nonce to credit are grouped by content hash, and the first content whose claimants hold more
than 2/3 of the bridge power is minted to its recipient, exactly once; then the next nonce is
tallied (its claims may already be in). A conflicting claim is stored and counted for its own
content only, so it changes nothing unless a super-majority agrees with it. While a nonce is
uncredited a validator may claim it again with another content (after its relayer re-read
Ethereum past a reorg): the new claim replaces its old one, so a split tally can still finish.

A claim of a credited nonce with another content is a dispute: evidence that the credited deposit
is not on Ethereum's canonical chain. Disputes from more than 1/3 of the power halt deposits;
operators of more than 2/3 of the power resume them, which credits each disputed nonce with the
content more than 2/3 of the power disputed it with and takes the wrongly minted amount back
(docs/bridge.md, "Deposit halts").
"""

from __future__ import annotations

from modules.bank.errors import InvalidSubaccount
from modules.bridge.errors import (
    AlreadyResumed,
    AlreadySigned,
    BadBridgeKey,
    BadRotationApproval,
    BadValsetSignature,
    BadWithdrawalSignature,
    BridgeDisabled,
    ClaimOutOfOrder,
    DepositAlreadyCredited,
    DepositsHalted,
    InvalidWithdrawal,
    MalformedClaim,
    NotBridgeValidator,
    ResumeNotReady,
    StaleRotationNonce,
    TooManyDisputes,
    UnknownHalt,
    UnknownValset,
    UnknownWithdrawal,
)
from modules.bridge.expected_keepers import Bank, Bonds, SignatureVerifier
from modules.bridge.keeper import BridgeKeeper, supermajority
from modules.bridge.types import (
    MAX_AMOUNT_MICRO_USDC,
    BridgeParams,
    BridgeValidator,
    ClaimDeposit,
    DepositHalt,
    ResumeDeposits,
    SetBridgeKey,
    SignValset,
    SignWithdrawal,
    Withdraw,
)
from modules.context import BlockContext, Event
from modules.types import BOND_SUBACCOUNT, MAX_SUBACCOUNT, SubaccountId

ZERO_ADDRESS = bytes(20)
# Credited deposits one validator may dispute at once: bounds what a halt check reads (a deep
# reorg changes a few recent deposits, not hundreds).
MAX_OPEN_DISPUTES = 64


def _hex(raw: bytes) -> str:
    return f"0x{raw.hex()}"


def _params(bridge: BridgeKeeper) -> BridgeParams:
    params = bridge.params()
    if params is None:
        raise BridgeDisabled("this chain's genesis configured no bridge")
    return params


def _operator(bridge: BridgeKeeper, signer: bytes, what: str) -> BridgeValidator:
    _params(bridge)
    validator = bridge.validator_of_operator(signer)
    if validator is None:
        raise NotBridgeValidator(f"{_hex(signer)} operates no validator; only validator operators {what}")
    return validator


def validate_claim(claim: ClaimDeposit) -> None:
    if claim.deposit_nonce < 1:
        raise MalformedClaim("deposit_nonce starts at 1")
    if len(claim.eth_tx_hash) != 32:
        raise MalformedClaim(f"eth_tx_hash must be 32 bytes, got {len(claim.eth_tx_hash)}")
    if len(claim.sender) != 20 or len(claim.recipient) != 20:
        raise MalformedClaim("sender and recipient must be 20-byte addresses")
    if claim.recipient == ZERO_ADDRESS:
        raise MalformedClaim("the recipient is the zero address, which the vault refuses")
    if not (0 <= claim.subaccount <= MAX_SUBACCOUNT or claim.subaccount == BOND_SUBACCOUNT):
        raise MalformedClaim(f"subaccount {claim.subaccount} is outside 0..{MAX_SUBACCOUNT} (or {BOND_SUBACCOUNT}, "
                             f"a bond)")
    if not 0 < claim.amount_micro_usdc <= MAX_AMOUNT_MICRO_USDC:
        raise MalformedClaim(f"amount must be 1..{MAX_AMOUNT_MICRO_USDC} micro-USDC, got {claim.amount_micro_usdc}")


def handle_claim(bridge: BridgeKeeper, bank: Bank, bonds: Bonds, ctx: BlockContext, signer: bytes,
                 claim: ClaimDeposit) -> list[Event]:
    validator = _operator(bridge, signer, "claim deposits")
    validate_claim(claim)
    next_nonce = bridge.next_deposit_nonce()
    if claim.deposit_nonce < next_nonce:
        return _claim_of_credited(bridge, ctx, validator, claim, next_nonce)
    halt = bridge.deposit_halt()
    if halt is not None:
        raise DepositsHalted(f"deposits are halted (halt {halt.halt_id}: credited deposit {halt.nonce} is disputed); "
                             f"deposit {claim.deposit_nonce} waits until operators resume them")
    address = validator.consensus_address
    last = bridge.last_claim(address)
    expected = max(last, next_nonce - 1) + 1
    if claim.deposit_nonce <= last:
        return _reclaim(bridge, bank, bonds, ctx, validator, claim, expected)
    if claim.deposit_nonce != expected:
        raise ClaimOutOfOrder(f"validator {address.hex().upper()} must claim deposit {expected} next, not "
                              f"{claim.deposit_nonce}")
    content_hash = bridge.record_claim(address, claim)
    events = [Event("deposit_claim", (
        ("nonce", str(claim.deposit_nonce)), ("validator", address.hex().upper()),
        ("content_hash", content_hash.hex())))]
    return events + tally_deposits(bridge, bank, bonds, ctx)


def _reclaim(bridge: BridgeKeeper, bank: Bank, bonds: Bonds, ctx: BlockContext, validator: BridgeValidator,
             claim: ClaimDeposit, expected: int) -> list[Event]:
    """A claim of an uncredited nonce the validator claimed before: with another content it
    replaces the earlier claim (its relayer re-read Ethereum after a reorg), so claims split
    between two contents can still reach a super-majority; the same content again is refused."""
    address = validator.consensus_address
    previous = bridge.claim_of(claim.deposit_nonce, address)
    content_hash = claim.content_hash()
    if previous is None or previous == content_hash:
        raise ClaimOutOfOrder(f"validator {address.hex().upper()} claimed deposit {claim.deposit_nonce} with this "
                              f"content before; it must claim deposit {expected} next (or claim "
                              f"{claim.deposit_nonce} again only with another content)")
    bridge.replace_claim(address, claim)
    bridge.drop_content_if_unused(claim.deposit_nonce, previous)
    events = [Event("deposit_reclaim", (
        ("nonce", str(claim.deposit_nonce)), ("validator", address.hex().upper()),
        ("previous_content_hash", previous.hex()), ("content_hash", content_hash.hex())))]
    return events + tally_deposits(bridge, bank, bonds, ctx)


def _claim_of_credited(bridge: BridgeKeeper, ctx: BlockContext, validator: BridgeValidator, claim: ClaimDeposit,
                       next_nonce: int) -> list[Event]:
    """A claim of a nonce already credited. With the credited content: accepted, changing nothing
    (and withdrawing this validator's dispute of it, if any). A lagging validator's batch meets
    this whenever its first claim completes a quorum and the tally credits on past it; refusing
    the batch would refuse it on every retry, and those deposits would never be credited.

    With another content it is a dispute: the validator now reads that nonce differently on
    Ethereum, so the credited deposit may not be on the canonical chain (a reorg deeper than the
    confirmations). It is recorded (replacing the validator's earlier dispute of the nonce),
    credits nothing, and halts deposits once validators holding more than 1/3 of the power
    dispute the nonce. The same dispute twice is refused."""
    address, nonce = validator.consensus_address, claim.deposit_nonce
    credited = bridge.credited(nonce)
    assert credited is not None
    content_hash, previous = claim.content_hash(), bridge.dispute(nonce, address)
    if content_hash == credited[0]:
        events = [Event("deposit_claim_late", (("nonce", str(nonce)), ("validator", address.hex().upper())))]
        if previous is not None:
            bridge.delete_dispute(nonce, address)
            bridge.drop_content_if_unused(nonce, previous)
            events.append(Event("deposit_dispute_withdrawn", (("nonce", str(nonce)),
                                                              ("validator", address.hex().upper()))))
        return events
    if previous == content_hash:
        raise DepositAlreadyCredited(f"deposit {nonce} is credited with another content and validator "
                                     f"{address.hex().upper()} disputes it with this one already; the next to claim "
                                     f"is {next_nonce}")
    if previous is None and bridge.open_disputes(address) >= MAX_OPEN_DISPUTES:
        raise TooManyDisputes(f"validator {address.hex().upper()} disputes {MAX_OPEN_DISPUTES} credited deposits "
                              f"already, the most at once")
    bridge.set_dispute(address, claim)
    if previous is not None:
        bridge.drop_content_if_unused(nonce, previous)
    total, power = bridge.total_power(), dispute_power(bridge, nonce)
    events = [Event("deposit_disputed", (
        ("nonce", str(nonce)), ("validator", address.hex().upper()), ("content_hash", content_hash.hex()),
        ("credited_content_hash", credited[0].hex()), ("dispute_power", str(power)), ("total_power", str(total))))]
    if bridge.deposit_halt() is None and over_one_third(power, total):  # only this nonce's disputes changed
        events.append(_halt(bridge, ctx, nonce, power, total))
    return events


def _power_by_content(bridge: BridgeKeeper, claims: list[tuple[bytes, bytes]]) -> dict[bytes, int]:
    power_by_content: dict[bytes, int] = {}
    for consensus_address, content_hash in claims:
        validator = bridge.validator(consensus_address)
        power_by_content[content_hash] = power_by_content.get(content_hash, 0) + (validator.power if validator else 0)
    return power_by_content


def dispute_power(bridge: BridgeKeeper, nonce: int) -> int:
    """Power of the validators disputing credited deposit `nonce` (whatever content they read)."""
    return sum(_power_by_content(bridge, bridge.disputes(nonce)).values())


def canonical_content(bridge: BridgeKeeper, nonce: int) -> bytes | None:
    """The content more than 2/3 of the power dispute credited deposit `nonce` with, if any: what
    a resume credits in its place."""
    return _winner(_power_by_content(bridge, bridge.disputes(nonce)), bridge.total_power())


def _winner(power_by_content: dict[bytes, int], total: int) -> bytes | None:
    """The content whose claimants hold more than 2/3 of the power (lowest hash first: at most one can)."""
    return next((h for h, p in sorted(power_by_content.items()) if supermajority(p, total)), None)


def over_one_third(power: int, total_power: int) -> bool:
    """More than 1/3 of the total (`power * 3 > total`): more than a byzantine minority can hold,
    so at least one honest validator is among them."""
    return total_power > 0 and power * 3 > total_power


def _halt(bridge: BridgeKeeper, ctx: BlockContext, nonce: int, power: int, total: int) -> Event:
    halt = bridge.halt_deposits(nonce, ctx.height)
    return Event("deposits_halted", (("halt_id", str(halt.halt_id)), ("nonce", str(nonce)),
                                     ("dispute_power", str(power)), ("total_power", str(total))))


def halt_if_disputed(bridge: BridgeKeeper, ctx: BlockContext) -> list[Event]:
    """After a resume: halt again at the lowest credited nonce still disputed by more than 1/3 of
    the power. The disputes read are bounded: at most MAX_OPEN_DISPUTES per validator."""
    total = bridge.total_power()
    for nonce in bridge.disputed_nonces():
        power = dispute_power(bridge, nonce)
        if over_one_third(power, total):
            return [_halt(bridge, ctx, nonce, power, total)]
    return []


def tally_deposits(bridge: BridgeKeeper, bank: Bank, bonds: Bonds, ctx: BlockContext) -> list[Event]:
    """Credit every next nonce whose claims reach a super-majority on one content: a deposit to
    the bank, a bond (subaccount BOND_SUBACCOUNT, from Vault.bond) to the staking module."""
    events: list[Event] = []
    total = bridge.total_power()
    while True:
        nonce = bridge.next_deposit_nonce()
        power_by_content = _power_by_content(bridge, bridge.claims(nonce))
        winner = _winner(power_by_content, total)
        if winner is None:
            return events
        claim = bridge.claim_content(nonce, winner)
        assert claim is not None
        if claim.subaccount == BOND_SUBACCOUNT:
            bonds.credit_bond(claim.recipient, claim.amount_micro_usdc)
        else:
            bank.mint(claim.credited_to, claim.amount_micro_usdc)
        bridge.set_credited(nonce, winner, ctx.height)
        bridge.set_next_deposit_nonce(nonce + 1)
        events.append(Event("deposit_credited", (
            ("nonce", str(nonce)), ("recipient", _hex(claim.recipient)), ("subaccount", str(claim.subaccount)),
            ("amount_micro_usdc", str(claim.amount_micro_usdc)), ("eth_tx_hash", _hex(claim.eth_tx_hash)),
            ("sender", _hex(claim.sender)), ("power", str(power_by_content[winner])))))


def resume_ready(bridge: BridgeKeeper, halt: DepositHalt) -> bool:
    """A resume can take effect: the halted nonce's canonical content is attested by more than 2/3
    of the power, or its disputes fell to 1/3 or less (withdrawn: the credit stands)."""
    return (canonical_content(bridge, halt.nonce) is not None
            or not over_one_third(dispute_power(bridge, halt.nonce), bridge.total_power()))


def handle_resume_deposits(bridge: BridgeKeeper, bank: Bank, bonds: Bonds, ctx: BlockContext, signer: bytes,
                           action: ResumeDeposits) -> list[Event]:
    """An operator's resume of the current halt; the one that brings the operators who sent it
    over 2/3 of the power applies it (apply_resume)."""
    validator = _operator(bridge, signer, "resume deposits")
    halt = bridge.deposit_halt()
    if halt is None or halt.halt_id != action.halt_id:
        current = f"the current halt is {halt.halt_id}" if halt is not None else "deposits are not halted"
        raise UnknownHalt(f"no halt {action.halt_id} to resume: {current}")
    address = validator.consensus_address
    votes = bridge.resume_votes(halt.halt_id)
    if address in votes:
        raise AlreadyResumed(f"validator {address.hex().upper()} sent its resume of halt {halt.halt_id} before")
    total = bridge.total_power()
    if not resume_ready(bridge, halt):
        raise ResumeNotReady(f"deposit {halt.nonce} is disputed by {dispute_power(bridge, halt.nonce)} of {total} "
                             f"power but no content is claimed by more than 2/3 yet; wait for the relayers")
    bridge.add_resume_vote(halt.halt_id, address, ctx.height)
    after = resume_power(bridge, halt.halt_id)
    events = [Event("deposit_resume_sent", (
        ("halt_id", str(halt.halt_id)), ("validator", address.hex().upper()), ("resume_power", str(after)),
        ("total_power", str(total))))]
    if supermajority(after, total):
        events += apply_resume(bridge, bank, bonds, ctx, halt)
    return events


def resume_power(bridge: BridgeKeeper, halt_id: int) -> int:
    """Power of the validators whose operators sent a resume of `halt_id`."""
    voted = set(bridge.resume_votes(halt_id))
    return sum(v.power for v in bridge.validators() if v.consensus_address in voted)


def apply_resume(bridge: BridgeKeeper, bank: Bank, bonds: Bonds, ctx: BlockContext, halt: DepositHalt) -> list[Event]:
    """Credit every disputed nonce with the content more than 2/3 of the power disputed it with:
    the disputes become those validators' claims, the credit record names the new content, and
    the money moves once per subaccount, netted over every corrected nonce (so a deposit that only
    moved to another nonce or block takes nothing back): a net gain is minted, a net loss is
    debited as far as the subaccount's balance goes and the rest added to the shortfall. Then the
    halt is lifted, and set again at once if a credited nonce stays disputed by more than 1/3."""
    events: list[Event] = []
    deltas: dict[SubaccountId, int] = {}
    corrected = 0
    for nonce in bridge.disputed_nonces():
        winner, credited = canonical_content(bridge, nonce), bridge.credited(nonce)
        if winner is None or credited is None:
            continue
        old, new = _content(bridge, nonce, credited[0]), _content(bridge, nonce, winner)
        deltas[old.credited_to] = deltas.get(old.credited_to, 0) - old.amount_micro_usdc
        deltas[new.credited_to] = deltas.get(new.credited_to, 0) + new.amount_micro_usdc
        for consensus_address, content_hash in bridge.disputes(nonce):
            bridge.replace_claim(consensus_address, _content(bridge, nonce, content_hash))
            bridge.delete_dispute(nonce, consensus_address)
        bridge.set_credited(nonce, winner, ctx.height)
        bridge.drop_content_if_unused(nonce, credited[0])
        corrected += 1
        events.append(Event("deposit_corrected", (
            ("nonce", str(nonce)), ("halt_id", str(halt.halt_id)), ("previous_recipient", _hex(old.recipient)),
            ("previous_subaccount", str(old.subaccount)), ("previous_amount_micro_usdc", str(old.amount_micro_usdc)),
            ("recipient", _hex(new.recipient)), ("subaccount", str(new.subaccount)),
            ("amount_micro_usdc", str(new.amount_micro_usdc)), ("eth_tx_hash", _hex(new.eth_tx_hash)))))
    debited = shortfall = 0
    for subaccount in sorted(deltas):
        delta = deltas[subaccount]
        if subaccount.number == BOND_SUBACCOUNT:
            events += _correct_bond(bridge, bonds, halt, subaccount.address, delta)
        elif delta > 0:
            bank.mint(subaccount, delta)
        elif delta < 0:
            taken = min(max(bank.balance(subaccount), 0), -delta)
            if taken:
                bank.settle(subaccount, -taken)
            debited += taken
            if taken < -delta:
                shortfall += -delta - taken
                events.append(Event("deposit_shortfall", (
                    ("halt_id", str(halt.halt_id)), ("recipient", _hex(subaccount.address)),
                    ("subaccount", str(subaccount.number)), ("shortfall_micro_usdc", str(-delta - taken)))))
    bridge.add_shortfall(shortfall)
    bridge.record_resumed(halt.halt_id, ctx.height, corrected, debited, shortfall)
    bridge.clear_halt()
    events.append(Event("deposits_resumed", (
        ("halt_id", str(halt.halt_id)), ("nonce", str(halt.nonce)), ("corrected", str(corrected)),
        ("debited_micro_usdc", str(debited)), ("shortfall_micro_usdc", str(shortfall)))))
    return events + halt_if_disputed(bridge, ctx)


def _correct_bond(bridge: BridgeKeeper, bonds: Bonds, halt: DepositHalt, eth_address: bytes,
                  delta: int) -> list[Event]:
    """A resume's net change to the bonds credited to `eth_address`: a gain is credited; a loss is
    taken back from the bond while it is still pending, then from the validator that holds or held
    that key, its bond and its unbonding (the vault never held that money: kept, it would be power,
    slashable money and an unbonding release nothing backs). The event reports what could not be
    taken back (slashed or released already, or no validator ever held the key)."""
    if delta > 0:
        bonds.credit_bond(eth_address, delta)
        return []
    if delta == 0:
        return []
    taken = bonds.take_pending_bond(eth_address, -delta)
    holder = bridge.eth_key_holder(eth_address)
    if taken < -delta and holder is not None:
        taken += bonds.take_joined_bond(holder, -delta - taken)
    if taken == -delta:
        return []
    return [Event("bond_shortfall", (("halt_id", str(halt.halt_id)), ("eth_address", _hex(eth_address)),
                                     ("shortfall_micro_usdc", str(-delta - taken))))]


def powers_changed(bridge: BridgeKeeper, bank: Bank, bonds: Bonds, ctx: BlockContext) -> list[Event]:
    """After validator powers changed (staking): a resume whose operators now hold more than 2/3
    applies, and the next deposits are tallied again, as a claim would have done."""
    events: list[Event] = []
    halt = bridge.deposit_halt()
    if halt is not None and supermajority(resume_power(bridge, halt.halt_id), bridge.total_power()):
        events += apply_resume(bridge, bank, bonds, ctx, halt)
    if bridge.deposit_halt() is None:
        events += tally_deposits(bridge, bank, bonds, ctx)
    return events


def _content(bridge: BridgeKeeper, nonce: int, content_hash: bytes) -> ClaimDeposit:
    claim = bridge.claim_content(nonce, content_hash)
    assert claim is not None
    return claim


def handle_withdraw(bridge: BridgeKeeper, bank: Bank, ctx: BlockContext, signer: bytes, action: Withdraw) -> list[Event]:
    """Debit, then queue. The router checks afterwards that the subaccount keeps its margin."""
    _params(bridge)
    if not 0 <= action.subaccount <= MAX_SUBACCOUNT:
        raise InvalidSubaccount(f"subaccount {action.subaccount} is outside 0..{MAX_SUBACCOUNT}")
    if len(action.eth_recipient) != 20 or action.eth_recipient == ZERO_ADDRESS:
        raise InvalidWithdrawal("the Ethereum recipient must be a non-zero 20-byte address")
    if action.amount_micro_usdc <= 0:
        raise InvalidWithdrawal(f"amount must be positive, got {action.amount_micro_usdc}")
    owner = SubaccountId(signer, action.subaccount)
    bank.settle(owner, -action.amount_micro_usdc)  # InsufficientBalance beyond the balance
    withdrawal = bridge.queue_withdrawal(owner, action.eth_recipient, action.amount_micro_usdc, ctx.height)
    return [Event("withdrawal_queued", (
        ("withdrawal_id", str(withdrawal.withdrawal_id)), ("owner", _hex(signer)), ("subaccount", str(owner.number)),
        ("recipient", _hex(withdrawal.recipient)), ("amount_micro_usdc", str(withdrawal.amount_micro_usdc))))]


def handle_sign_withdrawal(bridge: BridgeKeeper, verifier: SignatureVerifier, signer: bytes,
                           action: SignWithdrawal) -> list[Event]:
    validator = _operator(bridge, signer, "sign withdrawals")
    params = _params(bridge)
    withdrawal = bridge.withdrawal(action.withdrawal_id)
    if withdrawal is None:
        raise UnknownWithdrawal(f"no withdrawal {action.withdrawal_id}; the next id is {bridge.next_withdrawal_id()}")
    if bridge.signer(action.withdrawal_id, validator.consensus_address) == validator.eth_address:
        raise AlreadySigned(f"validator {validator.consensus_address.hex().upper()} signed withdrawal "
                            f"{action.withdrawal_id} before")
    recovered = verifier.withdrawal_signer(params.eth_chain_id, params.vault, withdrawal.withdrawal_id,
                                           withdrawal.recipient, withdrawal.amount_micro_usdc, action.signature)
    if recovered != validator.eth_address:
        raise BadWithdrawalSignature(
            f"the signature recovers to {_hex(recovered) if recovered else 'nothing'}, not the validator's bridge key "
            f"{_hex(validator.eth_address)}")
    total = bridge.total_power()
    before = bridge.signed_power(action.withdrawal_id)
    bridge.add_signature(action.withdrawal_id, validator.consensus_address, action.signature, recovered)
    after = before + validator.power
    events = [Event("withdrawal_signed", (
        ("withdrawal_id", str(action.withdrawal_id)), ("validator", validator.consensus_address.hex().upper()),
        ("signed_power", str(after)), ("total_power", str(total))))]
    if supermajority(after, total) and not supermajority(before, total):
        events.append(Event("withdrawal_ready", (("withdrawal_id", str(action.withdrawal_id)),)))
    return events


def handle_set_bridge_key(bridge: BridgeKeeper, verifier: SignatureVerifier, chain_id: str, signer: bytes,
                          action: SetBridgeKey) -> list[Event]:
    """Rotation changes the set the vault must be handed over to: the new set is recorded under the
    next valset nonce, for the previous set to sign (handle_sign_valset).

    Three keys agree on it: the operator signs the tx, the new key proves it is held (`proof`) and
    the current key approves this very rotation (`approval`, bound to the valset nonce the rotation
    records, so it is good once): a stolen operator key alone cannot swap in another Ethereum key."""
    validator = _operator(bridge, signer, "set bridge keys")
    if len(action.eth_address) != 20 or action.eth_address == ZERO_ADDRESS:
        raise BadBridgeKey("the bridge key must be a non-zero 20-byte Ethereum address")
    holder = bridge.eth_key_holder(action.eth_address)
    if holder is not None and holder != validator.consensus_address:
        raise BadBridgeKey(f"{_hex(action.eth_address)} is or was the bridge key of validator {holder.hex().upper()}")
    if not action.approval:
        raise BadRotationApproval(f"the rotation carries no approval: the validator's current bridge key "
                                  f"{_hex(validator.eth_address)} must sign it (perpchain tx bridge-key "
                                  f"--current-eth-keystore)")
    expected_nonce = bridge.valset_nonce() + 1
    if action.valset_nonce != expected_nonce:
        raise StaleRotationNonce(f"the rotation is approved for valset {action.valset_nonce}, but it would record "
                                 f"valset {expected_nonce}: sign a fresh approval")
    if verifier.bridge_key_signer(chain_id, validator.consensus_address, action.eth_address,
                                  action.proof) != action.eth_address:
        raise BadBridgeKey("the proof is not the new key's signature over the registration digest")
    approver = verifier.rotation_signer(chain_id, validator.consensus_address, validator.eth_address,
                                        action.eth_address, action.valset_nonce, action.approval)
    if approver != validator.eth_address:
        raise BadRotationApproval(
            f"the approval recovers to {_hex(approver) if approver else 'nothing'}, not the validator's current bridge "
            f"key {_hex(validator.eth_address)} over the rotation to {_hex(action.eth_address)} at valset "
            f"{action.valset_nonce}")
    bridge.set_validator(BridgeValidator(validator.consensus_address, validator.operator, action.eth_address,
                                         validator.power))
    valset = bridge.record_valset(bridge.valset_nonce() + 1)
    return [Event("bridge_key_set", (
        ("validator", validator.consensus_address.hex().upper()), ("eth_address", _hex(action.eth_address)),
        ("valset_nonce", str(valset.nonce))))]


def handle_sign_valset(bridge: BridgeKeeper, verifier: SignatureVerifier, signer: bytes,
                       action: SignValset) -> list[Event]:
    """Set n is handed to the vault by the signatures of set n - 1 (the set the vault holds once
    the updates before it landed, which relayers push in nonce order); it is ready on chain when
    more than 2/3 of set n - 1's power signed."""
    validator = _operator(bridge, signer, "sign validator-set updates")
    params = _params(bridge)
    valset = bridge.valset(action.valset_nonce) if action.valset_nonce >= 1 else None
    signing = bridge.valset(action.valset_nonce - 1) if valset is not None else None
    if valset is None or signing is None:
        raise UnknownValset(f"no validator-set update {action.valset_nonce}; the latest is {bridge.valset_nonce()}")
    member = signing.member(validator.consensus_address)
    if member is None:
        raise BadValsetSignature(f"validator {validator.consensus_address.hex().upper()} is not in set "
                                 f"{signing.nonce}, which signs update {valset.nonce}")
    if bridge.valset_signature(valset.nonce, member.consensus_address) is not None:
        raise AlreadySigned(f"validator {member.consensus_address.hex().upper()} signed validator-set update "
                            f"{valset.nonce} before")
    addresses, powers = valset.vault_order()
    recovered = verifier.valset_signer(params.eth_chain_id, params.vault, addresses, powers, valset.nonce,
                                       action.signature)
    if recovered != member.eth_address:
        raise BadValsetSignature(
            f"the signature recovers to {_hex(recovered) if recovered else 'nothing'}, not the validator's key "
            f"{_hex(member.eth_address)} in set {signing.nonce}")
    before = valset_signed_power(bridge, valset.nonce)
    bridge.add_valset_signature(valset.nonce, member.consensus_address, action.signature)
    after, total = before + member.power, signing.total_power
    events = [Event("valset_signed", (
        ("valset_nonce", str(valset.nonce)), ("validator", member.consensus_address.hex().upper()),
        ("signed_power", str(after)), ("total_power", str(total))))]
    if supermajority(after, total) and not supermajority(before, total):
        events.append(Event("valset_ready", (("valset_nonce", str(valset.nonce)),)))
    return events


def valset_signed_power(bridge: BridgeKeeper, nonce: int) -> int:
    """Power, in set `nonce - 1`, of the validators whose signature over set `nonce` is recorded."""
    signing = bridge.valset(nonce - 1)
    if signing is None:
        return 0
    signed = {consensus_address for consensus_address, _ in bridge.valset_signatures(nonce)}
    return sum(m.power for m in signing.members if m.consensus_address in signed)
