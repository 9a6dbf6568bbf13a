"""Transactions between their records (what code builds and reads) and their bytes (what is signed)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Union

from google.protobuf.message import DecodeError

from modules.anchor.types import SignAnchor
from modules.auth.errors import FieldOutOfRange, MalformedTx, UnknownAction
from modules.bank.types import Transfer
from modules.bridge.types import ClaimDeposit, ResumeDeposits, SetBridgeKey, SignValset, SignWithdrawal, Withdraw
from modules.integers import I64_MAX, U32_MAX, IntegerError, MalformedInteger, check_range, parse_uint
from modules.orderbook.actions import (
    CancelAll,
    CancelConditional,
    CancelOrder,
    CancelTwap,
    ConditionalKind,
    ModifyOrder,
    PlaceConditional,
    PlaceOrder,
    PlaceTrailingStop,
    PlaceTwap,
    ScheduleCancelAll,
    SetPositionTpSl,
)
from modules.orderbook.types import SIDE_BY_VALUE, TIME_IN_FORCE_BY_VALUE, Side, TimeInForce
from modules.staking.types import (
    ReportAnchorEquivocation,
    ReportWithdrawalEquivocation,
    SignedAnchor,
    SignedWithdrawalTerms,
    Unbond,
    Unjail,
)
from modules.types import ADDRESS_BYTES, SubaccountId
from wire.crypto import PrivateKey, keccak256
from wire.eip712 import tx_digest
from wire.pb import tx_pb

Action = Union[Transfer, PlaceOrder, CancelOrder, CancelAll, ModifyOrder, ScheduleCancelAll, PlaceConditional,
               CancelConditional, PlaceTrailingStop, SetPositionTpSl, PlaceTwap, CancelTwap, ClaimDeposit,
               SignWithdrawal, Withdraw, SetBridgeKey, SignValset, SignAnchor, ResumeDeposits, Unjail, Unbond,
               ReportAnchorEquivocation, ReportWithdrawalEquivocation]


@dataclass(frozen=True)
class Tx:
    """A transaction before signing: who acts, under which nonce, doing what."""

    chain_id: str
    account: bytes
    nonce: int
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class DecodedTx:
    """A SignedTx taken apart: the body as a record plus what the signature check needs (the
    body's bytes as signed, the signature)."""

    tx: Tx
    body: bytes
    signature: bytes

    @property
    def digest(self) -> bytes:
        """The EIP-712 digest the signature covers; computed when a signature is recovered, which
        may be in another process (app/sigverify.py), not at every decode."""
        return tx_digest(self.tx.chain_id, self.tx.account, self.tx.nonce, self.body)


def _signed_anchor_to_pb(side: SignedAnchor) -> tx_pb.SignedAnchor:
    return tx_pb.SignedAnchor(
        anchor_nonce=side.anchor_nonce, chain_id=side.chain_id, height=side.height, app_hash=side.app_hash,
        balances_root=side.balances_root, total_claimable_micro_usdc=str(side.total_claimable_micro_usdc),
        deposit_nonce=side.deposit_nonce, withdrawal_id=side.withdrawal_id,
        withdrawn_total_micro_usdc=str(side.withdrawn_total_micro_usdc), bond_debits_hash=side.bond_debits_hash,
        signature=side.signature)


def _withdrawal_terms_to_pb(side: SignedWithdrawalTerms) -> tx_pb.SignedWithdrawalTerms:
    return tx_pb.SignedWithdrawalTerms(recipient=side.recipient, amount_micro_usdc=str(side.amount_micro_usdc),
                                       signature=side.signature)


def _action_to_pb(action: Action) -> tx_pb.Action:
    if isinstance(action, Transfer):
        return tx_pb.Action(
            transfer=tx_pb.Transfer(
                from_subaccount=action.from_subaccount,
                to_account=action.to.address,
                to_subaccount=action.to.number,
                amount_micro_usdc=action.amount_micro_usdc,
            )
        )
    if isinstance(action, PlaceOrder):
        return tx_pb.Action(place_order=tx_pb.PlaceOrder(
            subaccount=action.subaccount, market_id=action.market_id, side=int(action.side), price=action.price,
            size=action.size, time_in_force=int(action.time_in_force), good_til_block=action.good_til_block,
            good_til_time_ms=action.good_til_time_ms, post_only=action.post_only, reduce_only=action.reduce_only,
            client_id=action.client_id, display_size=action.display_size))
    if isinstance(action, CancelOrder):
        return tx_pb.Action(cancel_order=tx_pb.CancelOrder(
            subaccount=action.subaccount, market_id=action.market_id, order_id=action.order_id,
            client_id=action.client_id))
    if isinstance(action, CancelAll):
        return tx_pb.Action(cancel_all=tx_pb.CancelAll(subaccount=action.subaccount, market_id=action.market_id))
    if isinstance(action, ModifyOrder):
        return tx_pb.Action(modify_order=tx_pb.ModifyOrder(
            subaccount=action.subaccount, market_id=action.market_id, order_id=action.order_id,
            new_price=action.new_price, new_size=action.new_size))
    if isinstance(action, ScheduleCancelAll):
        return tx_pb.Action(schedule_cancel_all=tx_pb.ScheduleCancelAll(cancel_at_ms=action.cancel_at_ms))
    if isinstance(action, PlaceConditional):
        return tx_pb.Action(place_conditional=tx_pb.PlaceConditional(
            subaccount=action.subaccount, market_id=action.market_id, kind=int(action.kind), side=int(action.side),
            trigger_price=action.trigger_price, limit_price=action.limit_price, size=action.size,
            reduce_only=action.reduce_only))
    if isinstance(action, CancelConditional):
        return tx_pb.Action(cancel_conditional=tx_pb.CancelConditional(
            subaccount=action.subaccount, market_id=action.market_id, conditional_id=action.conditional_id))
    if isinstance(action, PlaceTrailingStop):
        return tx_pb.Action(place_trailing_stop=tx_pb.PlaceTrailingStop(
            subaccount=action.subaccount, market_id=action.market_id, side=int(action.side), size=action.size,
            trail_price=action.trail_price, trail_bps=action.trail_bps, max_slippage_bps=action.max_slippage_bps,
            reduce_only=action.reduce_only))
    if isinstance(action, SetPositionTpSl):
        return tx_pb.Action(set_position_tpsl=tx_pb.SetPositionTpSl(
            subaccount=action.subaccount, market_id=action.market_id, take_profit_price=action.take_profit_price,
            stop_loss_price=action.stop_loss_price, size=action.size, max_slippage_bps=action.max_slippage_bps))
    if isinstance(action, PlaceTwap):
        return tx_pb.Action(place_twap=tx_pb.PlaceTwap(
            subaccount=action.subaccount, market_id=action.market_id, side=int(action.side), size=action.size,
            slices=action.slices, interval_blocks=action.interval_blocks, max_slippage_bps=action.max_slippage_bps,
            reduce_only=action.reduce_only))
    if isinstance(action, CancelTwap):
        return tx_pb.Action(cancel_twap=tx_pb.CancelTwap(subaccount=action.subaccount, market_id=action.market_id,
                                                         twap_id=action.twap_id))
    if isinstance(action, ClaimDeposit):
        return tx_pb.Action(claim_deposit=tx_pb.ClaimDeposit(
            deposit_nonce=action.deposit_nonce, eth_block=action.eth_block, eth_tx_hash=action.eth_tx_hash,
            sender=action.sender, recipient=action.recipient, subaccount=action.subaccount,
            amount_micro_usdc=str(action.amount_micro_usdc)))
    if isinstance(action, SignWithdrawal):
        return tx_pb.Action(sign_withdrawal=tx_pb.SignWithdrawal(withdrawal_id=action.withdrawal_id,
                                                                 signature=action.signature))
    if isinstance(action, Withdraw):
        return tx_pb.Action(withdraw=tx_pb.Withdraw(subaccount=action.subaccount, eth_recipient=action.eth_recipient,
                                                    amount_micro_usdc=action.amount_micro_usdc))
    if isinstance(action, SetBridgeKey):
        return tx_pb.Action(set_bridge_key=tx_pb.SetBridgeKey(eth_address=action.eth_address, proof=action.proof,
                                                              valset_nonce=action.valset_nonce,
                                                              approval=action.approval))
    if isinstance(action, SignValset):
        return tx_pb.Action(sign_valset=tx_pb.SignValset(valset_nonce=action.valset_nonce, signature=action.signature))
    if isinstance(action, SignAnchor):
        return tx_pb.Action(sign_anchor=tx_pb.SignAnchor(anchor_nonce=action.anchor_nonce, signature=action.signature))
    if isinstance(action, ResumeDeposits):
        return tx_pb.Action(resume_deposits=tx_pb.ResumeDeposits(halt_id=action.halt_id))
    if isinstance(action, Unjail):
        return tx_pb.Action(unjail=tx_pb.Unjail())
    if isinstance(action, Unbond):
        return tx_pb.Action(unbond=tx_pb.Unbond(amount_micro_usdc=action.amount_micro_usdc))
    if isinstance(action, ReportAnchorEquivocation):
        return tx_pb.Action(report_anchor_equivocation=tx_pb.ReportAnchorEquivocation(
            a=_signed_anchor_to_pb(action.a), b=_signed_anchor_to_pb(action.b)))
    if isinstance(action, ReportWithdrawalEquivocation):
        return tx_pb.Action(report_withdrawal_equivocation=tx_pb.ReportWithdrawalEquivocation(
            withdrawal_id=action.withdrawal_id, a=_withdrawal_terms_to_pb(action.a),
            b=_withdrawal_terms_to_pb(action.b)))
    raise TypeError(f"not an action: {action!r}")


U32 = (0, U32_MAX)  # subaccounts, market ids, bps, counts: 32 bits, as before on the wire
AMOUNT = (0, I64_MAX)  # prices, sizes, amounts: what a signed 64-bit reader can hold
Rule = Union[tuple[int, int], type[IntEnum]]
# Each action's integer fields and the envelope's rule for them: a range (what the field's type can
# hold) or an enum (one of its members). A value outside is refused (FieldOutOfRange) before any
# module runs; inside, the modules' own rules still apply (a subaccount of 128 gets
# InvalidSubaccount, a size of 0 SizeOffStep). The uint64 fields not listed (ids, nonces, times,
# blocks) take any 64-bit value.
FIELD_RULES: dict[str, dict[str, Rule]] = {
    "transfer": {"from_subaccount": U32, "to_subaccount": U32, "amount_micro_usdc": AMOUNT},
    "place_order": {"subaccount": U32, "market_id": U32, "side": Side, "price": AMOUNT, "size": AMOUNT,
                    "time_in_force": TimeInForce, "display_size": AMOUNT},
    "cancel_order": {"subaccount": U32, "market_id": U32},
    "cancel_all": {"subaccount": U32, "market_id": U32},
    "modify_order": {"subaccount": U32, "market_id": U32, "new_price": AMOUNT, "new_size": AMOUNT},
    "place_conditional": {"subaccount": U32, "market_id": U32, "kind": ConditionalKind, "side": Side,
                          "trigger_price": AMOUNT, "limit_price": AMOUNT, "size": AMOUNT},
    "cancel_conditional": {"subaccount": U32, "market_id": U32},
    "place_trailing_stop": {"subaccount": U32, "market_id": U32, "side": Side, "size": AMOUNT, "trail_price": AMOUNT,
                            "trail_bps": U32, "max_slippage_bps": U32},
    "set_position_tpsl": {"subaccount": U32, "market_id": U32, "take_profit_price": AMOUNT,
                          "stop_loss_price": AMOUNT, "size": AMOUNT, "max_slippage_bps": U32},
    "place_twap": {"subaccount": U32, "market_id": U32, "side": Side, "size": AMOUNT, "slices": U32,
                   "interval_blocks": U32, "max_slippage_bps": U32},
    "cancel_twap": {"subaccount": U32, "market_id": U32},
    "claim_deposit": {"subaccount": U32},
    "withdraw": {"subaccount": U32, "amount_micro_usdc": AMOUNT},
    "unbond": {"amount_micro_usdc": AMOUNT},
}
UINT256_MAX = 2**256 - 1  # the vault's uint256
# The decimal string fields that carry a vault uint256, by (message, field).
UINT256_STRINGS = {("ClaimDeposit", "amount_micro_usdc"), ("SignedAnchor", "total_claimable_micro_usdc"),
                   ("SignedAnchor", "withdrawn_total_micro_usdc"), ("SignedWithdrawalTerms", "amount_micro_usdc")}


# FIELD_RULES as each check reads it, in the same order: per action kind, (field, the values a
# field may take, its rule): a range as a `range`, an enum as its members' values. Built once, not
# per decoded action.
_ALLOWED: dict[str, tuple[tuple[str, range | frozenset[int], Rule], ...]] = {
    kind: tuple((field, range(rule[0], rule[1] + 1) if isinstance(rule, tuple)
                 else frozenset(member.value for member in rule), rule) for field, rule in rules.items())
    for kind, rules in FIELD_RULES.items()}


def _check_fields(index: int, kind: str, message: Any) -> None:
    """FieldOutOfRange naming the action, the field, the value and the rule, for the first integer
    field of `message` that breaks its rule in FIELD_RULES."""
    for field, allowed, rule in _ALLOWED.get(kind, ()):
        value = getattr(message, field)
        if value in allowed:
            continue
        if isinstance(rule, tuple):
            try:
                check_range(value, field, *rule)  # the one wording of a range refused
            except IntegerError as error:
                raise FieldOutOfRange(f"action {index} ({kind}): {error.message}") from None
        else:
            members = ", ".join(f"{member.value} ({member.name})" for member in rule)
            raise FieldOutOfRange(f"action {index} ({kind}): {field} {value} is not one of {members}")


def _uint256(index: int, kind: str, name: str, text: str) -> int:
    """A decimal vault uint256 (UINT256_STRINGS) through the one parser: malformed text is a
    MalformedTx, a value over the vault's uint256 a FieldOutOfRange."""
    try:
        return parse_uint(text, name, 0, UINT256_MAX)
    except MalformedInteger as error:
        raise MalformedTx(f"action {index} ({kind}): {error.message}") from None
    except IntegerError as error:
        raise FieldOutOfRange(f"action {index} ({kind}): {error.message}") from None


def _signed_anchor(index: int, side: tx_pb.SignedAnchor) -> SignedAnchor:
    kind = "report_anchor_equivocation"
    return SignedAnchor(side.anchor_nonce, side.chain_id, side.height, side.app_hash, side.balances_root,
                        _uint256(index, kind, "total_claimable_micro_usdc", side.total_claimable_micro_usdc),
                        side.deposit_nonce, side.withdrawal_id,
                        _uint256(index, kind, "withdrawn_total_micro_usdc", side.withdrawn_total_micro_usdc),
                        side.bond_debits_hash, side.signature)


def _withdrawal_terms(index: int, side: tx_pb.SignedWithdrawalTerms) -> SignedWithdrawalTerms:
    return SignedWithdrawalTerms(side.recipient, _uint256(index, "report_withdrawal_equivocation",
                                                          "amount_micro_usdc", side.amount_micro_usdc),
                                 side.signature)


def _action_from_pb(index: int, message: tx_pb.Action) -> Action:
    kind = message.WhichOneof("kind")
    if kind is not None:
        _check_fields(index, kind, getattr(message, kind))
    if kind == "transfer":
        transfer = message.transfer
        if len(transfer.to_account) != ADDRESS_BYTES:
            raise MalformedTx(f"action {index}: to_account must be {ADDRESS_BYTES} bytes")
        return Transfer(
            from_subaccount=transfer.from_subaccount,
            to=SubaccountId(transfer.to_account, transfer.to_subaccount),
            amount_micro_usdc=transfer.amount_micro_usdc,
        )
    if kind == "place_order":  # _check_fields has found its side and time in force to be members
        place = message.place_order
        return PlaceOrder(place.subaccount, place.market_id, SIDE_BY_VALUE[place.side], place.price, place.size,
                          TIME_IN_FORCE_BY_VALUE[place.time_in_force], place.good_til_block, place.good_til_time_ms,
                          place.post_only, place.reduce_only, place.client_id, place.display_size)
    if kind == "cancel_order":
        cancel = message.cancel_order
        return CancelOrder(cancel.subaccount, cancel.market_id, cancel.order_id, cancel.client_id)
    if kind == "cancel_all":
        return CancelAll(message.cancel_all.subaccount, message.cancel_all.market_id)
    if kind == "modify_order":
        modify = message.modify_order
        return ModifyOrder(modify.subaccount, modify.market_id, modify.order_id, modify.new_price, modify.new_size)
    if kind == "schedule_cancel_all":
        return ScheduleCancelAll(message.schedule_cancel_all.cancel_at_ms)
    if kind == "place_conditional":
        conditional = message.place_conditional
        return PlaceConditional(conditional.subaccount, conditional.market_id, ConditionalKind(conditional.kind),
                                Side(conditional.side), conditional.trigger_price, conditional.limit_price,
                                conditional.size, conditional.reduce_only)
    if kind == "cancel_conditional":
        conditional_cancel = message.cancel_conditional
        return CancelConditional(conditional_cancel.subaccount, conditional_cancel.market_id,
                                 conditional_cancel.conditional_id)
    if kind == "place_trailing_stop":
        t = message.place_trailing_stop
        return PlaceTrailingStop(t.subaccount, t.market_id, Side(t.side), t.size, t.trail_price, t.trail_bps,
                                 t.max_slippage_bps, t.reduce_only)
    if kind == "set_position_tpsl":
        p = message.set_position_tpsl
        return SetPositionTpSl(p.subaccount, p.market_id, p.take_profit_price, p.stop_loss_price, p.size,
                               p.max_slippage_bps)
    if kind == "place_twap":
        twap = message.place_twap
        return PlaceTwap(twap.subaccount, twap.market_id, Side(twap.side), twap.size, twap.slices, twap.interval_blocks,
                         twap.max_slippage_bps, twap.reduce_only)
    if kind == "cancel_twap":
        twap_cancel = message.cancel_twap
        return CancelTwap(twap_cancel.subaccount, twap_cancel.market_id, twap_cancel.twap_id)
    if kind == "claim_deposit":
        claim = message.claim_deposit
        return ClaimDeposit(claim.deposit_nonce, claim.eth_block, claim.eth_tx_hash, claim.sender, claim.recipient,
                            claim.subaccount, _uint256(index, kind, "amount_micro_usdc", claim.amount_micro_usdc))
    if kind == "sign_withdrawal":
        return SignWithdrawal(message.sign_withdrawal.withdrawal_id, message.sign_withdrawal.signature)
    if kind == "withdraw":
        withdrawal = message.withdraw
        return Withdraw(withdrawal.subaccount, withdrawal.eth_recipient, withdrawal.amount_micro_usdc)
    if kind == "set_bridge_key":
        k = message.set_bridge_key
        return SetBridgeKey(k.eth_address, k.proof, k.valset_nonce, k.approval)
    if kind == "sign_valset":
        return SignValset(message.sign_valset.valset_nonce, message.sign_valset.signature)
    if kind == "sign_anchor":
        return SignAnchor(message.sign_anchor.anchor_nonce, message.sign_anchor.signature)
    if kind == "resume_deposits":
        return ResumeDeposits(message.resume_deposits.halt_id)
    if kind == "unjail":
        return Unjail()
    if kind == "unbond":
        return Unbond(message.unbond.amount_micro_usdc)
    if kind == "report_anchor_equivocation":
        anchors = message.report_anchor_equivocation
        return ReportAnchorEquivocation(_signed_anchor(index, anchors.a), _signed_anchor(index, anchors.b))
    if kind == "report_withdrawal_equivocation":
        withdrawals = message.report_withdrawal_equivocation
        return ReportWithdrawalEquivocation(withdrawals.withdrawal_id, _withdrawal_terms(index, withdrawals.a),
                                            _withdrawal_terms(index, withdrawals.b))
    raise UnknownAction(f"action {index} is of a kind this chain does not know")


def encode_body(tx: Tx) -> bytes:
    body = tx_pb.TxBody(chain_id=tx.chain_id, account=tx.account, nonce=tx.nonce)
    body.actions.extend(_action_to_pb(action) for action in tx.actions)
    return body.SerializeToString(deterministic=True)


def sign_tx(key: PrivateKey, tx: Tx) -> bytes:
    """The bytes to broadcast: SignedTx{body, signature over the body's EIP-712 digest}."""
    body = encode_body(tx)
    signature = key.sign_digest(tx_digest(tx.chain_id, tx.account, tx.nonce, body))
    return tx_pb.SignedTx(body=body, signature=signature).SerializeToString()


def tx_hash(raw: bytes) -> bytes:
    """The identity CometBFT gives a tx is sha256; ours for caching is keccak of the raw bytes."""
    return keccak256(raw)


def decode_signed_tx(raw: bytes) -> DecodedTx:
    """Decode without verifying the signature (the caller decides when to pay for recovery)."""
    try:
        signed = tx_pb.SignedTx.FromString(raw)
        body = tx_pb.TxBody.FromString(signed.body)
    except (DecodeError, RuntimeError) as exc:
        raise MalformedTx(f"bytes are not a perpchain SignedTx ({exc})") from None
    if not signed.body:
        raise MalformedTx("the tx has no body")
    if len(body.account) != ADDRESS_BYTES:
        raise MalformedTx(f"account must be {ADDRESS_BYTES} bytes, got {len(body.account)}")
    actions = tuple(_action_from_pb(i, action) for i, action in enumerate(body.actions))
    tx = Tx(chain_id=body.chain_id, account=body.account, nonce=body.nonce, actions=actions)
    return DecodedTx(tx=tx, body=signed.body, signature=signed.signature)
