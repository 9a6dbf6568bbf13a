"""bridge's action handlers: validate, call the keeper, report events.

Deposit tally (docs/bridge.md): each validator claims deposit nonces in order; the claims for the
next nonce to credit are grouped by content hash, and the first content whose claimants hold more
than 2/3 of the bridge power is minted to its recipient, exactly once; then the next nonce is
tallied (its claims may already be in). A conflicting claim is stored and counted for its own
content only, so it changes nothing unless a super-majority agrees with it.
"""

from __future__ import annotations

from modules.bank.errors import InvalidSubaccount
from modules.bridge.errors import (
    AlreadySigned, BadBridgeKey, BadRotationApproval, BadValsetSignature, BadWithdrawalSignature, BridgeDisabled,
    ClaimOutOfOrder, DepositAlreadyCredited, InvalidWithdrawal, MalformedClaim, NotBridgeValidator, StaleRotationNonce,
    UnknownValset, UnknownWithdrawal,
)
from modules.bridge.expected_keepers import Bank, SignatureVerifier
from modules.bridge.keeper import BridgeKeeper, supermajority
from modules.bridge.types import (
    MAX_AMOUNT_MICRO_USDC, BridgeParams, BridgeValidator, ClaimDeposit, SetBridgeKey, SignValset, SignWithdrawal,
    Withdraw,
)
from modules.context import BlockContext, Event
from modules.types import MAX_SUBACCOUNT, SubaccountId

ZERO_ADDRESS = bytes(20)


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
    if not 0 <= claim.subaccount <= MAX_SUBACCOUNT:
        raise MalformedClaim(f"subaccount {claim.subaccount} is outside 0..{MAX_SUBACCOUNT}")
    if not 0 < claim.amount_micro_usdc <= MAX_AMOUNT_MICRO_USDC:
        raise MalformedClaim(f"amount must be 1..{MAX_AMOUNT_MICRO_USDC} micro-USDC, got {claim.amount_micro_usdc}")


def handle_claim(bridge: BridgeKeeper, bank: Bank, ctx: BlockContext, signer: bytes, claim: ClaimDeposit) -> list[Event]:
    validator = _operator(bridge, signer, "claim deposits")
    validate_claim(claim)
    next_nonce = bridge.next_deposit_nonce()
    if claim.deposit_nonce < next_nonce:
        return _late_claim(bridge, validator.consensus_address, claim, next_nonce)
    expected = max(bridge.last_claim(validator.consensus_address), next_nonce - 1) + 1
    if claim.deposit_nonce != expected:
        raise ClaimOutOfOrder(f"validator {validator.consensus_address.hex().upper()} must claim deposit {expected} "
                              f"next, not {claim.deposit_nonce}")
    content_hash = bridge.record_claim(validator.consensus_address, claim)
    events = [Event("deposit_claim", (
        ("nonce", str(claim.deposit_nonce)), ("validator", validator.consensus_address.hex().upper()),
        ("content_hash", content_hash.hex())))]
    return events + tally_deposits(bridge, bank, ctx)


def _late_claim(bridge: BridgeKeeper, consensus_address: bytes, claim: ClaimDeposit, next_nonce: int) -> list[Event]:
    """A claim for a nonce already credited, with the credited content: accepted, changing nothing.
    A lagging validator's batch meets this whenever its first claim completes a quorum and the
    tally credits on past it (the later nonces had their quorum already); refusing the batch would
    refuse it on every retry, and those deposits would never be credited. A different content for
    a credited nonce is refused."""
    credited = bridge.credited(claim.deposit_nonce)
    if credited is None or credited[0] != claim.content_hash():
        raise DepositAlreadyCredited(f"deposit {claim.deposit_nonce} is credited with another content; the next to "
                                     f"claim is {next_nonce}")
    return [Event("deposit_claim_late", (("nonce", str(claim.deposit_nonce)),
                                         ("validator", consensus_address.hex().upper())))]


def tally_deposits(bridge: BridgeKeeper, bank: Bank, ctx: BlockContext) -> list[Event]:
    """Credit every next nonce whose claims reach a super-majority on one content."""
    events: list[Event] = []
    total = bridge.total_power()
    while True:
        nonce = bridge.next_deposit_nonce()
        power_by_content: dict[bytes, int] = {}
        for consensus_address, content_hash in bridge.claims(nonce):
            validator = bridge.validator(consensus_address)
            power_by_content[content_hash] = power_by_content.get(content_hash, 0) + (validator.power if validator else 0)
        winner = next((h for h, p in sorted(power_by_content.items()) if supermajority(p, total)), None)
        if winner is None:
            return events
        claim = bridge.claim_content(nonce, winner)
        assert claim is not None
        bank.mint(claim.credited_to, claim.amount_micro_usdc)
        bridge.set_credited(nonce, winner, ctx.height)
        bridge.set_next_deposit_nonce(nonce + 1)
        events.append(Event("deposit_credited", (
            ("nonce", str(nonce)), ("recipient", _hex(claim.recipient)), ("subaccount", str(claim.subaccount)),
            ("amount_micro_usdc", str(claim.amount_micro_usdc)), ("eth_tx_hash", _hex(claim.eth_tx_hash)),
            ("sender", _hex(claim.sender)), ("power", str(power_by_content[winner])))))


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
    holder = bridge.validator_of_eth_key(action.eth_address)
    if holder is not None and holder != validator.consensus_address:
        raise BadBridgeKey(f"{_hex(action.eth_address)} is the bridge key of validator {holder.hex().upper()}")
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
