"""The one way to talk to a perpchain node: queries, tx building, signing and broadcast."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Literal, Sequence, overload

import httpx

from client.errors import ClientError, QueryFailed, TxNotIncluded, TxRejected
from client.light import LightClient, NodeBlocks, NotVerified, TrustRoot
from client.nonces import NonceSource
from client.proven import STORE_PATH, Proven, StoreAnswer, check, store_answer
from client.rpc import RpcClient
from modules.anchor import keys as anchor_keys
from modules.anchor.types import AnchorRecord, decode_record
from modules.bank import keys as bank_keys
from modules.bank.types import Transfer
from modules.encoding import read_i128, stored_uint, u64
from modules.orderbook.actions import CancelAll, CancelOrder, ModifyOrder, PlaceOrder, ScheduleCancelAll
from modules.types import SubaccountId
from wire.codec import Action, Tx, sign_tx
from wire.crypto import PrivateKey, address_from_hex


@dataclass(frozen=True)
class TxEvent:
    type: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class TxResult:
    """A tx that made it into a block with code 0."""

    tx_hash: str
    height: int
    events: tuple[TxEvent, ...]


@dataclass(frozen=True)
class Balance:
    address: str
    subaccount: int
    amount_micro_usdc: int


@dataclass(frozen=True)
class ProvenBalance:
    balance: Balance
    proven: Proven  # of the bank's key; absent means a zero balance


@dataclass(frozen=True)
class ProvenAnchor:
    """The latest anchor record (None: no anchor yet), proven with the pointer to it, in one state."""

    record: AnchorRecord | None
    latest: Proven  # anchor/latest: the latest nonce
    proven: Proven | None  # anchor/r/<nonce>: the record


@dataclass(frozen=True)
class NodeHealth:
    """What an operator watches on one node (CometBFT's `status` and `net_info`)."""

    moniker: str
    height: int
    app_hash: str
    last_block_time: str
    catching_up: bool
    voting_power: int
    peers: int


@dataclass(frozen=True)
class NodeStatus:
    chain_id: str
    height: int
    app_hash: str
    block_time_ms: int


def _tx_hash(raw: bytes) -> str:
    """CometBFT names a tx by the upper-case hex sha256 of its bytes."""
    return hashlib.sha256(raw).hexdigest().upper()


def _events(raw_events: Sequence[dict[str, Any]]) -> tuple[TxEvent, ...]:
    return tuple(
        TxEvent(e["type"], {a["key"]: a.get("value", "") for a in e.get("attributes", [])}) for e in raw_events
    )


class Client:
    """Synchronous client of one node's RPC. `transport` swaps the network (tests). `trust`: where
    the headers that proven reads are checked against start (client/light.py)."""

    def __init__(self, rpc_url: str, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None,
                 trust: TrustRoot = TrustRoot()) -> None:
        self.rpc = RpcClient(rpc_url, timeout_s=timeout_s, transport=transport)
        self.nonces = NonceSource()
        self.trust = trust
        self._chain_id: str | None = None
        self._light: LightClient | None = None

    def close(self) -> None:
        self.rpc.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries ------------------------------------------------------------------------------

    def query(self, path: str) -> Any:
        """abci_query `path` and decode its JSON answer; a non-zero code raises QueryFailed."""
        response = self.rpc.call("abci_query", path=path)["response"]
        code = int(response.get("code", 0))
        if code != 0:
            raise QueryFailed(code, response.get("codespace", ""), response.get("log", ""))
        return json.loads(base64.b64decode(response.get("value") or ""))

    def status(self) -> NodeStatus:
        answer = self.query("/app/status")
        return NodeStatus(answer["chain_id"], answer["height"], answer["app_hash"], answer["block_time_ms"])

    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = self.rpc.call("status")["node_info"]["network"]
        return self._chain_id

    def balance(self, address: str, subaccount: int = 0) -> Balance:
        answer = self.query(f"/bank/balance/{address.lower()}/{subaccount}")
        return Balance(answer["address"], answer["subaccount"], int(answer["amount_micro_usdc"]))

    def health(self) -> NodeHealth:
        status = self.rpc.call("status")
        sync = status["sync_info"]
        return NodeHealth(
            moniker=status["node_info"].get("moniker", ""),
            height=int(sync["latest_block_height"]),
            app_hash=sync.get("latest_app_hash", ""),
            last_block_time=sync.get("latest_block_time", ""),
            catching_up=bool(sync.get("catching_up", False)),
            voting_power=int(status["validator_info"].get("voting_power", 0)),
            peers=int(self.rpc.call("net_info")["n_peers"]),
        )

    def app_hash_at(self, height: int) -> str:
        """The app hash this node's own app computed after `height` (hex), from its app, not the headers."""
        return str(self.query(f"/app/hash/{height}")["app_hash"])

    def height(self) -> int:
        return int(self.rpc.call("status")["sync_info"]["latest_block_height"])

    def wait_for_height(self, height: int, timeout_s: float = 30.0) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            current = self.height()
            if current >= height:
                return current
            if time.monotonic() > deadline:
                raise TxNotIncluded(f"height {height} not reached in {timeout_s}s (at {current})")
            time.sleep(0.05)

    # -- proven reads (client/proven.py) ------------------------------------------------------------

    def light(self) -> LightClient:
        """The verifier of this node's headers, from the trust root on (made on first use)."""
        if self._light is None:
            height = self.trust.height or int(self.rpc.call("status")["sync_info"]["earliest_block_height"])
            self._light = LightClient(NodeBlocks(self.rpc), self.chain_id(), TrustRoot(height, self.trust.hash))
        return self._light

    def store_answer(self, key: bytes, height: int = 0) -> StoreAnswer:
        """The node's answer for a raw store key with its proof, not yet checked (`prove` checks it)."""
        response = self.rpc.call("abci_query", path=STORE_PATH, data=key.hex(), height=str(height), prove=True)
        answer = store_answer(response["response"], key)
        if height and answer.height != height:
            raise NotVerified(f"asked for the state of height {height}, the node answered with {answer.height}'s")
        return answer

    def prove(self, key: bytes, height: int = 0, timeout_s: float = 30.0) -> Proven:
        """A raw store key's value or absence in the state of `height` (0: the latest), proven against
        the header at height + 1 (waited for); NotVerified names anything that does not check."""
        answer = self.store_answer(key, height)
        self.wait_for_height(answer.height + 1, timeout_s)
        return check(answer, self.light().header(answer.height + 1))

    def prove_balance(self, address: str, subaccount: int = 0, height: int = 0) -> ProvenBalance:
        holder = SubaccountId(address_from_hex(address), subaccount)
        proven = self.prove(bank_keys.STORE_PREFIX + bank_keys.balance_key(holder), height)
        amount = read_i128(proven.value) if proven.value is not None else 0
        return ProvenBalance(Balance("0x" + holder.address.hex(), subaccount, amount), proven)

    def prove_latest_anchor(self) -> ProvenAnchor:
        latest = self.prove(anchor_keys.STORE_PREFIX + anchor_keys.LATEST)
        nonce = stored_uint(latest.value)
        if nonce == 0:
            return ProvenAnchor(None, latest, None)
        record, proven = self.prove_anchor_record(nonce, latest.height)
        return ProvenAnchor(record, latest, proven)

    def prove_anchor_record(self, nonce: int, height: int = 0) -> tuple[AnchorRecord, Proven]:
        """Anchor `nonce`'s record (its balances root among it) in the state of `height` (0: the latest)."""
        proven = self.prove(anchor_keys.STORE_PREFIX + anchor_keys.RECORD + u64(nonce), height)
        if proven.value is None:
            raise ClientError(f"anchor {nonce} is proven absent from the state of height {proven.height}")
        return decode_record(proven.value), proven

    # -- transactions -------------------------------------------------------------------------

    def build(self, key: PrivateKey, actions: Sequence[Action], nonce: int | None = None) -> bytes:
        tx = Tx(
            chain_id=self.chain_id(),
            account=key.address,
            nonce=self.nonces.next() if nonce is None else nonce,
            actions=tuple(actions),
        )
        return sign_tx(key, tx)

    def submit(self, raw: bytes) -> str:
        """broadcast_tx_sync: returns the tx hash once CheckTx accepted it, else raises TxRejected."""
        result = self.rpc.call("broadcast_tx_sync", tx=base64.b64encode(raw).decode())
        tx_hash = result.get("hash") or _tx_hash(raw)
        code = int(result.get("code", 0))
        if code != 0:
            raise TxRejected(code, result.get("codespace", ""), result.get("log", ""), "check", tx_hash)
        return tx_hash

    def wait_for_tx(self, tx_hash: str, timeout_s: float = 30.0) -> TxResult:
        """Poll the node's tx index until the tx is in a block; raises TxRejected if it failed there."""
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        while True:
            try:
                found = self.rpc.call("tx", hash=base64.b64encode(bytes.fromhex(tx_hash)).decode())
            except Exception as exc:  # not indexed yet: CometBFT answers with an RPC error
                if "not found" not in str(exc):
                    raise
            else:
                result = found["tx_result"]
                code = int(result.get("code", 0))
                if code != 0:
                    raise TxRejected(code, result.get("codespace", ""), result.get("log", ""), "block", tx_hash)
                return TxResult(tx_hash, int(found["height"]), _events(result.get("events", [])))
            if time.monotonic() > deadline:
                raise TxNotIncluded(f"tx {tx_hash} not in a block after {timeout_s}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    # Each method taking `wait` is overloaded so a caller knows what it gets back: the TxResult
    # once the tx is in a block (wait=True, the default), or only the tx hash (wait=False).

    @overload
    def broadcast(self, raw: bytes, wait: Literal[True] = ..., timeout_s: float = ...) -> TxResult: ...
    @overload
    def broadcast(self, raw: bytes, wait: Literal[False], timeout_s: float = ...) -> str: ...
    def broadcast(self, raw: bytes, wait: bool = True, timeout_s: float = 30.0) -> TxResult | str:
        return self._broadcast(raw, wait, timeout_s)

    def _broadcast(self, raw: bytes, wait: bool, timeout_s: float = 30.0) -> TxResult | str:
        """What every overloaded method here does, for a `wait` known only at run time."""
        tx_hash = self.submit(raw)
        return self.wait_for_tx(tx_hash, timeout_s) if wait else tx_hash

    @overload
    def transfer(self, key: PrivateKey, to: SubaccountId, amount_micro_usdc: int, from_subaccount: int = ...,
                 wait: Literal[True] = ...) -> TxResult: ...
    @overload
    def transfer(self, key: PrivateKey, to: SubaccountId, amount_micro_usdc: int, from_subaccount: int = ..., *,
                 wait: Literal[False]) -> str: ...
    def transfer(
        self, key: PrivateKey, to: SubaccountId, amount_micro_usdc: int, from_subaccount: int = 0, wait: bool = True
    ) -> TxResult | str:
        return self._broadcast(self.build(key, [Transfer(from_subaccount, to, amount_micro_usdc)]), wait)

    @overload
    def send(self, key: PrivateKey, actions: Sequence[Action], wait: Literal[True] = ...,
             timeout_s: float = ...) -> TxResult: ...
    @overload
    def send(self, key: PrivateKey, actions: Sequence[Action], wait: Literal[False],
             timeout_s: float = ...) -> str: ...
    def send(self, key: PrivateKey, actions: Sequence[Action], wait: bool = True,
             timeout_s: float = 30.0) -> TxResult | str:
        """Sign and broadcast any actions in one tx (all or nothing)."""
        return self._broadcast(self.build(key, actions), wait, timeout_s)

    @overload
    def place(self, key: PrivateKey, order: PlaceOrder, wait: Literal[True] = ...) -> TxResult: ...
    @overload
    def place(self, key: PrivateKey, order: PlaceOrder, wait: Literal[False]) -> str: ...
    def place(self, key: PrivateKey, order: PlaceOrder, wait: bool = True) -> TxResult | str:
        return self._broadcast(self.build(key, [order]), wait)

    @overload
    def cancel(self, key: PrivateKey, cancel: CancelOrder, wait: Literal[True] = ...) -> TxResult: ...
    @overload
    def cancel(self, key: PrivateKey, cancel: CancelOrder, wait: Literal[False]) -> str: ...
    def cancel(self, key: PrivateKey, cancel: CancelOrder, wait: bool = True) -> TxResult | str:
        return self._broadcast(self.build(key, [cancel]), wait)

    @overload
    def cancel_all(self, key: PrivateKey, subaccount: int = ..., market_id: int = ...,
                   wait: Literal[True] = ...) -> TxResult: ...
    @overload
    def cancel_all(self, key: PrivateKey, subaccount: int = ..., market_id: int = ..., *,
                   wait: Literal[False]) -> str: ...
    def cancel_all(self, key: PrivateKey, subaccount: int = 0, market_id: int = 0, wait: bool = True) -> TxResult | str:
        return self._broadcast(self.build(key, [CancelAll(subaccount, market_id)]), wait)

    @overload
    def modify(self, key: PrivateKey, modify: ModifyOrder, wait: Literal[True] = ...) -> TxResult: ...
    @overload
    def modify(self, key: PrivateKey, modify: ModifyOrder, wait: Literal[False]) -> str: ...
    def modify(self, key: PrivateKey, modify: ModifyOrder, wait: bool = True) -> TxResult | str:
        return self._broadcast(self.build(key, [modify]), wait)

    @overload
    def schedule_cancel_all(self, key: PrivateKey, cancel_at_ms: int, wait: Literal[True] = ...) -> TxResult: ...
    @overload
    def schedule_cancel_all(self, key: PrivateKey, cancel_at_ms: int, wait: Literal[False]) -> str: ...
    def schedule_cancel_all(self, key: PrivateKey, cancel_at_ms: int, wait: bool = True) -> TxResult | str:
        return self._broadcast(self.build(key, [ScheduleCancelAll(cancel_at_ms)]), wait)

    # -- trading queries (docs/queries.md) --------------------------------------------------------

    def markets(self) -> list[dict[str, Any]]:
        return list(self.query("/markets")["markets"])

    def market(self, market: int | str) -> dict[str, Any]:
        """By id or ticker."""
        for entry in self.markets():
            if str(market) in (str(entry["market_id"]), entry["ticker"]):
                return entry
        raise QueryFailed(200, "markets", f"UnknownMarket: no market {market!r}")

    def what_if(self, address: str, order: PlaceOrder) -> dict[str, Any]:
        """Simulate `order` for address/subaccount against the node's latest state; nothing is sent."""
        kind = "post_only" if order.post_only else order.time_in_force.name.lower()
        side = order.side.name.lower()
        return dict(self.query(f"/whatif/{address.lower()}/{order.subaccount}/{order.market_id}/{side}/"
                               f"{order.price}/{order.size}/{kind}"))

    def funding(self, market_id: int) -> dict[str, Any]:
        return dict(self.query(f"/funding/{market_id}"))

    def oracle_prices(self) -> list[dict[str, Any]]:
        return list(self.query("/oracle/prices")["prices"])

    def book(self, market_id: int, depth: int = 20) -> dict[str, Any]:
        return dict(self.query(f"/book/{market_id}/{depth}"))

    def conditionals(self, address: str, subaccount: int = 0) -> list[dict[str, Any]]:
        return list(self.query(f"/conditionals/{address.lower()}/{subaccount}")["conditionals"])

    def twaps(self, address: str, subaccount: int = 0) -> list[dict[str, Any]]:
        """A subaccount's running TWAPs with their progress (filled, remaining, slices done)."""
        return list(self.query(f"/twaps/{address.lower()}/{subaccount}")["twaps"])

    def orders(self, address: str, subaccount: int = 0) -> list[dict[str, Any]]:
        return list(self.query(f"/orders/{address.lower()}/{subaccount}")["orders"])

    def trades(self, market_id: int, limit: int = 50) -> list[dict[str, Any]]:
        return list(self.query(f"/trades/{market_id}/{limit}")["trades"])

    def positions(self, address: str, subaccount: int = 0) -> dict[str, Any]:
        return dict(self.query(f"/positions/{address.lower()}/{subaccount}"))
