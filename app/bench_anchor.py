"""`anchor` benchmark: the cost an anchor adds to its block, with N funded subaccounts (default
100,000, one address each), on the real Application over LevelDB.

Setup (not timed): genesis with the bridge and anchoring every 10 blocks, one validator, 4
markets; N addresses funded, 1,000 of them holding positions in long/short pairs, written
through the keepers in one batch and marked as written (as the blocks that funded them would
have); the app restarted on it.

Timed, the anchor step alone (step 0 of FinalizeBlock):
  - `full_anchor_ms`: the first anchor, in which every address is new: N leaves appended and
    the whole tree hashed;
  - `anchor_ms`: the median of five steady-state anchors, each after an interval in which 1,000
    transfers moved collateral between 2,000 addresses and the oracle moved every market (so the
    1,000 position holders' equity changed too): the tree rehashes only those leaves and their
    paths (`anchor_max_ms`: the slowest of the five).
And `tree_rebuild_ms`: what a node spends when it starts, rebuilding the tree from the stored
leaves (outside any block).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from app.application import Application
from app.bench import BenchmarkFailed
from app.bench_liquidation import START_MS, VALIDATOR_KEY, _finalize, _oracle
from app.store import CacheStore, CommitInfo, CommittedStore, next_app_hash
from genesis.markets import market as market_entry
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.margin.keeper import MarginKeeper
from modules.margin.types import Position
from modules.types import SubaccountId
from wire import PrivateKey
from wire.codec import Tx, sign_tx
from wire.crypto import keccak256
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb  # on the path once wire.pb is imported

MARKETS = 4
PRICE = 65_000_000_000
INTERVAL = 10
HOLDERS = 1_000
TRANSFERS = 1_000
INTERVALS = 5  # steady-state anchors measured; `anchor_ms` is their median
FUNDED_MICRO_USDC = 10_000_000_000


def _key(index: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"anchor bench " + index.to_bytes(8, "big")).digest())


def _genesis(operator: bytes) -> bytes:
    markets = [market_entry(m, f"M{m}-USD", 4, 100_000, 10, 10, PRICE, 10**15) for m in range(1, MARKETS + 1)]
    consensus = hashlib.sha256(VALIDATOR_KEY).digest()[:20]
    return json.dumps({
        "bank": {"balances": []}, "markets": {"markets": markets},
        "bridge": {"eth_chain_id": 31337, "vault": "0x" + "11" * 20, "validators": [
            {"consensus_address": consensus.hex().upper(), "operator": "0x" + operator.hex(),
             "eth_address": "0x" + "22" * 20, "power": 10}]},
        "anchor": {"interval_blocks": INTERVAL}}).encode()


class _StepTimer:
    """Wraps the Application's anchor step to time it alone."""

    def __init__(self, app: Application) -> None:
        self.seconds: list[float] = []
        self._step = app._anchor

        def timed(block: Any, ctx: Any) -> Any:
            started = time.perf_counter()
            events = self._step(block, ctx)
            if events:
                self.seconds.append(time.perf_counter() - started)
            return events

        app._anchor = timed  # type: ignore[method-assign]


def _until_anchor(app: Application, height: int, timer: _StepTimer, txs: list[bytes]) -> int:
    anchors = len(timer.seconds)
    while len(timer.seconds) == anchors:
        height += 1
        _, response = _finalize(app, height, txs)
        failed = [r.log for r in response.tx_results if r.code != 0]
        if failed:
            raise BenchmarkFailed(f"{len(failed)} txs failed at height {height}, e.g. {failed[0]}")
        txs = [_oracle({m: PRICE for m in range(1, MARKETS + 1)})]
    return height


def run(size: int = 0) -> dict[str, Any]:
    funded = size if size > 0 else 100_000
    with tempfile.TemporaryDirectory() as directory:
        store = CommittedStore(Path(directory) / "db")
        app = Application(store)
        request = abci_pb.RequestInitChain(chain_id="bench", app_state_bytes=_genesis(bytes(20)))
        request.validators.add(pub_key=keys_pb.PublicKey(ed25519=VALIDATOR_KEY), power=10)
        request.consensus_params.abci.vote_extensions_enable_height = 1
        app.init_chain(request)
        _finalize(app, 1, [_oracle({m: PRICE for m in range(1, MARKETS + 1)})])

        setup_started = time.perf_counter()
        senders = [_key(i) for i in range(TRANSFERS)]
        addresses = [k.address for k in senders] + [
            hashlib.sha256(i.to_bytes(8, "big")).digest()[:20] for i in range(TRANSFERS, funded)]
        cache = CacheStore(store)
        bank, margin = BankKeeper(cache), MarginKeeper(cache)
        for address in addresses:
            bank.mint(SubaccountId(address, 0), FUNDED_MICRO_USDC)
        for i in range(min(HOLDERS, funded) // 2):  # pairs: one long, one short, sizes summing to zero
            lots, market_id = 100 + i % 7, 1 + i % MARKETS
            long_owner, short_owner = SubaccountId(addresses[-2 * i - 1], 0), SubaccountId(addresses[-2 * i - 2], 0)
            margin.set_position(Position(long_owner, market_id, lots, lots * 650_000 * 100))
            margin.set_position(Position(short_owner, market_id, -lots, -lots * 650_000 * 100))
        AnchorKeeper(cache).mark_changed(2, addresses)
        info = CommitInfo(2, next_app_hash(store.last_commit().app_hash, 2, cache.writes), START_MS + 1_000)
        store.commit(cache.writes, info)
        app.signers.close()
        app = Application(store)
        timer = _StepTimer(app)
        setup_s = time.perf_counter() - setup_started

        height = _until_anchor(app, 2, timer, [])  # the first anchor: everyone is new
        full_s = timer.seconds[-1]
        steady_s = []
        for interval in range(INTERVALS):  # each: 1,000 transfers and an oracle move, then the anchor
            time_ms = START_MS + (height + 1) * 500
            transfers = [sign_tx(key, Tx("bench", key.address, time_ms + i, (
                Transfer(0, SubaccountId(addresses[(i + TRANSFERS) % funded], 0), 1_000_000 + i),)))
                for i, key in enumerate(senders)]
            moved = _oracle({m: PRICE * (1000 + interval + 1) // 1000 for m in range(1, MARKETS + 1)})
            height = _until_anchor(app, height, timer, [moved, *transfers])
            steady_s.append(timer.seconds[-1])
        keeper = AnchorKeeper(store)
        record = keeper.latest()
        assert record is not None
        leaves = keeper.leaf_count()
        rebuild_started = time.perf_counter()
        BalanceTree(keccak256, keeper.leaves())
        rebuild_s = time.perf_counter() - rebuild_started
        hashes_started = time.perf_counter()
        for i in range(10_000):
            keccak256(i.to_bytes(64, "big"))
        keccak_per_s = 10_000 / (time.perf_counter() - hashes_started)
        app.signers.close()
        store.close()
    return {
        "bench": "anchor",
        "funded_subaccounts": funded,
        "position_holders": min(HOLDERS, funded),
        "leaves": leaves,
        "changed_addresses_per_interval": min(2 * TRANSFERS, funded) + min(HOLDERS, funded),
        "anchor_ms": round(statistics.median(steady_s) * 1000, 1),
        "anchor_max_ms": round(max(steady_s) * 1000, 1),
        "full_anchor_ms": round(full_s * 1000, 1),
        "tree_rebuild_ms": round(rebuild_s * 1000, 1),
        "goal_anchor_ms": 100,
        "keccak_per_s": round(keccak_per_s),
        "anchor_nonce": record.nonce,
        "setup_s": round(setup_s, 1),
    }
