"""Events written straight to the protobuf bytes of their ABCI messages (tendermint.abci.Event),
and FinalizeBlock's response around them, which the ABCI server sends as they are: a protobuf
object per attribute, copied into the response and serialized, cost about three times as much.
The bytes are those protobuf writes for the same messages."""

from __future__ import annotations

from typing import Sequence

from modules.context import Event
from wire.varint import encode_uvarint

# The event attributes CometBFT's tx index keeps, so `tx_search` and websocket queries can find
# txs by them (docs/events.md): whose (owner, subaccount, account, maker, taker, recipient,
# sender), which order (order, conditional, TWAP), which market, and the bridge's and staking's
# own handles (a deposit's nonce, a withdrawal's id, a halt's id, a validator), which only their
# rare events carry. A tx itself is found by its hash or height, which CometBFT always indexes.
# Every other attribute is delivered with the tx result but not indexed: each indexed one is a
# write to the node's index.
INDEXED_ATTRIBUTES = frozenset({
    "owner", "subaccount", "account", "maker", "taker", "recipient", "sender",
    "order_id", "conditional_id", "twap_id", "market_id",
    "nonce", "withdrawal_id", "halt_id", "validator",
})

_EXEC_TX_RESULT_EVENTS = 7  # field numbers in CometBFT's abci/types.proto
_FINALIZE_BLOCK_EVENTS = 1
_FINALIZE_BLOCK_TX_RESULTS = 2
_FINALIZE_BLOCK_VALIDATOR_UPDATES = 3
_FINALIZE_BLOCK_APP_HASH = 5
_EVENT_TYPE = b"\x0a"  # Event.type = 1, length-delimited
_EVENT_ATTRIBUTE = b"\x12"  # Event.attributes = 2
_KEY = b"\x0a"  # EventAttribute.key = 1
_VALUE = b"\x12"  # EventAttribute.value = 2
_INDEXED = b"\x18\x01"  # EventAttribute.index = 3, true


_SHORT = tuple(encode_uvarint(n) for n in range(0x80))  # the one-byte lengths, most of an event's
_ATTRIBUTE_HEAD = tuple(_EVENT_ATTRIBUTE + length for length in _SHORT)


def _length(n: int) -> bytes:
    return _SHORT[n] if n < 0x80 else encode_uvarint(n)


def _length_delimited(number: int, body: bytes) -> bytes:
    """Field `number` (< 16: a one-byte tag) of a message, holding `body` (a string, bytes or an
    embedded message)."""
    return _SHORT[number << 3 | 2] + _length(len(body)) + body


_keys: dict[str, tuple[bytes, bytes, int]] = {}
"""An attribute key -> its encoded key field with the value's tag after it, its index field, and
the bytes those take with the value's length (of one byte): what every attribute of that key shares."""


def _key(key: str) -> tuple[bytes, bytes, int]:
    encoded = key.encode()
    head = (_KEY + _length(len(encoded)) + encoded if encoded else b"") + _VALUE
    indexed = _INDEXED if key in INDEXED_ATTRIBUTES else b""
    _keys[key] = found = (head, indexed, len(head) + 1 + len(indexed))
    return found


def event_bytes(event: Event) -> bytes:
    """The Event message: its type, then each attribute's key, value and index flag."""
    parts: list[bytes] = []
    for key, value in event.attributes:
        head, indexed, shared = _keys.get(key) or _key(key)
        encoded = value.encode()
        size = len(encoded)
        if size == 0:  # proto3 writes no empty string; the value's tag and length go too
            body = head[:-1] + indexed
            parts += (_EVENT_ATTRIBUTE, _length(len(body)), body)
        elif size < 0x80 and shared + size < 0x80:
            parts += (_ATTRIBUTE_HEAD[shared + size], head, _SHORT[size], encoded, indexed)
        else:
            body = head + encode_uvarint(size) + encoded + indexed
            parts += (_EVENT_ATTRIBUTE, _length(len(body)), body)
    kind = event.type.encode()
    return (_EVENT_TYPE + _length(len(kind)) + kind if kind else b"") + b"".join(parts)


def _events_field(number: int, events: Sequence[Event]) -> bytes:
    """`events` as the repeated Event field `number` of a message."""
    return b"".join([_length_delimited(number, event_bytes(event)) for event in events])


def tx_result(events: Sequence[Event]) -> bytes:
    """The encoded ExecTxResult of a tx that succeeded with `events` (code 0 is not written)."""
    return _events_field(_EXEC_TX_RESULT_EVENTS, events)


def finalize_block_response(events: Sequence[Event], tx_results: Sequence[bytes], validator_updates: Sequence[bytes],
                            app_hash: bytes) -> bytes:
    """The encoded ResponseFinalizeBlock: the block's own events, its txs' encoded results, the
    encoded validator updates and the app hash, in field order as protobuf writes them."""
    return b"".join([
        _events_field(_FINALIZE_BLOCK_EVENTS, events),
        *[_length_delimited(_FINALIZE_BLOCK_TX_RESULTS, result) for result in tx_results],
        *[_length_delimited(_FINALIZE_BLOCK_VALIDATOR_UPDATES, update) for update in validator_updates],
        _length_delimited(_FINALIZE_BLOCK_APP_HASH, app_hash) if app_hash else b"",
    ])
