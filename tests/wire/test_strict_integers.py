"""The one integer parser (modules/integers.py) and the tx envelope's range check (wire/codec.py):
ASCII digits only, no sign or leading zero, within the field's range; a tx field out of its range is
refused as decoded (FieldOutOfRange), never truncated."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import FieldDescriptor

from modules.auth.errors import FieldOutOfRange, MalformedTx
from modules.bank.types import Transfer
from modules.bridge.types import ClaimDeposit, Withdraw
from modules.integers import (
    I64_MAX,
    U32_MAX,
    U64_MAX,
    IntegerOutOfRange,
    IntegerOverflow,
    MalformedInteger,
    check_range,
    parse_uint,
)
from modules.orderbook.actions import ConditionalKind, PlaceConditional, PlaceOrder, PlaceTwap
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from wire import PrivateKey, Tx, decode_signed_tx, encode_body
from wire.codec import FIELD_RULES
from wire.eip712 import tx_digest
from wire.pb import tx_pb

KEY = PrivateKey.from_hex(f"{101:064x}")
CHAIN_ID = "perpchain-test"
NONCE = 1_800_000_000_123


# -- the parser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("7", 7), ("127", 127), (str(U64_MAX), U64_MAX)])
def test_plain_ascii_digits_parse(text: str, value: int) -> None:
    assert parse_uint(text, "n") == value


@pytest.mark.parametrize("text", ["", "01", "00", "007", "²", "①", "１", "٣", "-1", "+1", "1e3", " 1", "1 ", "1_0",
                                  "0x1", "1.0", "1\n", "١٢٣"])
def test_anything_but_plain_ascii_digits_is_malformed(text: str) -> None:
    with pytest.raises(MalformedInteger) as refused:
        parse_uint(text, "market id")
    assert refused.value.log.startswith("MalformedInteger: market id must be written with the ASCII digits 0-9")


@pytest.mark.parametrize("text", [str(2**64), "99999999999999999999", "1" + "0" * 4_999, "9" * 10_000])
def test_2_to_the_64_or_more_overflows_before_int_sees_a_long_string(text: str) -> None:
    # int() refuses strings over 4,300 digits with a ValueError: reaching it would not raise this
    with pytest.raises(IntegerOverflow) as refused:
        parse_uint(text, "height", 1, I64_MAX)
    assert refused.value.log.startswith(f"IntegerOverflow: height {text[:24]!r}")
    assert f"is over {U64_MAX}" in refused.value.log and len(refused.value.log) < 150


def test_a_field_wider_than_64_bits_overflows_past_its_own_width() -> None:
    assert parse_uint(str(2**256 - 1), "amount", 0, 2**256 - 1) == 2**256 - 1
    with pytest.raises(IntegerOverflow):
        parse_uint(str(2**256), "amount", 0, 2**256 - 1)


@pytest.mark.parametrize(("text", "low", "high"), [("128", 0, 127), ("0", 1, 10), (str(U64_MAX), 0, I64_MAX)])
def test_within_64_bits_but_outside_the_field_is_out_of_range(text: str, low: int, high: int) -> None:
    with pytest.raises(IntegerOutOfRange) as refused:
        parse_uint(text, "subaccount", low, high)
    assert refused.value.log == f"IntegerOutOfRange: subaccount must be from {low} to {high}, got {text}"


def test_check_range_takes_decoded_integers() -> None:
    assert check_range(5, "x", 0, 5) == 5
    with pytest.raises(IntegerOutOfRange, match="x must be from 0 to 5, got -1"):
        check_range(-1, "x", 0, 5)


def test_the_codes_are_distinct_and_in_the_query_space() -> None:
    assert [(e.code, e.codespace) for e in (MalformedInteger, IntegerOverflow, IntegerOutOfRange)] == \
        [(24, "query"), (25, "query"), (26, "query")]


# -- the tx envelope ----------------------------------------------------------------------------


def _raw(action: tx_pb.Action) -> bytes:
    body = tx_pb.TxBody(chain_id=CHAIN_ID, account=KEY.address, nonce=NONCE)
    body.actions.append(action)
    raw_body = body.SerializeToString()
    signature = KEY.sign_digest(tx_digest(CHAIN_ID, KEY.address, NONCE, raw_body))
    return tx_pb.SignedTx(body=raw_body, signature=signature).SerializeToString()


def test_a_subaccount_of_2_to_the_32_is_refused_not_truncated_to_0() -> None:
    action = tx_pb.Action(transfer=tx_pb.Transfer(from_subaccount=2**32, to_account=bytes(20), amount_micro_usdc=1))
    with pytest.raises(FieldOutOfRange) as refused:
        decode_signed_tx(_raw(action))
    assert refused.value.log == ("FieldOutOfRange: action 0 (transfer): from_subaccount must be from 0 to "
                                 f"{U32_MAX}, got {2**32}")
    assert refused.value.code == 13 and refused.value.codespace == "auth"


def test_a_price_of_2_to_the_63_is_a_range_error_naming_the_field() -> None:
    action = tx_pb.Action(place_order=tx_pb.PlaceOrder(market_id=1, side=1, price=2**63, size=10, time_in_force=1))
    with pytest.raises(FieldOutOfRange, match=rf"action 0 \(place_order\): price must be from 0 to {I64_MAX}, "
                                              rf"got {2**63}"):
        decode_signed_tx(_raw(action))


def test_an_enum_outside_its_members_is_out_of_range_even_past_32_bits() -> None:
    # 2^32 + 1 would have arrived as 1 (BUY) in a uint32 field
    action = tx_pb.Action(place_order=tx_pb.PlaceOrder(market_id=1, side=2**32 + 1, price=1, size=1, time_in_force=1))
    with pytest.raises(FieldOutOfRange, match=r"side 4294967297 is not one of 1 \(BUY\), 2 \(SELL\)"):
        decode_signed_tx(_raw(action))


@pytest.mark.parametrize(("amount", "error"), [("01", MalformedTx), ("²", MalformedTx), ("", MalformedTx),
                                               ("-5", MalformedTx), (str(2**256), FieldOutOfRange),
                                               ("9" * 5_000, FieldOutOfRange)])
def test_a_claimed_amount_goes_through_the_one_parser(amount: str, error: type[Exception]) -> None:
    action = tx_pb.Action(claim_deposit=tx_pb.ClaimDeposit(deposit_nonce=1, subaccount=0, amount_micro_usdc=amount))
    with pytest.raises(error, match=r"action 0 \(claim_deposit\): amount_micro_usdc"):
        decode_signed_tx(_raw(action))


def test_every_integer_field_of_every_action_has_a_rule_or_takes_any_64_bit_value() -> None:
    """A new integer field must be placed: in FIELD_RULES, or here as a plain 64-bit value."""
    any_u64 = {"place_order": {"good_til_block", "good_til_time_ms", "client_id"},
               "cancel_order": {"order_id", "client_id"}, "modify_order": {"order_id"},
               "schedule_cancel_all": {"cancel_at_ms"}, "cancel_conditional": {"conditional_id"},
               "cancel_twap": {"twap_id"}, "claim_deposit": {"deposit_nonce", "eth_block"},
               "sign_withdrawal": {"withdrawal_id"}, "set_bridge_key": {"valset_nonce"},
               "sign_valset": {"valset_nonce"}, "sign_anchor": {"anchor_nonce"}, "resume_deposits": {"halt_id"},
               # the members of the messages these carry (SignedAnchor, SignedWithdrawalTerms)
               "report_anchor_equivocation": {"anchor_nonce", "height", "deposit_nonce", "withdrawal_id"},
               "report_withdrawal_equivocation": {"withdrawal_id"}}
    not_integers = (FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BOOL,
                    FieldDescriptor.TYPE_MESSAGE)
    for kind in tx_pb.Action.DESCRIPTOR.oneofs_by_name["kind"].fields:
        message = kind.message_type
        assert message is not None, f"{kind.name}: every action is a message"
        carried = [f.message_type for f in message.fields if f.message_type is not None]
        fields = [*message.fields, *(member for inner in carried for member in inner.fields)]
        integers = {f.name for f in fields if f.type not in not_integers}
        assert all(f.type == FieldDescriptor.TYPE_UINT64 for f in fields if f.name in integers), \
            f"{kind.name}: integer fields are uint64 on the wire, so no value is truncated"
        assert integers == set(FIELD_RULES.get(kind.name, {})) | any_u64.get(kind.name, set()), kind.name


def test_in_range_values_encode_exactly_as_under_the_uint32_declarations() -> None:
    """uint32 -> uint64 changes no byte of an in-range tx: old signatures stay valid."""
    tx = Tx(CHAIN_ID, bytes(range(20)), NONCE, (
        Transfer(3, SubaccountId(bytes([7] * 20), 127), 5_000_000),
        PlaceOrder(127, U32_MAX, Side.SELL, 65_000_000_000, 100, TimeInForce.FOK, 0, 0, False, True, 9, 0),
        PlaceTwap(1, 2, Side.BUY, 1000, 10, U32_MAX, 5000, False),
        PlaceConditional(2, 1, ConditionalKind.TAKE_PROFIT_LIMIT, Side.BUY, 64_000_000_000, 64_100_000_000, 10, True),
        ClaimDeposit(7, 99, bytes(32), bytes(20), bytes([1] * 20), 127, 10**30),
        Withdraw(126, bytes([2] * 20), 77),
    ))
    body = encode_body(tx)
    # written by the encoder when these fields were declared uint32
    assert body.hex() == UINT32_ERA_BODY
    assert decode_signed_tx(_signed_body(body)).tx == tx


def _signed_body(body: bytes) -> bytes:
    signature = KEY.sign_digest(tx_digest(CHAIN_ID, bytes(range(20)), NONCE, body))
    return tx_pb.SignedTx(body=body, signature=signature).SerializeToString()


UINT32_ERA_BODY = (
    "0a0e70657270636861696e2d746573741214000102030405060708090a0b0c0d0e0f1011121318fba0f1c2b13422210a1f0803121407"
    "07070707070707070707070707070707070707187f20c096b102221b1219087f10ffffffff0f1802208094b592f20128643005500158"
    "0922165a1408011002180120e807280a30ffffffff0f388827221c3a1a0802100118042001288080cab5ee013080c2a1e5ee01380a40"
    "012278a20175080710631a20000000000000000000000000000000000000000000000000000000000000000022140000000000000000"
    "0000000000000000000000002a140101010101010101010101010101010101010101307f3a1f31303030303030303030303030303030"
    "303030303030303030303030303030221db2011a087e12140202020202020202020202020202020202020202184d"
)
