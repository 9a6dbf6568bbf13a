"""An in-process Application over a real LevelDB, at height 1 with funded accounts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from app.application import Application
from app.oracle_votes import encode_extension, oracle_tx
from app.store import CommittedStore
from genesis.markets import market
from modules.auth import keys as auth_keys
from modules.bank.keeper import BankKeeper
from modules.funding import keys as funding_keys
from modules.types import SubaccountId
from wire import PrivateKey
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb

CHAIN_ID = "perpchain-test"
# BTC-USD as on the localnet; DOGE-USD paused; TINY-USD with an open-interest cap of 10 lots;
# ETH-USD (id 4) as on the localnet.
TEST_MARKETS = [
    market(1, "BTC-USD", 4, 100_000, 10, 10, 65_000_000_000, 1_000_000),
    market(2, "DOGE-USD", 0, 1_000, 1, 1, 100_000, 10**12, status="paused"),
    market(3, "TINY-USD", 4, 100_000, 10, 10, 65_000_000_000, 100),
    market(4, "ETH-USD", 3, 10_000, 10, 10, 3_200_000_000, 10_000_000, 100_000, 50_000),
]
GENESIS_TIME_MS = 1_800_000_000_000
BLOCK_INTERVAL_MS = 500
FUNDED_MICRO_USDC = 1_000_000_000


@dataclass
class AppHarness:
    app: Application
    store: CommittedStore
    keys: list[PrivateKey]
    height: int = 1

    extra_ms: int = 0

    @property
    def time_ms(self) -> int:
        return GENESIS_TIME_MS + self.height * BLOCK_INTERVAL_MS + self.extra_ms

    def check(self, raw: bytes) -> abci_pb.ResponseCheckTx:
        return self.app.check_tx(abci_pb.RequestCheckTx(tx=raw, type=abci_pb.NEW))

    def finalize(self, txs: Sequence[bytes], advance_ms: int = 0) -> abci_pb.ResponseFinalizeBlock:
        """The next block, `advance_ms` later than the regular interval would put it."""
        self.height += 1
        self.extra_ms += advance_ms
        timestamp = Timestamp()
        timestamp.FromMilliseconds(self.time_ms)
        return self.app.finalize_block(abci_pb.RequestFinalizeBlock(txs=list(txs), height=self.height, time=timestamp))

    def commit(self) -> None:
        self.app.commit(abci_pb.RequestCommit())

    def block(self, txs: Sequence[bytes], advance_ms: int = 0,
              prices: dict[int, int] | None = None) -> list[abci_pb.ExecTxResult]:
        """`prices` (market id -> micro-USDC): the validator's vote, carried as the oracle tx."""
        if prices is not None:
            txs = [oracle_tx_with(prices), *txs]
        response = self.finalize(txs, advance_ms)
        self.commit()
        return list(response.tx_results)

    def balance(self, key: PrivateKey, number: int = 0) -> int:
        return BankKeeper(self.store).balance(SubaccountId(key.address, number))

    def state(self) -> list[tuple[bytes, bytes]]:
        """Every module key and value that a tx can change: meta keys and the funding premium
        samples every block takes are left out."""
        samples = funding_keys.STORE_PREFIX + funding_keys.STATE
        return [kv for kv in self.store.iterate(b"\x01", None) if not kv[0].startswith(samples)]


def without_nonces(state: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A state less the accounts' used nonces: what a refused tx leaves as it found it (it uses
    its nonce when its signature and nonce were good, docs/transactions.md)."""
    return [kv for kv in state if not kv[0].startswith(auth_keys.STORE_PREFIX)]


VALIDATOR_PUB_KEY = bytes(range(32))  # FinalizeBlock trusts an accepted oracle tx: no signature needed here
VALIDATOR_ADDRESS = hashlib.sha256(VALIDATOR_PUB_KEY).digest()[:20]


def oracle_tx_with(prices: dict[int, int]) -> bytes:
    commit = abci_pb.ExtendedCommitInfo(round=0)
    commit.votes.add(validator=abci_pb.Validator(address=VALIDATOR_ADDRESS, power=10),
                     vote_extension=encode_extension(prices), extension_signature=b"\x01" * 64, block_id_flag=2)
    return oracle_tx(commit)


def start_app(path: Path, keys: list[PrivateKey], markets: list[dict[str, object]] | None = None,
              oracle: bool = False, sections: dict[str, object] | None = None) -> AppHarness:
    """`sections`: more genesis sections (e.g. {"orderbook": {"params": {...}}})."""
    store = CommittedStore(path)
    app = Application(store)
    app_state: dict[str, object] = {
        "bank": {"balances": [
            {"address": "0x" + k.address.hex(), "subaccount": 0, "amount_micro_usdc": str(FUNDED_MICRO_USDC)}
            for k in keys
        ]},
        "markets": {"markets": markets if markets is not None else TEST_MARKETS},
        **(sections or {}),
    }
    app_state.update(sections or {})
    request = abci_pb.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=json.dumps(app_state).encode())
    if oracle:  # one validator, vote extensions from height 1: blocks may carry its prices
        request.validators.add(pub_key=keys_pb.PublicKey(ed25519=VALIDATOR_PUB_KEY), power=10)
        request.consensus_params.abci.vote_extensions_enable_height = 1
    app.init_chain(request)
    harness = AppHarness(app, store, keys, height=0)
    harness.block([])
    return harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[AppHarness]:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    h = start_app(tmp_path / "db", keys)
    try:
        yield h
    finally:
        h.app.signers.close()
        h.store.close()


@pytest.fixture
def oracle_harness(tmp_path: Path) -> Iterator[AppHarness]:
    """Like `harness`, with a validator whose prices the test sets block by block."""
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    h = start_app(tmp_path / "db", keys, oracle=True)
    try:
        yield h
    finally:
        h.app.signers.close()
        h.store.close()


@pytest.fixture
def harnesses() -> Iterator[list[AppHarness]]:
    """For tests that start harnesses of their own (with other params): each one appended is closed after."""
    started: list[AppHarness] = []
    yield started
    for h in started:
        h.app.signers.close()
        h.store.close()
