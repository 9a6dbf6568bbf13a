"""wire.vault against an independent EIP-712 implementation (eth-account), and signing."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from modules.auth.errors import BadSignature
from wire import vault as digests
from wire.crypto import _HALF_N, PrivateKey, keccak256, recover_address

VAULT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def reference_digest(chain_id: int, primary: str, fields: list[dict[str, str]], message: dict[str, Any]) -> bytes:
    typed = {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary: fields},
        "primaryType": primary,
        "domain": {
            "name": "perpchain-vault",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": "0x" + VAULT.hex(),
        },
        "message": message,
    }
    signable = encode_typed_data(full_message=typed)
    return keccak256(b"\x19" + signable.version + signable.header + signable.body)


@settings(max_examples=50)
@given(
    chain_id=st.integers(1, 2**64),
    withdrawal_id=st.integers(0, 2**64 - 1),
    recipient=st.binary(min_size=20, max_size=20),
    amount=st.integers(0, 2**256 - 1),
)
def test_withdrawal_digest_matches_eth_account(
    chain_id: int, withdrawal_id: int, recipient: bytes, amount: int
) -> None:
    fields = [
        {"name": "id", "type": "uint64"},
        {"name": "recipient", "type": "address"},
        {"name": "amount", "type": "uint256"},
    ]
    message = {"id": withdrawal_id, "recipient": "0x" + recipient.hex(), "amount": amount}
    expected = reference_digest(chain_id, "Withdrawal", fields, message)
    assert digests.withdrawal_digest(chain_id, VAULT, withdrawal_id, recipient, amount) == expected


@settings(max_examples=50)
@given(
    chain_id=st.integers(1, 2**64),
    members=st.lists(st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, 2**256 - 1)), max_size=6),
    nonce=st.integers(0, 2**64 - 1),
)
def test_valset_digest_matches_eth_account(chain_id: int, members: list[tuple[bytes, int]], nonce: int) -> None:
    fields = [
        {"name": "validators", "type": "address[]"},
        {"name": "powers", "type": "uint256[]"},
        {"name": "nonce", "type": "uint64"},
    ]
    validators = [address for address, _ in members]
    powers = [power for _, power in members]
    message = {"validators": ["0x" + a.hex() for a in validators], "powers": powers, "nonce": nonce}
    expected = reference_digest(chain_id, "Valset", fields, message)
    assert digests.valset_digest(chain_id, VAULT, validators, powers, nonce) == expected


def test_type_strings_are_the_documented_ones() -> None:
    assert digests.WITHDRAWAL_TYPE == "Withdrawal(uint64 id,address recipient,uint256 amount)"
    assert digests.VALSET_TYPE == "Valset(address[] validators,uint256[] powers,uint64 nonce)"


@pytest.mark.parametrize(
    "call",
    [
        lambda: digests.withdrawal_digest(1, VAULT, 2**64, VAULT, 1),  # id over uint64
        lambda: digests.withdrawal_digest(1, VAULT, 1, VAULT, -1),  # negative amount
        lambda: digests.withdrawal_digest(1, VAULT[:19], 1, VAULT, 1),  # short address
        lambda: digests.valset_digest(1, VAULT, [VAULT], [1, 2], 1),  # lengths differ
    ],
)
def test_out_of_range_inputs_are_refused(call: Callable[[], bytes]) -> None:
    with pytest.raises(ValueError):
        call()


def test_signatures_are_low_s_with_v_27_or_28_and_recover_the_signer() -> None:
    digest = digests.withdrawal_digest(31337, VAULT, 1, VAULT, 5)
    for i in range(20):
        key = PrivateKey(keccak256(b"k%d" % i))
        r, s, v = digests.split_signature(digests.sign(key, digest))
        assert v in (27, 28) and 0 < int.from_bytes(s, "big") <= _HALF_N
        assert recover_address(digest, r + s + bytes([v])) == key.address


def test_sign_quorum_and_order_signatures_sort_by_signer_address() -> None:
    keys = [PrivateKey(keccak256(b"v%d" % i)) for i in range(5)]
    digest = digests.valset_digest(31337, VAULT, [VAULT], [1], 1)
    ordered = digests.sign_quorum(keys, digest)
    signers = [recover_address(digest, r + s + bytes([v])) for r, s, v in ordered]
    assert signers == sorted(key.address for key in keys)
    shuffled = [digests.sign(key, digest) for key in reversed(keys)]
    assert digests.order_signatures(digest, shuffled) == ordered


def test_order_signatures_refuses_a_signer_twice_and_a_malformed_signature() -> None:
    key = PrivateKey(keccak256(b"v"))
    digest = keccak256(b"d")
    with pytest.raises(ValueError, match="two signatures"):
        digests.order_signatures(digest, [digests.sign(key, digest)] * 2)
    with pytest.raises(BadSignature):
        digests.order_signatures(digest, [digests.sign(key, digest)[:64] + b"\x00"])
