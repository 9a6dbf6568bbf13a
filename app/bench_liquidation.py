"""`liquidation` benchmark: FinalizeBlock of the real Application over LevelDB with N subaccounts
holding positions across 10 markets (default 100,000), no resting orders, an empty insurance fund.

Setup (not timed): genesis with 10 markets and one validator; positions written straight through
the keepers in long/short pairs (each pair sums to zero), leverage spread evenly from 2x to 15x,
each subaccount indexed as the chain would after its trade; committed in one batch; the app
restarted on it.

Timed: one FinalizeBlock whose oracle moves every market by -0.1% (`calm_finalize_ms`), then one
that moves every market by -10%, the per-block clamp (`shock_finalize_ms`), then more blocks at
the shocked price until one carries nothing (no `liquidations_carried` event: nobody left under
maintenance and no due subaccount left unevaluated; at most MAX_SHOCK_BLOCKS). Each block
liquidates at most `liquidations_per_block` subaccounts and evaluates at most
`liquidation_evaluations_per_block` due ones; the rest carry. Figures:
- `shock_blocks_to_resolve`: the shock block and those after it until no subaccount with a
  position is under maintenance (checked untimed after each block);
- `shock_blocks_to_drain`: until a block carries nothing;
- `shock_max_finalize_ms`: the slowest FinalizeBlock of all of them; `shock_max_block_cpu_ms`:
  the most CPU time of this thread in one of them (FinalizeBlock and Commit; steadier than wall
  time on a shared machine, and without LevelDB's background threads);
- `liquidations`, `adl_trades` (`deleveraging` events) over them;
- `liquidation_us`: this thread's CPU time in the blocks until resolved per liquidated
  subaccount (evaluating the healthy due ones included);
- `left_under_maintenance`: subaccounts with a position under maintenance after the last block,
  by a scan of every subaccount.
"""

from __future__ import annotations

import gc
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from app.application import Application
from app.oracle_votes import encode_extension, oracle_tx
from app.store import CacheStore, CommitInfo, CommittedStore, next_app_hash
from genesis.markets import market as market_entry
from modules.bank.keeper import BankKeeper
from modules.context import BlockContext
from modules.liquidation.engine import _reindex
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.margin.types import Position
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.types import SubaccountId
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb  # on the path once wire.pb is imported

MARKETS = 10
PRICE = 65_000_000_000
VALIDATOR_KEY = bytes(range(32))
START_MS = 1_800_000_000_000
MAX_SHOCK_BLOCKS = 100  # a run that needs more reports null blocks


def _oracle(prices: dict[int, int]) -> bytes:
    commit = abci_pb.ExtendedCommitInfo(round=0)
    commit.votes.add(validator=abci_pb.Validator(address=hashlib.sha256(VALIDATOR_KEY).digest()[:20], power=10),
                     vote_extension=encode_extension(prices), extension_signature=b"\x01" * 64, block_id_flag=2)
    return oracle_tx(commit)


def _finalize(app: Application, height: int, txs: list[bytes]) -> tuple[float, abci_pb.ResponseFinalizeBlock]:
    stamp = Timestamp()
    stamp.FromMilliseconds(START_MS + height * 500)
    started = time.perf_counter()
    response = app.finalize_block(abci_pb.RequestFinalizeBlock(height=height, time=stamp, txs=txs))
    elapsed = time.perf_counter() - started
    app.commit(abci_pb.RequestCommit())
    return elapsed, response


def _under_maintenance(store: CommittedStore, owners: list[SubaccountId]) -> list[SubaccountId]:
    """Those of `owners` with a position whose equity is below maintenance, as committed."""
    markets, oracle, bank, margin = MarketsKeeper(store), OracleKeeper(store), BankKeeper(store), MarginKeeper(store)
    under = []
    for owner in owners:
        if next(margin.positions(owner), None) is None:
            continue
        risk = account_risk(owner, markets, bank, margin, oracle)
        if risk.equity_micro_usdc < risk.maintenance_micro_usdc:
            under.append(owner)
    return under


def run(size: int = 0) -> dict[str, Any]:
    subaccounts = size if size > 0 else 100_000
    subaccounts -= subaccounts % 2
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "db"
        store = CommittedStore(path)
        app = Application(store)
        markets = [market_entry(m, f"M{m}-USD", 4, 100_000, 10, 10, PRICE, 10**15) for m in range(1, MARKETS + 1)]
        request = abci_pb.RequestInitChain(chain_id="bench", app_state_bytes=json.dumps(
            {"bank": {"balances": []}, "markets": {"markets": markets}}).encode())
        request.validators.add(pub_key=keys_pb.PublicKey(ed25519=VALIDATOR_KEY), power=10)
        request.consensus_params.abci.vote_extensions_enable_height = 1
        app.init_chain(request)
        _finalize(app, 1, [_oracle({m: PRICE for m in range(1, MARKETS + 1)})])

        setup_started = time.perf_counter()
        cache = CacheStore(store)
        bank, margin, books = BankKeeper(cache), MarginKeeper(cache), app.books
        ctx = BlockContext("bench", 2, START_MS + 1_000)
        owners = []
        for i in range(subaccounts):
            owner = SubaccountId(hashlib.sha256(i.to_bytes(8, "big")).digest()[:20], 0)
            market_id = 1 + (i // 2) % MARKETS
            leverage_tenths = 20 + (i // 2) % 131  # 2.0x .. 15.0x
            lots = 100 + i % 7  # about 0.1 BTC-like: 6,500 USDC
            notional = lots * 650_000 * 100
            bank.mint(owner, notional * 10 // leverage_tenths)
            sign = 1 if i % 2 == 0 else -1
            margin.set_position(Position(owner, market_id, sign * lots, sign * notional))
            owners.append(owner)
            if i % 2 == 1:  # pair it: the short takes the long's size exactly
                long_owner = owners[-2]
                long_position = margin.position(long_owner, market_id)
                margin.set_position(Position(owner, market_id, -long_position.size_lots, -long_position.cost_micro_usdc))
        for owner in owners:
            _reindex(cache, books, ctx, owner, 0)
        info = CommitInfo(2, next_app_hash(store.last_commit().app_hash, 2, cache.writes), START_MS + 1_000)
        store.commit(cache.writes, info)
        app.signers.close()
        app = Application(store)
        # As `perpchain node` does after start-up (app/node.py): what was loaded leaves the
        # collector's reach, so a full collection over the set-up's objects does not land in a
        # timed block by chance (it made the calm block 1.4 or 20 ms depending on allocations).
        gc.collect()
        gc.freeze()
        setup_s = time.perf_counter() - setup_started

        calm_s, _ = _finalize(app, 3, [_oracle({m: PRICE * 999 // 1000 for m in range(1, MARKETS + 1)})])
        shocked = _oracle({m: PRICE * 9 // 10 for m in range(1, MARKETS + 1)})
        kinds: dict[str, int] = {}
        block_ms: list[float] = []
        block_cpu_ms: list[float] = []
        cpu_s = 0.0
        under = owners  # who may still be under maintenance (a subaccount above it stays so at one price)
        resolved_at = 0
        drained = False
        while not drained and len(block_ms) < MAX_SHOCK_BLOCKS:
            cpu_started = time.thread_time()
            elapsed, response = _finalize(app, 4 + len(block_ms), [shocked])
            block_cpu_ms.append((time.thread_time() - cpu_started) * 1000)
            if not resolved_at:
                cpu_s += block_cpu_ms[-1] / 1000
            block_ms.append(elapsed * 1000)
            for event in response.events:
                kinds[event.type] = kinds.get(event.type, 0) + 1
            drained = not any(event.type == "liquidations_carried" for event in response.events)
            if not resolved_at:
                under = _under_maintenance(store, under)
                resolved_at = len(block_ms) if not under else 0
        left_under = len(_under_maintenance(store, owners))
        app.signers.close()
        store.close()
    return {
        "bench": "liquidation",
        "subaccounts": subaccounts,
        "markets": MARKETS,
        "calm_finalize_ms": round(calm_s * 1000, 1),
        "shock_finalize_ms": round(block_ms[0], 1),
        "shock_max_finalize_ms": round(max(block_ms), 1),
        "shock_max_block_cpu_ms": round(max(block_cpu_ms), 1),
        "shock_blocks_to_resolve": resolved_at or None,
        "shock_blocks_to_drain": len(block_ms) if drained else None,
        "goal_calm_ms": 20,
        "goal_shock_ms": 1000,
        "goal_blocks": 30,
        "liquidations": kinds.get("liquidation", 0),
        "adl_trades": kinds.get("deleveraging", 0),
        "liquidation_us": round(cpu_s * 1e6 / max(1, kinds.get("liquidation", 0))),
        "left_under_maintenance": left_under,
        "setup_s": round(setup_s, 1),
    }
