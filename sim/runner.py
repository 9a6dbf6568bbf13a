"""The simulation loop: the real Application over LevelDB, block by block, no consensus (driven
through app/driver.py).

A block's life here, as a network would give it:
  1. the generator moves prices, the validators vote them, and the generator draws txs;
  2. each tx goes through CheckTx (the mempool); refused ones are dropped, except the bad
     inputs, which a byzantine proposer puts in the block anyway so FinalizeBlock must refuse them;
  3. PrepareProposal builds the block (oracle tx first, class order), checked by the same rule
     ProcessProposal applies;
  4. FinalizeBlock, Commit;
  5. every invariant on the committed state (and at an anchor, the anchor against a from-scratch
     recomputation of the state it anchored).
The first broken invariant stops the run with the seed, the height and a reproduction shrunk to
the fewest of that block's txs that still break it (replayed from an export of the state before).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from app.driver import InProcessChain, votes_commit
from app.oracle_votes import is_oracle_tx
from app.ordering import proposal_order_error
from app.state_export import prefix_digests, read_export
from modules.anchor.invariants import (
    anchor_differs_from,
    anchor_exceeds,
    chain_claim_micro_usdc,
    claimable_from_scratch,
)
from modules.bridge.keeper import BridgeKeeper
from modules.module import Invariant, InvariantContext
from sim.genesis import SimGenesis, random_genesis
from sim.invariants import INVARIANTS, first_broken
from sim.operations import Draw, OperationMix
from wire.crypto import keccak256
from wire.pb import abci_pb

MAX_BLOCK_TX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class BlockInput:
    height: int
    time_ms: int
    votes: abci_pb.ExtendedCommitInfo
    draws: tuple[Draw, ...]


def run_block(chain: InProcessChain, block: BlockInput) -> tuple[abci_pb.ResponseFinalizeBlock, list[bytes]]:
    """The block as a network gives it: each drawn tx through CheckTx (refused ones dropped, but
    the bad inputs, which a byzantine proposer puts in anyway so FinalizeBlock must refuse them),
    PrepareProposal with the votes (checked by the rule ProcessProposal applies), FinalizeBlock,
    Commit. Returns the FinalizeBlock response and the block's txs."""
    checked = chain.check_all([draw.raw for draw in block.draws])
    admitted = [draw.raw for draw, response in zip(block.draws, checked) if response.code == 0 or draw.kind == "bad"]
    txs = chain.propose(admitted, block.votes, MAX_BLOCK_TX_BYTES)
    problem = proposal_order_error([tx for tx in txs if not is_oracle_tx(tx)], chain.app.ordering_seed)
    if problem is not None:
        raise AssertionError(f"PrepareProposal built a block ProcessProposal rejects: {problem}")
    return chain.block(txs, block.time_ms), txs


@dataclass
class Broken:
    seed: int
    height: int
    invariant: str
    message: str
    block_draws: tuple[Draw, ...]
    minimal: tuple[Draw, ...] | None = None

    def report(self) -> str:
        lines = [f"invariant {self.invariant} broken at height {self.height} (seed {self.seed}): {self.message}",
                 f"reproduce: perpchain simulate-chain --seed {self.seed} --blocks {self.height}"]
        if self.minimal is not None:
            if self.minimal:
                lines.append(f"minimal reproduction: {len(self.minimal)} of the block's {len(self.block_draws)} txs "
                             "still break it on the state before the block:")
                lines += [f"  {d.kind}: {d.summary}" for d in self.minimal]
            else:
                lines.append(f"minimal reproduction: none of the block's {len(self.block_draws)} txs is needed; "
                             "the block itself (prices, expiries, triggers, funding, liquidation) breaks it")
        return "\n".join(lines)


@dataclass
class SimResult:
    seed: int
    blocks: int
    app_hashes: list[str] = field(default_factory=list)
    txs: int = 0
    txs_ok: int = 0
    refused_in_block: dict[int, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    deposits_made: int = 0
    deposits_credited: int = 0
    broken: Broken | None = None

    def summary(self) -> dict[str, object]:
        done = len(self.app_hashes)
        return {"seed": self.seed, "blocks": done, "txs": self.txs, "txs_ok": self.txs_ok,
                "ops_per_block": round(self.txs / done, 2) if done else 0,
                "blocks_per_s": round(done / self.seconds, 1) if self.seconds else 0,
                "refused_in_block_by_code": {str(k): v for k, v in sorted(self.refused_in_block.items())},
                "events": dict(sorted(self.events.items())),
                "deposits_made": self.deposits_made, "deposits_credited": self.deposits_credited,
                "final_app_hash": self.app_hashes[-1] if self.app_hashes else "",
                "broken": None if self.broken is None else {
                    "invariant": self.broken.invariant, "height": self.broken.height, "message": self.broken.message}}


class Simulation:
    """A seeded run: genesis, the operation mix and the node(s) it drives."""

    def __init__(self, seed: int, root: Path, weights: dict[str, int] | None = None,
                 invariants: tuple[Invariant, ...] = INVARIANTS, chain: InProcessChain | None = None,
                 genesis: SimGenesis | None = None) -> None:
        """A new chain at genesis under `root` / "node", or `chain` as it stands (a restored export).
        `genesis`: another than the seed's own `random_genesis(seed)`."""
        self.seed = seed
        self.genesis = genesis or random_genesis(seed)
        self.mix = OperationMix(self.genesis, random.Random(seed * 7_919 + 1))
        if weights:
            self.mix.weights.update(weights)
        self.invariants = invariants
        self.chain = chain or InProcessChain.start(root / "node", self.genesis.chain_genesis())

    def next_input(self) -> BlockInput:
        height = self.chain.height + 1
        time_ms = self.mix.next_time_ms()
        self.mix.move_prices()
        votes = votes_commit([(v.consensus_address, v.power, prices) for v, prices in self.mix.votes()])
        draws = tuple(self.mix.block_txs(height, time_ms, self.chain.store, self.chain.app.books)) if height > 1 else ()
        return BlockInput(height, time_ms, votes, draws)

    def run(self, blocks: int, result: SimResult, on_block: Callable[[int, SimResult], None] | None = None,
            twins: Sequence[InProcessChain] = ()) -> None:
        started = time.perf_counter()
        try:
            for _ in range(blocks):
                block = self.next_input()
                broken = self.step(block, result, twins)
                if broken is not None:
                    result.broken = broken
                    return
                result.deposits_made = self.mix.deposits_made
                if on_block is not None:
                    on_block(block.height, result)
        finally:
            result.seconds += time.perf_counter() - started

    def step(self, block: BlockInput, result: SimResult, twins: Sequence[InProcessChain] = ()) -> Broken | None:
        expected_anchor = self._anchor_expected(block.height)
        response, txs = run_block(self.chain, block)
        result.app_hashes.append(response.app_hash.hex())
        for twin in twins:
            twin_response, _ = run_block(twin, block)
            if twin_response.app_hash != response.app_hash:
                return Broken(self.seed, block.height, "export-import/app-hash",
                              f"the imported node computed {twin_response.app_hash.hex()}, the original "
                              f"{response.app_hash.hex()}", block.draws)
        user_txs = [r for tx, r in zip(txs, response.tx_results) if not is_oracle_tx(tx)]
        result.txs += len(user_txs)
        result.txs_ok += sum(1 for r in user_txs if r.code == 0)
        for r in user_txs:
            if r.code:
                result.refused_in_block[r.code] = result.refused_in_block.get(r.code, 0) + 1
        for event in [*response.events, *(e for r in response.tx_results for e in r.events)]:
            result.events[event.type] = result.events.get(event.type, 0) + 1
        found = first_broken(InvariantContext(self.chain.store, self.chain.app.books, self.genesis.supply_micro_usdc),
                             self.invariants)
        if found is None and expected_anchor is not None:
            claims, chain_claim = expected_anchor
            if (message := anchor_differs_from(self.chain.store, claims, keccak256)) is not None:
                found = ("anchor/matches-recomputation", message)
            elif (message := anchor_exceeds(self.chain.store, chain_claim)) is not None:
                found = ("anchor/within-chain-claim", message)
        if found is not None:
            return Broken(self.seed, block.height, found[0], found[1], block.draws)
        result.deposits_credited = BridgeKeeper(self.chain.store).next_deposit_nonce() - 1
        return None

    def _anchor_expected(self, height: int) -> tuple[dict[bytes, int], int] | None:
        """Before the block after an anchor height: the claimable amounts recomputed from scratch,
        and the chain's claim on the vault the anchor's total must stay within."""
        previous = height - 1
        if previous > 0 and previous % self.genesis.anchor_interval_blocks == 0:
            return claimable_from_scratch(self.chain.store), chain_claim_micro_usdc(self.chain.store)
        return None

    def close(self) -> None:
        self.chain.close()


def simulate_chain(seed: int, blocks: int, root: Path, weights: dict[str, int] | None = None,
                   invariants: tuple[Invariant, ...] = INVARIANTS, shrink: bool = True,
                   on_block: Callable[[int, SimResult], None] | None = None) -> SimResult:
    result = SimResult(seed, blocks)
    simulation = Simulation(seed, root / "run", weights, invariants)
    try:
        simulation.run(blocks, result, on_block)
    finally:
        simulation.close()
    if result.broken is not None and shrink:
        result.broken.minimal = shrink_failure(seed, result.broken, root / "shrink", weights, invariants)
    return result


def shrink_failure(seed: int, broken: Broken, root: Path, weights: dict[str, int] | None,
                   invariants: tuple[Invariant, ...]) -> tuple[Draw, ...]:
    """Replay the seed to the block before the failure, export that state, then drop the failing
    block's txs one at a time, keeping each drop after which the same invariant still breaks."""
    replay = Simulation(seed, root / "replay", weights, invariants)
    try:
        for _ in range(broken.height - 1):
            replay.step(replay.next_input(), SimResult(seed, 0))
        block = replay.next_input()
        assert block.draws == broken.block_draws, "the replay drew a different block: the run is not deterministic"
        before = replay.chain.export()
    finally:
        replay.close()

    def still_breaks(draws: tuple[Draw, ...], attempt: int) -> bool:
        where = root / f"try-{attempt}"
        trial = Simulation(seed, where, weights, invariants, InProcessChain.from_export(before, where))
        try:
            found = trial.step(BlockInput(block.height, block.time_ms, block.votes, draws), SimResult(seed, 0))
            return found is not None and found.invariant == broken.invariant
        finally:
            trial.close()

    kept = broken.block_draws
    attempt = 0
    index = 0
    while index < len(kept):
        attempt += 1
        candidate = kept[:index] + kept[index + 1:]
        if still_breaks(candidate, attempt):
            kept = candidate
        else:
            index += 1
    return kept


@dataclass
class ExportImportCheck:
    seed: int
    export_height: int
    prefixes: dict[str, str]  # prefix -> digest, equal on both nodes at the export height
    differing_prefixes: list[str]
    result: SimResult  # the run on from the export, each block compared between the two nodes


def check_export_import(seed: int, blocks: int, export_at: int, root: Path,
                        export_file: Path | None = None) -> ExportImportCheck:
    """Run to `export_at`, export the state to a file, import it into a fresh node, compare every
    store prefix, then drive both nodes with the same blocks to `blocks`, comparing app hashes."""
    simulation = Simulation(seed, root / "original")
    result = SimResult(seed, blocks)
    imported: InProcessChain | None = None
    try:
        simulation.run(export_at, result)
        if result.broken is not None:
            raise AssertionError(result.broken.report())
        path = export_file or root / "export.json"
        simulation.chain.export(path)
        imported = InProcessChain.from_export(read_export(path), root / "imported")
        original_digests, imported_digests = prefix_digests(simulation.chain.store), prefix_digests(imported.store)
        differing = sorted(p for p in set(original_digests) | set(imported_digests)
                           if original_digests.get(p) != imported_digests.get(p))
        simulation.run(blocks - export_at, result, twins=[imported])
    finally:
        simulation.close()
        if imported is not None:
            imported.close()
    return ExportImportCheck(seed, export_at, original_digests, differing, result)


def progress_reporter(out: Callable[[str], None], blocks: int) -> Callable[[int, SimResult], None]:
    """A line to `out` every 100 blocks and at the last one."""

    def report(height: int, result: SimResult) -> None:
        if height % 100 == 0 or height == blocks:
            out(f"[sim] seed {result.seed} height {height}/{blocks} txs {result.txs} ok {result.txs_ok}")
    return report


def hashes(result: SimResult) -> Iterator[str]:
    for height, app_hash in enumerate(result.app_hashes, start=1):
        yield f"{height} {app_hash}"
