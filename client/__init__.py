"""The one library every other piece (CLI, terminal UI, relayer, market maker, tests) uses to
talk to a perpchain node: keys, tx building and signing, broadcast, typed queries, events.

The bridge's side on Ethereum is in submodules imported on their own, so that only their users
load web3: `client.eth` (contract bindings, sending transactions, naming reverts),
`client.bridge` (deposits, withdrawals, solvency) and `client.anchor` (anchors, the escape hatch).
"""

from client.client import Balance, Client, NodeHealth, NodeStatus, ProvenAnchor, ProvenBalance, TxEvent, TxResult
from client.errors import ChainRejected, ClientError, NodeUnreachable, QueryFailed, RpcError, TxNotIncluded, TxRejected
from client.events import SubscriptionRefused, subscribe
from client.keys import load_key, save_key
from client.light import NotVerified, TrustRoot
from client.nonces import NonceSource
from client.proven import Proven
from modules.bank.types import Transfer
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
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from wire.crypto import PrivateKey, address_from_hex, address_to_hex

__all__ = [
    "Balance",
    "CancelAll",
    "CancelConditional",
    "ConditionalKind",
    "PlaceConditional",
    "PlaceTrailingStop",
    "PlaceTwap",
    "CancelTwap",
    "SetPositionTpSl",
    "CancelOrder",
    "ModifyOrder",
    "PlaceOrder",
    "ScheduleCancelAll",
    "Side",
    "TimeInForce",
    "ChainRejected",
    "Client",
    "ClientError",
    "NodeHealth",
    "NodeStatus",
    "NodeUnreachable",
    "NonceSource",
    "NotVerified",
    "PrivateKey",
    "Proven",
    "ProvenAnchor",
    "ProvenBalance",
    "QueryFailed",
    "RpcError",
    "SubscriptionRefused",
    "SubaccountId",
    "Transfer",
    "TrustRoot",
    "TxEvent",
    "TxNotIncluded",
    "TxRejected",
    "TxResult",
    "address_from_hex",
    "address_to_hex",
    "load_key",
    "save_key",
    "subscribe",
]
