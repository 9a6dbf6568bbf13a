"""The wire format: codec round trip, EIP-712 digest against a standard Ethereum library, signatures."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from modules.auth.errors import BadSignature, MalformedTx, UnknownAction
from modules.bank.types import Transfer
from modules.orderbook.actions import CancelTwap, PlaceOrder, PlaceTrailingStop, PlaceTwap, SetPositionTpSl
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from wire import PrivateKey, Tx, decode_signed_tx, encode_body, recover_address, sign_tx, tx_digest
from wire.crypto import _SECP256K1_N
from wire.pb import tx_pb

KEY = PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
TX = Tx("perpchain-test", KEY.address, 1_795_588_198_346, (Transfer(2, SubaccountId(b"\x07" * 20, 9), 5_000_001),))


def test_address_of_a_known_key_matches_ethereum() -> None:
    # The key and address of the eth-account documentation's example.
    assert KEY.address.hex() == "2c7536e3605d9c16a7a3d7b1898e529396a65c23"


def test_signed_tx_decodes_to_the_same_record() -> None:
    decoded = decode_signed_tx(sign_tx(KEY, TX))
    assert decoded.tx == TX
    assert recover_address(decoded.digest, decoded.signature) == KEY.address


def test_advanced_order_actions_decode_to_the_same_records() -> None:
    actions = (PlaceOrder(3, 1, Side.SELL, 65_000_000_000, 300, TimeInForce.GOOD_TIL_BLOCK, 99, 0, True, False, 7, 100),
               PlaceTrailingStop(1, 1, Side.SELL, 100, trail_price=1_000_000_000, max_slippage_bps=50, reduce_only=True),
               PlaceTrailingStop(0, 2, Side.BUY, 10, trail_bps=250),
               SetPositionTpSl(5, 1, 66_000_000_000, 64_000_000_000, 40, 300),
               PlaceTwap(0, 1, Side.BUY, 600, 3, 2, 500, True),
               CancelTwap(0, 1, 12))
    tx = Tx("perpchain-test", KEY.address, 1_795_588_198_347, actions)
    assert decode_signed_tx(sign_tx(KEY, tx)).tx == tx


def test_bridge_claim_and_resume_actions_decode_to_the_same_records() -> None:
    from modules.bridge.types import ClaimDeposit, ResumeDeposits

    claim = ClaimDeposit(7, 123, b"\x0a" * 32, b"\x0b" * 20, b"\x0c" * 20, 3, 2**100)
    tx = Tx("perpchain-test", KEY.address, 1_795_588_198_348, (claim, ResumeDeposits(2)))
    assert decode_signed_tx(sign_tx(KEY, tx)).tx == tx
    assert tx_pb.Action.DESCRIPTOR.fields_by_name["resume_deposits"].number == 31


def test_an_ethereum_wallet_signature_over_the_typed_data_is_accepted() -> None:
    """eth_signTypedData_v4 from a standard library signs exactly our digest."""
    body = encode_body(TX)
    typed = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
            "Tx": [
                {"name": "chainId", "type": "string"},
                {"name": "account", "type": "address"},
                {"name": "nonce", "type": "uint64"},
                {"name": "body", "type": "bytes"},
            ],
        },
        "primaryType": "Tx",
        "domain": {"name": "perpchain", "version": "1"},
        "message": {"chainId": TX.chain_id, "account": "0x" + KEY.address.hex(), "nonce": TX.nonce, "body": body},
    })
    wallet = Account.sign_message(typed, KEY.secret)
    raw = tx_pb.SignedTx(body=body, signature=bytes(wallet.signature)).SerializeToString()
    decoded = decode_signed_tx(raw)
    assert decoded.digest == tx_digest(TX.chain_id, TX.account, TX.nonce, body) == bytes(wallet.message_hash)
    assert recover_address(decoded.digest, decoded.signature) == KEY.address


def test_high_s_twin_of_a_valid_signature_is_rejected() -> None:
    decoded = decode_signed_tx(sign_tx(KEY, TX))
    r, s, v = decoded.signature[:32], int.from_bytes(decoded.signature[32:64], "big"), decoded.signature[64]
    twin = r + (_SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # flips v: 27 <-> 28
    with pytest.raises(BadSignature, match="malleable"):
        recover_address(decoded.digest, twin)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [(b"", "65 bytes"), (b"\x01" * 64 + b"\x1d", "27 or 28"), (b"\x00" * 64 + b"\x1b", "malleable")],
)
def test_malformed_signatures_are_rejected(signature: bytes, reason: str) -> None:
    with pytest.raises(BadSignature, match=reason):
        recover_address(b"\x00" * 32, signature)


def test_signature_over_other_bytes_recovers_another_address() -> None:
    decoded = decode_signed_tx(sign_tx(KEY, TX))
    other = tx_digest(TX.chain_id, TX.account, TX.nonce + 1, encode_body(TX))
    assert recover_address(other, decoded.signature) != KEY.address


def test_garbage_bytes_are_malformed() -> None:
    with pytest.raises(MalformedTx):
        decode_signed_tx(b"\xff\xff\xff not protobuf")


def test_an_action_of_an_unknown_kind_is_refused() -> None:
    body = tx_pb.TxBody(chain_id="c", account=KEY.address, nonce=1)
    unknown = body.actions.add()
    unknown.ParseFromString(b"\xc2\x3e\x00")  # field 1000, an empty message: no kind this chain knows
    raw = tx_pb.SignedTx(body=body.SerializeToString(), signature=b"\x00" * 65).SerializeToString()
    with pytest.raises(UnknownAction, match="action 0"):
        decode_signed_tx(raw)
