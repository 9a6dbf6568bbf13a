"""`perpchain simulate-chain`, `perpchain export-state`, `perpchain import-state`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.state_export import BadStateExport, import_state, read_export, write_export
from app.store import CommittedStore
from client.arguments import uint_arg
from sim.runner import check_export_import, hashes, progress_reporter, simulate_chain


def add_parsers(commands: Any) -> None:
    sim = commands.add_parser("simulate-chain", help="seeded random blocks on the real app, invariants after each")
    sim.add_argument("--seed", type=uint_arg("seed"), default=1, help="the first seed (default 1)")
    sim.add_argument("--seeds", type=uint_arg("seeds"), default=1, help="how many seeds from --seed on (default 1)")
    sim.add_argument("--blocks", type=uint_arg("blocks"), default=200, help="blocks per seed (default 200)")
    sim.add_argument("--hashes-out", type=Path, help="write 'height app_hash' per block (one seed only)")
    sim.add_argument("--export-at", type=uint_arg("export-at"), default=0,
                     help="export the state at this height, import it into a fresh node and run both on, "
                          "comparing every store prefix and every app hash")
    sim.add_argument("--export-out", type=Path, help="where --export-at writes the state file")
    sim.set_defaults(func=cmd_simulate_chain)

    export = commands.add_parser("export-state", help="a stopped node's whole state at its height, as JSON")
    export.add_argument("--data", type=Path, required=True, help="the node's app data directory")
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(func=cmd_export_state)

    restore = commands.add_parser("import-state", help="a fresh app data directory from an export-state file")
    restore.add_argument("file", type=Path)
    restore.add_argument("--data", type=Path, required=True, help="an empty directory for the node's app data")
    restore.set_defaults(func=cmd_import_state)


def cmd_simulate_chain(args: argparse.Namespace) -> int:
    if args.export_at:
        return _export_import(args)
    totals: dict[str, float] = {"blocks": 0, "txs": 0, "seconds": 0.0}
    for seed in range(args.seed, args.seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix=f"perpchain-sim-{seed}-") as directory:
            result = simulate_chain(seed, args.blocks, Path(directory),
                                    on_block=progress_reporter(lambda line: print(line, file=sys.stderr, flush=True), args.blocks))
        print(json.dumps(result.summary()), flush=True)
        if args.hashes_out is not None:
            args.hashes_out.write_text("".join(line + "\n" for line in hashes(result)))
        if result.broken is not None:
            print(result.broken.report(), file=sys.stderr)
            return 1
        totals["blocks"] += len(result.app_hashes)
        totals["txs"] += result.txs
        totals["seconds"] += result.seconds
    print(json.dumps({"seeds": args.seeds, "blocks": int(totals["blocks"]),
                      "ops_per_block": round(totals["txs"] / totals["blocks"], 2) if totals["blocks"] else 0,
                      "blocks_per_s": round(totals["blocks"] / totals["seconds"], 1) if totals["seconds"] else 0,
                      "invariants_broken": 0}))
    return 0


def _export_import(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix=f"perpchain-sim-{args.seed}-") as directory:
        check = check_export_import(args.seed, args.blocks, args.export_at, Path(directory), args.export_out)
    summary = {"seed": args.seed, "export_height": check.export_height, "prefixes": len(check.prefixes),
               "differing_prefixes": check.differing_prefixes, "blocks_compared": args.blocks - args.export_at,
               "broken": None if check.result.broken is None else check.result.broken.report()}
    print(json.dumps(summary))
    return 0 if not check.differing_prefixes and check.result.broken is None else 1


def cmd_export_state(args: argparse.Namespace) -> int:
    if not (args.data / "CURRENT").is_file():  # LevelDB's marker: never create a store here
        print(f"export-state: {args.data} holds no node data (no LevelDB there)", file=sys.stderr)
        return 2
    store = CommittedStore(args.data)
    try:
        if store.last_commit().height == 0:
            print(f"export-state: {args.data} holds no committed block yet", file=sys.stderr)
            return 2
        exported = write_export(store, args.out)
    finally:
        store.close()
    print(json.dumps({"height": exported["height"], "app_hash": exported["app_hash"],
                      "keys": sum(len(v) for v in exported["stores"].values()), "out": str(args.out)}))
    return 0


def cmd_import_state(args: argparse.Namespace) -> int:
    try:
        store = import_state(read_export(args.file), args.data)
    except BadStateExport as problem:
        print(f"import-state: {problem}", file=sys.stderr)
        return 2
    info = store.last_commit()
    store.close()
    print(json.dumps({"height": info.height, "app_hash": info.app_hash.hex(), "data": str(args.data)}))
    return 0
