"""A recorded chain and its replay: the regression fixture for rewrites that must not change a rule.

`record` drives the real Application in process (app/driver.py) over a temporary LevelDB, as the
simulation does (sim/runner.py: CheckTx, PrepareProposal with the validators' price votes,
FinalizeBlock, Commit, every invariant after every block), from a fixed seed and a genesis of many
traders on every market. For each block it writes the block time, the block's raw txs as proposed
(the oracle tx first), each tx's result code, and the digests of the state view
(sim/state_view.py): one per module section and one over them all. The app hash is written too,
for information only: it commits to the store layout, which a rewrite may change.

`replay` feeds the recorded blocks (heights 1, 2, ... in order) to a fresh Application (InitChain,
then FinalizeBlock and Commit per block; no CheckTx or proposal, which change no committed state)
and compares the codes and digests after every block, stopping at the first block that differs.

    python -m sim.recording record             # writes tests/replay/chain-2000.jsonl.gz
    python -m sim.recording replay             # the same comparison as the test, with timings

The file is gzipped JSON lines: a header (format, seed, the InitChain request, the accounts the
view lists, the counts of what the chain did), then one line per block.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from app.driver import InProcessChain
from app.oracle_votes import is_oracle_tx
from modules.module import InvariantContext
from modules.types import INSURANCE_FUND
from sim.genesis import SimGenesis, random_genesis
from sim.invariants import first_broken
from sim.runner import Simulation, run_block
from sim.state_view import section_digests, state_digest, state_sections
from wire.pb import abci_pb

FORMAT = "perpchain-recorded-chain/1"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURE = ROOT / "tests" / "replay" / "chain-2000.jsonl.gz"
DEFAULT_SEED = 20_260_601
DEFAULT_BLOCKS = 2_000
DEFAULT_TRADERS = 60
SLOW_EVERY_BLOCKS = 10  # the view's slow sections (state_view.SLOW_SECTIONS) at every 10th height
SECTION_DIGEST_HEX = 16  # per-section digests are cut to 64 bits: enough to name the section that differs
# More one-way leveraged bets and withdrawals than the simulation's default mix, so price shocks
# liquidate and the bridge queues withdrawals throughout the recording.
RECORDING_WEIGHTS = {"lever_up": 8, "withdraw": 3}
# Event types counted into the header (what the recording exercises).
COUNTED_EVENTS = ("fill", "liquidation", "insurance_fund_takeover", "funding_rate", "order_placed", "order_cancelled",
                  "order_modified", "order_expired", "conditional_triggered", "twap_child", "iceberg_refill",
                  "transfer", "withdrawal_queued", "deposit_credited", "dead_man_switch", "anchor", "oracle_price")


def recording_genesis(seed: int, traders: int) -> SimGenesis:
    return random_genesis(seed, traders_count=traders, markets_count=4)


def view_addresses(genesis: SimGenesis) -> list[bytes]:
    """Every account that can sign or hold funds in the recording: traders, validator operators,
    the insurance fund."""
    return sorted({k.address for k in genesis.traders} | {v.operator.address for v in genesis.validators}
                  | {INSURANCE_FUND.address})


@dataclass(frozen=True)
class BlockDigest:
    codes: list[int]
    state: str
    sections: dict[str, str]  # cut to SECTION_DIGEST_HEX


def digest_block(chain: InProcessChain, addresses: list[bytes], height: int, time_ms: int,
                 codes: list[int]) -> BlockDigest:
    """The view's digests after the block at `height`: every section at each SLOW_EVERY_BLOCKS-th
    height (and at genesis), the cheap ones in between."""
    slow = height % SLOW_EVERY_BLOCKS == 0
    digests = section_digests(state_sections(chain.store, chain.app.books, addresses, time_ms, slow))
    return BlockDigest(codes, state_digest(digests), {k: v[:SECTION_DIGEST_HEX] for k, v in digests.items()})


# -- recording ---------------------------------------------------------------------------------


@dataclass
class RecordingSummary:
    blocks: int = 0
    txs: int = 0
    txs_ok: int = 0
    events: dict[str, int] = field(default_factory=dict)
    first_fill_height: int = 0
    liquidation_heights: list[int] = field(default_factory=list)
    funding_heights: list[int] = field(default_factory=list)
    seconds: float = 0.0


def record(out: Path, seed: int = DEFAULT_SEED, blocks: int = DEFAULT_BLOCKS, traders: int = DEFAULT_TRADERS,
           progress: Callable[[str], None] | None = None) -> RecordingSummary:
    genesis = recording_genesis(seed, traders)
    addresses = view_addresses(genesis)
    summary = RecordingSummary()
    lines: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="perpchain-record-") as directory:
        simulation = Simulation(seed, Path(directory), RECORDING_WEIGHTS, genesis=genesis)
        chain = simulation.chain
        try:
            genesis_digest = digest_block(chain, addresses, 0, 0, [])
            for _ in range(blocks):
                block = simulation.next_input()
                response, txs = run_block(chain, block)
                broken = first_broken(InvariantContext(chain.store, chain.app.books, genesis.supply_micro_usdc))
                if broken is not None:
                    raise AssertionError(f"invariant {broken[0]} broken at height {block.height}: {broken[1]}")
                codes = [r.code for r in response.tx_results]
                digest = digest_block(chain, addresses, block.height, block.time_ms, codes)
                _count(summary, block.height, txs, response)
                lines.append({"height": block.height, "time_ms": block.time_ms,
                              "txs": [base64.b64encode(tx).decode() for tx in txs], "codes": codes,
                              "state": digest.state, "sections": digest.sections,
                              "app_hash": response.app_hash.hex()})
                if progress is not None and block.height % 200 == 0:
                    progress(f"[record] height {block.height}/{blocks} fills {summary.events.get('fill', 0)} "
                             f"liquidations {summary.events.get('liquidation', 0)}")
        finally:
            simulation.close()
    summary.seconds = time.perf_counter() - started
    header = {"format": FORMAT, "seed": seed, "blocks": blocks, "traders": traders, "weights": RECORDING_WEIGHTS,
              "init_chain": base64.b64encode(genesis.chain_genesis().request().SerializeToString()).decode(),
              "addresses": [a.hex() for a in addresses],
              "genesis_state": genesis_digest.state, "genesis_sections": genesis_digest.sections,
              "summary": summary_json(summary)}
    write_lines(out, [header, *lines])
    return summary


def write_lines(out: Path, lines: list[dict[str, Any]]) -> None:
    """Gzipped JSON lines with no name or time in the gzip header: the same recording gives the same bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as handle:
        for line in lines:
            handle.write(json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n")


def _count(summary: RecordingSummary, height: int, txs: list[bytes],
           response: abci_pb.ResponseFinalizeBlock) -> None:
    summary.blocks += 1
    user = [r for tx, r in zip(txs, response.tx_results) if not is_oracle_tx(tx)]
    summary.txs += len(user)
    summary.txs_ok += sum(1 for r in user if r.code == 0)
    for event in [*response.events, *(e for r in response.tx_results for e in r.events)]:
        if event.type in COUNTED_EVENTS:
            summary.events[event.type] = summary.events.get(event.type, 0) + 1
        if event.type == "fill" and not summary.first_fill_height:
            summary.first_fill_height = height
        if event.type == "liquidation" and height not in summary.liquidation_heights:
            summary.liquidation_heights.append(height)
        if event.type == "funding_rate" and height not in summary.funding_heights:
            summary.funding_heights.append(height)


def summary_json(summary: RecordingSummary) -> dict[str, Any]:
    return {"blocks": summary.blocks, "txs": summary.txs, "txs_ok": summary.txs_ok,
            "events": dict(sorted(summary.events.items())), "first_fill_height": summary.first_fill_height,
            "liquidation_heights": summary.liquidation_heights, "funding_heights": summary.funding_heights}


# -- replay ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    header: dict[str, Any]
    blocks: list[dict[str, Any]]

    @property
    def addresses(self) -> list[bytes]:
        return [bytes.fromhex(a) for a in self.header["addresses"]]


def load(path: Path = DEFAULT_FIXTURE) -> Recording:
    with gzip.open(path, "rb") as handle:
        lines = [json.loads(line) for line in handle]
    header = lines[0]
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a recording of format {FORMAT!r} (found {header.get('format')!r})")
    return Recording(header, lines[1:])


@dataclass(frozen=True)
class Mismatch:
    height: int  # 0: the state InitChain left
    what: str

    def report(self) -> str:
        return f"first difference at height {self.height}: {self.what}"


def compare(recorded: dict[str, Any], found: BlockDigest, recorded_codes: list[int] | None) -> str | None:
    """What differs between a recorded block and the replayed one, or None."""
    problems = []
    if recorded_codes is not None and recorded_codes != found.codes:
        differing = [f"tx {i}: recorded code {a}, now {b}" for i, (a, b) in enumerate(zip(recorded_codes, found.codes))
                     if a != b]
        if len(recorded_codes) != len(found.codes):
            differing.append(f"{len(recorded_codes)} results recorded, {len(found.codes)} now")
        problems.append("result codes differ (" + "; ".join(differing) + ")")
    if recorded["state"] != found.state:
        sections = sorted(set(recorded["sections"]) | set(found.sections))
        differing = [s for s in sections if recorded["sections"].get(s) != found.sections.get(s)]
        problems.append(f"state view differs in section(s) {', '.join(differing) or '(none: the combined digest only)'}")
    return "; ".join(problems) or None


def replay(recording: Recording, data: Path, on_block: Callable[[int], None] | None = None,
           app_hash_differs: list[int] | None = None) -> Iterator[Mismatch]:
    """Replay every block into a fresh app under `data`; yields the first mismatch (then stops).
    `app_hash_differs` collects the heights whose app hash is not the recorded one: information
    only (a store-layout change changes every one of them)."""
    chain = InProcessChain.open(data)
    addresses = recording.addresses
    try:
        request = abci_pb.RequestInitChain()
        request.ParseFromString(base64.b64decode(recording.header["init_chain"]))
        chain.init_chain(request)
        at_genesis = digest_block(chain, addresses, 0, 0, [])
        problem = compare({"state": recording.header["genesis_state"], "sections": recording.header["genesis_sections"]},
                          at_genesis, None)
        if problem is not None:
            yield Mismatch(0, problem)
            return
        for block in recording.blocks:
            response = chain.block([base64.b64decode(tx) for tx in block["txs"]], block["time_ms"])
            found = digest_block(chain, addresses, block["height"], block["time_ms"],
                                 [r.code for r in response.tx_results])
            if app_hash_differs is not None and response.app_hash.hex() != block["app_hash"]:
                app_hash_differs.append(block["height"])
            problem = compare(block, found, block["codes"])
            if problem is None and chain.app.mempool_books.dump() != chain.app.books.dump():
                problem = "the mempool's books did not follow the Commit: they differ from the block's"
            if problem is not None:
                yield Mismatch(block["height"], problem)
                return
            if on_block is not None:
                on_block(block["height"])
    finally:
        chain.close()


def first_mismatch(recording: Recording, data: Path, app_hash_differs: list[int] | None = None) -> Mismatch | None:
    return next(replay(recording, data, app_hash_differs=app_hash_differs), None)


# -- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.recording", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record a chain (only when a rule changed on purpose)")
    rec.add_argument("--out", type=Path, default=DEFAULT_FIXTURE)
    rec.add_argument("--seed", type=int, default=DEFAULT_SEED)
    rec.add_argument("--blocks", type=int, default=DEFAULT_BLOCKS)
    rec.add_argument("--traders", type=int, default=DEFAULT_TRADERS)
    rep = commands.add_parser("replay", help="replay a recording, report the first difference and the timings")
    rep.add_argument("file", type=Path, nargs="?", default=DEFAULT_FIXTURE)
    args = parser.parse_args(argv)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if args.command == "record":
        summary = record(args.out, args.seed, args.blocks, args.traders, progress=log)
        print(json.dumps({"out": str(args.out), "bytes": args.out.stat().st_size, "seconds": round(summary.seconds, 1),
                          **summary_json(summary)}))
        return 0
    recording = load(args.file)
    started, cpu = time.perf_counter(), time.process_time()
    app_hash_differs: list[int] = []
    with tempfile.TemporaryDirectory(prefix="perpchain-replay-") as directory:
        mismatch = first_mismatch(recording, Path(directory), app_hash_differs)
    print(json.dumps({"blocks": len(recording.blocks), "seconds": round(time.perf_counter() - started, 1),
                      "cpu_seconds": round(time.process_time() - cpu, 1),
                      "first_app_hash_not_as_recorded": app_hash_differs[0] if app_hash_differs else None,
                      "mismatch": None if mismatch is None else mismatch.report()}))
    return 0 if mismatch is None else 1


if __name__ == "__main__":
    sys.exit(main())
