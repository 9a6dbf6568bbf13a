"""app/event_encoding.py writes the bytes protobuf's own objects write for the same events: the
response CometBFT receives is unchanged byte for byte, and only INDEXED_ATTRIBUTES are indexed."""

from __future__ import annotations

from app.event_encoding import INDEXED_ATTRIBUTES, event_bytes, finalize_block_response, tx_result
from modules.context import Attributes, Event
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb  # on the path once wire.pb is imported

EVENTS = [
    Event("order_placed", (("order_id", "42"), ("market_id", "1"), ("owner", "0x" + "ab" * 20), ("price", "65000"))),
    Event("empty_value", (("reason", ""), ("order_id", ""), ("", "no key"))),
    Event("no_attributes"),
    Event("", (("market_id", "7"),)),
    Event("non_ascii", (("ticker", "BTC–USD €"), ("owner", "Ünïcode"))),
    *[Event("long", (("owner", "x" * size), ("size", "y" * size))) for size in (100, 103, 104, 105, 127, 128, 300, 20_000)],
    Event("k" * 200, (("k" * 130, "v"),)),
]


def _with_objects(event: Event) -> abci_pb.Event:
    """The event as protobuf objects, one per attribute: what the encoding must equal."""
    return abci_pb.Event(type=event.type, attributes=[
        abci_pb.EventAttribute(key=k, value=v, index=k in INDEXED_ATTRIBUTES) for k, v in event.attributes])


def test_each_event_encodes_to_the_bytes_of_its_protobuf_objects() -> None:
    for event in EVENTS:
        assert event_bytes(event) == _with_objects(event).SerializeToString(), event


def test_a_tx_result_and_a_block_response_are_the_bytes_of_their_protobuf_messages() -> None:
    result = abci_pb.ExecTxResult.FromString(tx_result(EVENTS))
    assert result == abci_pb.ExecTxResult(code=0, events=[_with_objects(e) for e in EVENTS])
    failed = abci_pb.ExecTxResult(code=301, codespace="orderbook", log="refused")
    updates = [abci_pb.ValidatorUpdate(pub_key=keys_pb.PublicKey(ed25519=bytes([n]) * 32), power=n) for n in (0, 7)]
    expected = abci_pb.ResponseFinalizeBlock(
        events=[_with_objects(e) for e in EVENTS[:2]], app_hash=bytes(range(32)), validator_updates=updates,
        tx_results=[result, abci_pb.ExecTxResult(), failed, abci_pb.ExecTxResult()])
    block = finalize_block_response(EVENTS[:2], [tx_result(EVENTS), b"", failed.SerializeToString(), tx_result([])],
                                    [u.SerializeToString() for u in updates], bytes(range(32)))
    assert block == expected.SerializeToString()
    assert finalize_block_response([], [], [], b"") == b""


def test_a_deferred_event_encodes_as_the_same_event_given_formatted() -> None:
    def placed(order_id: int, price: int) -> Attributes:
        return (("order_id", str(order_id)), ("price", str(price)))

    assert event_bytes(Event.deferred("order_placed", placed, 42, 65_000)) == \
        event_bytes(Event("order_placed", (("order_id", "42"), ("price", "65000"))))


def test_only_the_searched_attributes_are_indexed() -> None:
    flags = {a.key: a.index for a in _with_objects(EVENTS[0]).attributes}
    parsed = abci_pb.Event.FromString(event_bytes(EVENTS[0]))
    assert {a.key: a.index for a in parsed.attributes} == flags == \
        {"order_id": True, "market_id": True, "owner": True, "price": False}


def test_a_deposit_a_withdrawal_a_halt_and_a_validator_are_found_by_their_handles() -> None:
    """Relayer operators search CometBFT's tx index by these (docs/events.md); only the bridge's,
    anchors' and staking's events carry them."""
    credited = Event("deposit_credited", (("nonce", "7"), ("recipient", "0x" + "ab" * 20), ("amount_micro_usdc", "5")))
    flags = {a.key: a.index for a in abci_pb.Event.FromString(event_bytes(credited)).attributes}
    assert flags == {"nonce": True, "recipient": True, "amount_micro_usdc": False}
    assert {"nonce", "withdrawal_id", "halt_id", "validator"} <= INDEXED_ATTRIBUTES
