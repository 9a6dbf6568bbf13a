"""`anchor` benchmark: the cost an anchor adds to its block, with N funded subaccounts (default
100,000, one address each), on the real Application over LevelDB.

Setup (not timed): genesis with the bridge and anchoring every 10 blocks, one validator, 4
markets; N addresses funded, 1,000 of them holding positions in long/short pairs, written
through the keepers and committed as one block (app/driver.py, `write_state`: marked as written
for the next anchor, as the blocks that funded them would have); the app restarted on it.

Timed, the anchor step alone (step 0 of FinalizeBlock), run on a branch of the committed state
just before the block that anchors (which then anchors untimed):
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
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from app.driver import SOLE_VALIDATOR, InProcessChain, priced_genesis
from app.store import CacheStore
from bench.common import PRICE, BenchmarkFailed, bench_markets, same_price
from genesis.app_state import build_app_state
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.anchor.msg_server import CommittedState, anchor_due, anchor_step
from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.context import BlockContext
from modules.margin.keeper import MarginKeeper
from modules.margin.types import Position
from modules.staking.keeper import StakingKeeper
from modules.store import KVStore
from modules.types import SubaccountId
from wire import PrivateKey
from wire.codec import Tx, sign_tx
from wire.crypto import keccak256

MARKETS = 4
INTERVAL = 10
HOLDERS = 1_000
TRANSFERS = 1_000
INTERVALS = 5  # steady-state anchors measured; `anchor_ms` is their median
FUNDED_MICRO_USDC = 10_000_000_000


def _key(index: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"anchor bench " + index.to_bytes(8, "big")).digest())


def _app_state(operator: bytes) -> dict[str, Any]:
    consensus = hashlib.sha256(SOLE_VALIDATOR[0]).digest()[:20]
    return {**build_app_state([], bench_markets(MARKETS)),
            "bridge": {"eth_chain_id": 31337, "vault": "0x" + "11" * 20, "validators": [
                {"consensus_address": consensus.hex().upper(), "operator": "0x" + operator.hex(),
                 "eth_address": "0x" + "22" * 20, "power": SOLE_VALIDATOR[1]}]},
            "anchor": {"interval_blocks": INTERVAL}}


def _funding(addresses: list[bytes]) -> Callable[[KVStore], None]:
    """What writes the set-up: every address funded, the last HOLDERS holding positions in pairs."""

    def write(store: KVStore) -> None:
        bank, margin = BankKeeper(store), MarginKeeper(store)
        for address in addresses:
            bank.mint(SubaccountId(address, 0), FUNDED_MICRO_USDC)
        for i in range(min(HOLDERS, len(addresses)) // 2):  # pairs: one long, one short, sizes summing to zero
            lots, market_id = 100 + i % 7, 1 + i % MARKETS
            long_owner, short_owner = SubaccountId(addresses[-2 * i - 1], 0), SubaccountId(addresses[-2 * i - 2], 0)
            margin.set_position(Position(long_owner, market_id, lots, lots * 650_000 * 100))
            margin.set_position(Position(short_owner, market_id, -lots, -lots * 650_000 * 100))

    return write


def _timed_anchor_s(chain: InProcessChain) -> float:
    """The anchor step of the next block alone, on a branch of the committed state, its tree
    rebuilt from the stored leaves as the Application holds it."""
    last = chain.store.last_commit()
    tree = BalanceTree(keccak256, AnchorKeeper(chain.store).leaves())
    ctx = BlockContext(chain.chain_id, last.height + 1, chain.next_time_ms())
    state = CommittedState(last.height, last.app_hash, last.block_time_ms)
    started = time.perf_counter()
    branch = CacheStore(chain.store)
    events = anchor_step(branch, tree, ctx, state, StakingKeeper(branch))
    seconds = time.perf_counter() - started
    if not events:
        raise BenchmarkFailed(f"no anchor at height {ctx.height}")
    return seconds


def _until_anchor(chain: InProcessChain, txs: list[bytes]) -> float:
    """Blocks (the first carrying `txs`, the others the oracle's unchanged prices) until one
    anchors; the seconds of its anchor step."""
    while True:
        last = chain.store.last_commit()
        due = anchor_due(chain.store, CommittedState(last.height, last.app_hash, last.block_time_ms))
        seconds = _timed_anchor_s(chain) if due else 0.0
        failed = [r.log for r in chain.block(txs).tx_results if r.code != 0]
        if failed:
            raise BenchmarkFailed(f"{len(failed)} txs failed at height {chain.height}, e.g. {failed[0]}")
        if due:
            return seconds
        txs = [chain.oracle_tx(same_price(MARKETS, PRICE))]


def run(size: int = 0) -> dict[str, Any]:
    funded = size if size > 0 else 100_000
    with tempfile.TemporaryDirectory() as directory:
        with InProcessChain.start(Path(directory) / "db", priced_genesis("bench", _app_state(bytes(20)))) as chain:
            chain.block(prices=same_price(MARKETS, PRICE))
            setup_started = time.perf_counter()
            senders = [_key(i) for i in range(TRANSFERS)]
            addresses = [k.address for k in senders] + [
                hashlib.sha256(i.to_bytes(8, "big")).digest()[:20] for i in range(TRANSFERS, funded)]
            chain.write_state(_funding(addresses))
            setup_s = time.perf_counter() - setup_started

            full_s = _until_anchor(chain, [])  # the first anchor: everyone is new
            steady_s = []
            for interval in range(INTERVALS):  # each: 1,000 transfers and an oracle move, then the anchor
                time_ms = chain.next_time_ms()
                transfers = [sign_tx(key, Tx("bench", key.address, time_ms + i, (
                    Transfer(0, SubaccountId(addresses[(i + TRANSFERS) % funded], 0), 1_000_000 + i),)))
                    for i, key in enumerate(senders)]
                moved = chain.oracle_tx(same_price(MARKETS, PRICE * (1000 + interval + 1) // 1000))
                steady_s.append(_until_anchor(chain, [moved, *transfers]))
            keeper = AnchorKeeper(chain.store)
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
