"""An in-process chain (app/driver.py) over a real LevelDB, at height 1 with funded accounts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from app.application import Application
from app.driver import SOLE_VALIDATOR, Genesis, InProcessChain, priced_genesis, votes_tx
from app.store import CommittedStore
from genesis.markets import market
from modules.auth import keys as auth_keys
from modules.bank.keeper import BankKeeper
from modules.funding import keys as funding_keys
from modules.types import SubaccountId
from wire import PrivateKey
from wire.pb import abci_pb

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
    """The chain a test drives, and its funded keys."""

    chain: InProcessChain
    keys: list[PrivateKey]

    @property
    def app(self) -> Application:
        return self.chain.app

    @property
    def store(self) -> CommittedStore:
        return self.chain.store

    @property
    def height(self) -> int:
        return self.chain.height

    @property
    def time_ms(self) -> int:
        return self.chain.time_ms

    def check(self, raw: bytes) -> abci_pb.ResponseCheckTx:
        return self.chain.check(raw)

    def finalize(self, txs: Sequence[bytes], advance_ms: int = 0) -> abci_pb.ResponseFinalizeBlock:
        """The next block, `advance_ms` later than the regular interval would put it."""
        return self.chain.finalize(txs, self.chain.next_time_ms() + advance_ms)

    def commit(self) -> None:
        self.chain.commit()

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
        """Every module key and value that a tx can change: meta keys, and what every block
        writes (its time, the funding premium samples), are left out."""
        samples = funding_keys.STORE_PREFIX + funding_keys.STATE
        block_time = auth_keys.STORE_PREFIX + auth_keys.BLOCK_TIME
        return [kv for kv in self.store.iterate(b"\x01", None) if not kv[0].startswith(samples) and kv[0] != block_time]

    def close(self) -> None:
        self.chain.close()


def without_nonces(state: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A state less the accounts' used nonces: what a refused tx leaves as it found it (it uses
    its nonce when its signature and nonce were good, docs/transactions.md)."""
    return [kv for kv in state if not kv[0].startswith(auth_keys.STORE_PREFIX)]


VALIDATOR_PUB_KEY = SOLE_VALIDATOR[0]  # FinalizeBlock trusts an accepted oracle tx: no signature needed here
VALIDATOR_ADDRESS = hashlib.sha256(VALIDATOR_PUB_KEY).digest()[:20]


def oracle_tx_with(prices: dict[int, int]) -> bytes:
    return votes_tx([(VALIDATOR_ADDRESS, SOLE_VALIDATOR[1], prices)])


def funded_app_state(keys: Sequence[PrivateKey], markets: list[dict[str, object]] | None = None,
                     sections: dict[str, object] | None = None) -> dict[str, Any]:
    """Each key funded with FUNDED_MICRO_USDC; TEST_MARKETS unless `markets`; `sections`: more
    genesis sections (e.g. {"orderbook": {"params": {...}}})."""
    return {
        "bank": {"balances": [
            {"address": "0x" + k.address.hex(), "subaccount": 0, "amount_micro_usdc": str(FUNDED_MICRO_USDC)}
            for k in keys
        ]},
        "markets": {"markets": markets if markets is not None else TEST_MARKETS},
        **(sections or {}),
    }


def start_chain(path: Path, keys: list[PrivateKey], genesis: Genesis) -> AppHarness:
    """A chain from `genesis`, its first block made."""
    harness = AppHarness(InProcessChain.start(path, genesis, BLOCK_INTERVAL_MS, GENESIS_TIME_MS), keys)
    harness.block([])
    return harness


def start_app(path: Path, keys: list[PrivateKey], markets: list[dict[str, object]] | None = None,
              oracle: bool = False, sections: dict[str, object] | None = None) -> AppHarness:
    """`oracle`: one validator, vote extensions from height 1: blocks may carry its prices."""
    app_state = funded_app_state(keys, markets, sections)
    return start_chain(path, keys, priced_genesis(CHAIN_ID, app_state) if oracle else Genesis(CHAIN_ID, app_state))


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[AppHarness]:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    h = start_app(tmp_path / "db", keys)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def oracle_harness(tmp_path: Path) -> Iterator[AppHarness]:
    """Like `harness`, with a validator whose prices the test sets block by block."""
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    h = start_app(tmp_path / "db", keys, oracle=True)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def harnesses() -> Iterator[list[AppHarness]]:
    """For tests that start harnesses of their own (with other params): each one appended is closed after."""
    started: list[AppHarness] = []
    yield started
    for h in started:
        h.close()
