"""Rotating a validator's bridge key needs three keys: the operator's tx, the new key's proof and
the CURRENT bridge key's approval of this very rotation (docs/bridge.md). A stolen operator key
alone cannot swap in another Ethereum key, and an approval is good for one rotation only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.bridge_verify import VERIFIER
from modules.bridge import msg_server
from modules.bridge.errors import BadRotationApproval, StaleRotationNonce
from modules.bridge.queries import valset as valset_query
from modules.bridge.types import SetBridgeKey
from tests.bridge_chain.test_tally import CTX, Net, rotation
from wire.codec import Tx, decode_signed_tx, sign_tx
from wire.crypto import PrivateKey, keccak256
from wire.pb import tx_pb
from wire.vault import bridge_key_rotation_digest

NEW = PrivateKey(keccak256(b"the new bridge key"))
THIEF = PrivateKey(keccak256(b"an attacker's key"))


@pytest.fixture
def net() -> Net:
    return Net()


def _set(net: Net, validator: int, action: SetBridgeKey) -> list[str]:
    events = msg_server.handle_set_bridge_key(net.bridge, VERIFIER, CTX.chain_id, net.operators[validator].address,
                                              action)
    return [e.type for e in events]


def _approval(current: PrivateKey, consensus: bytes, new: bytes, nonce: int, chain_id: str = CTX.chain_id) -> bytes:
    return current.sign_digest(bridge_key_rotation_digest(chain_id, consensus, current.address, new, nonce))


def test_a_rotation_with_the_new_keys_proof_and_the_current_keys_approval_replaces_the_key(net: Net) -> None:
    assert _set(net, 0, rotation(net, 0, NEW)) == ["bridge_key_set"]
    assert net.bridge_key(0) == NEW.address
    assert net.bridge.valset_nonce() == 1
    assert f"0x{NEW.address.hex()}" in valset_query(net.store, 1)["validators"]
    # and the new key, now current, approves the next rotation
    assert _set(net, 0, rotation(net, 0, THIEF, current=NEW)) == ["bridge_key_set"]
    assert net.bridge_key(0) == THIEF.address


def _wrong_approvals(net: Net) -> dict[str, bytes]:
    """Approvals that are not the current key's over this rotation (validator 0 -> NEW at valset 1)."""
    consensus, other_consensus = net.consensus[0], net.consensus[1]
    current = net.eth_keys[0]
    return {
        "none": b"",
        "zero bytes": b"\x00" * 65,
        "truncated": _approval(current, consensus, NEW.address, 1)[:64],
        "by the new key": _approval(NEW, consensus, NEW.address, 1),
        "by the attacker's key": _approval(THIEF, consensus, NEW.address, 1),
        "by another validator's key": _approval(net.eth_keys[1], consensus, NEW.address, 1),
        "for another new key": _approval(current, consensus, THIEF.address, 1),
        "for another validator": _approval(current, other_consensus, NEW.address, 1),
        "for another chain": _approval(current, consensus, NEW.address, 1, chain_id="perpchain-other"),
        "for another valset nonce": _approval(current, consensus, NEW.address, 2),
        "a withdrawal-style signature": current.sign_digest(keccak256(b"anything else")),
    }


@pytest.mark.parametrize("which", ["none", "zero bytes", "truncated", "by the new key", "by the attacker's key",
                                   "by another validator's key", "for another new key", "for another validator",
                                   "for another chain", "for another valset nonce", "a withdrawal-style signature"])
def test_the_operator_and_the_new_keys_proof_without_the_current_keys_approval_are_refused_and_change_nothing(
        net: Net, which: str) -> None:
    action = replace(rotation(net, 0, NEW), approval=_wrong_approvals(net)[which])
    before = dict(net.store.data)
    with pytest.raises(BadRotationApproval) as refused:
        _set(net, 0, action)
    assert refused.value.code == 620 and refused.value.codespace == "bridge"
    assert net.store.data == before
    assert net.bridge_key(0) == net.eth_keys[0].address


def test_a_replayed_approval_is_refused_and_changes_nothing(net: Net) -> None:
    # genesis key -> NEW (valset 1), then NEW -> genesis key back (valset 2): the first tx, replayed,
    # names the genesis key as current again and would swap NEW back in without NEW's consent.
    first = rotation(net, 0, NEW)
    _set(net, 0, first)
    _set(net, 0, rotation(net, 0, net.eth_keys[0], current=NEW))
    assert net.bridge_key(0) == net.eth_keys[0].address
    before = dict(net.store.data)
    with pytest.raises(StaleRotationNonce) as stale:
        _set(net, 0, first)  # the same tx again
    assert stale.value.code == 621
    with pytest.raises(BadRotationApproval):
        _set(net, 0, replace(first, valset_nonce=3))  # its nonce moved up: the approval was for 1
    assert net.store.data == before and net.bridge.valset_nonce() == 2


def test_an_approval_made_before_another_validators_rotation_landed_is_stale(net: Net) -> None:
    early = rotation(net, 0, NEW)  # approved for valset 1
    _set(net, 1, rotation(net, 1, THIEF))  # validator 1's rotation records valset 1 first
    before = dict(net.store.data)
    with pytest.raises(StaleRotationNonce, match="would record valset 2"):
        _set(net, 0, early)
    with pytest.raises(StaleRotationNonce):  # nor can a rotation be approved ahead of time
        _set(net, 0, rotation(net, 0, NEW, valset_nonce=3))
    assert net.store.data == before
    assert _set(net, 0, rotation(net, 0, NEW)) == ["bridge_key_set"]  # a fresh approval goes through


def test_a_set_bridge_key_round_trips_the_wire_and_one_without_an_approval_is_refused(net: Net) -> None:
    action = rotation(net, 0, NEW)
    tx = Tx(chain_id=CTX.chain_id, account=net.operators[0].address, nonce=1, actions=(action,))
    assert decode_signed_tx(sign_tx(net.operators[0], tx)).tx == tx
    # A SetBridgeKey in the format before approvals (fields 1 and 2 only) still decodes, with no
    # approval and nonce 0, and the chain refuses it for the missing approval.
    old_format = tx_pb.SetBridgeKey(eth_address=action.eth_address, proof=action.proof).SerializeToString()
    decoded = tx_pb.SetBridgeKey.FromString(old_format)
    assert (decoded.valset_nonce, decoded.approval) == (0, b"")
    before = dict(net.store.data)
    with pytest.raises(BadRotationApproval, match="no approval"):
        _set(net, 0, SetBridgeKey(decoded.eth_address, decoded.proof, decoded.valset_nonce, decoded.approval))
    assert net.store.data == before
