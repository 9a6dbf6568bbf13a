"""The seeded simulation: the real app, random blocks, every invariant after every block; its
determinism across hash seeds; state export and import; and that it catches a broken rule."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import modules.liquidation.module as liquidation
import modules.margin.clearing as clearing
from app.driver import InProcessChain
from app.state_export import BadStateExport, import_state, prefix_digests
from modules.anchor import keys as anchor_keys
from modules.auth import keys as auth_keys
from modules.auth.errors import BadSignature, NonceAlreadyUsed
from modules.bank import keys as bank_keys
from modules.bridge import keys as bridge_keys
from modules.funding import keys as funding_keys
from modules.liquidation import keys as liquidation_keys
from modules.margin import keys as margin_keys
from modules.margin.types import Position
from modules.markets import keys as markets_keys
from modules.markets.errors import UnknownMarket
from modules.markets.types import Market
from modules.oracle import keys as oracle_keys
from modules.orderbook import keys as orderbook_keys
from modules.orderbook.errors import PriceOffTick
from sim.runner import SimResult, Simulation, check_export_import, simulate_chain

ROOT = Path(__file__).resolve().parents[2]
MODULE_PREFIXES = {keys.STORE_PREFIX.decode() for keys in (anchor_keys, auth_keys, bank_keys, bridge_keys, funding_keys,
                                                            liquidation_keys, margin_keys, markets_keys, oracle_keys,
                                                            orderbook_keys)}


def test_three_seeds_of_200_blocks_break_no_invariant_and_reach_every_module(tmp_path: Path) -> None:
    events: dict[str, int] = {}
    refused: dict[int, int] = {}
    for seed in (1, 2, 3):
        result = simulate_chain(seed, 200, tmp_path / f"seed-{seed}")
        assert result.broken is None, result.broken.report()
        assert len(result.app_hashes) == 200 and len(set(result.app_hashes)) == 200
        assert result.txs_ok > 1_000
        # Deposits are claimed a few blocks after they are made; all but the last few are credited.
        assert result.deposits_made - 8 <= result.deposits_credited <= result.deposits_made
        for kind, count in result.events.items():
            events[kind] = events.get(kind, 0) + count
        for code, count in result.refused_in_block.items():
            refused[code] = refused.get(code, 0) + count
    for kind in ("fill", "order_expired", "order_modified", "dead_man_switch", "iceberg_refill", "conditional_triggered",
                 "conditional_resized", "twap_child", "twap_cancelled", "transfer", "deposit_credited",
                 "withdrawal_ready", "anchor", "liquidation", "insurance_fund_takeover"):
        assert events.get(kind, 0) > 0, f"the simulation never produced a {kind} event"
    # the bad inputs a byzantine proposer put in blocks were refused there, each with its code
    for error in (PriceOffTick, UnknownMarket, BadSignature, NonceAlreadyUsed):
        assert refused.get(error.code, 0) > 0, f"no tx refused with {error.__name__}"


def _hashes(seed: int, blocks: int, hash_seed: str, out: Path) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, "-m", "perpchain.cli", "simulate-chain", "--seed", str(seed), "--blocks",
                    str(blocks), "--hashes-out", str(out)], cwd=ROOT, env=env, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=900)
    return out.read_text()


def test_the_same_seed_gives_the_same_app_hash_at_every_height_under_three_hash_seeds(tmp_path: Path) -> None:
    runs = [(hash_seed, attempt) for hash_seed in ("0", "1", "4242") for attempt in (1, 2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(lambda run: _hashes(7, 200, run[0], tmp_path / f"{run[0]}-{run[1]}.txt"), runs))
    lines = texts[0].splitlines()
    assert len(lines) == 200 and lines[0].startswith("1 ") and lines[-1].startswith("200 ")
    for (hash_seed, attempt), text in zip(runs, texts):
        assert text == texts[0], f"PYTHONHASHSEED={hash_seed} (run {attempt}) diverged"


def test_an_export_imported_into_a_fresh_node_has_every_store_equal_and_the_same_hashes_after(tmp_path: Path) -> None:
    check = check_export_import(5, 160, 80, tmp_path)
    assert set(check.prefixes) == MODULE_PREFIXES
    assert check.differing_prefixes == []
    assert check.result.broken is None, check.result.broken.report()
    assert len(check.result.app_hashes) == 160  # the last 80 compared block by block on both nodes


def test_an_export_missing_a_store_or_with_a_value_changed_is_refused_on_import(tmp_path: Path) -> None:
    simulation = Simulation(5, tmp_path / "original")
    try:
        simulation.run(40, SimResult(5, 0))
        exported = simulation.chain.export()
    finally:
        simulation.close()
    orderbook = orderbook_keys.STORE_PREFIX.decode()
    missing = {**exported, "stores": {k: v for k, v in exported["stores"].items() if k != orderbook}}
    changed = copy.deepcopy(exported)
    key_hex, value_hex = changed["stores"]["bank/"][0]
    changed["stores"]["bank/"][0] = [key_hex, value_hex[:-2] + f"{int(value_hex[-2:], 16) ^ 1:02x}"]
    for name, bad in (("missing", missing), ("changed", changed)):
        with pytest.raises(BadStateExport, match=f"not to the app hash it claims \\({exported['app_hash']}\\)"):
            import_state(bad, tmp_path / name)
    InProcessChain.from_export(exported, tmp_path / "intact").close()


def test_a_clearing_rule_broken_by_one_micro_usdc_is_caught_with_a_shrunk_reproduction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    honest = clearing.trade

    def generous(market: Market, position: Position, size_delta_lots: int, price_ticks: int) -> tuple[Position, int]:
        updated, realized = honest(market, position, size_delta_lots, price_ticks)
        return updated, realized + 1 if realized else realized  # one micro-USDC of PnL from nowhere

    monkeypatch.setattr(clearing, "trade", generous)
    result = simulate_chain(1, 200, tmp_path)
    broken = result.broken
    assert broken is not None
    assert broken.invariant == "bridge/chain-claim-conserved" and "(off by 1)" in broken.message
    assert broken.minimal and set(broken.minimal) <= set(broken.block_draws)
    assert len(broken.minimal) < len(broken.block_draws)
    assert any(d.kind.startswith("place") or d.kind == "lever_up" for d in broken.minimal)  # a fill is needed
    report = broken.report()
    assert f"perpchain simulate-chain --seed 1 --blocks {broken.height}" in report
    assert "minimal reproduction" in report


def test_a_block_without_its_liquidation_pass_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(liquidation, "liquidation_step", lambda *args, **kwargs: [])  # its end-block hook's step
    # More one-way leveraged bets than the default mix, so a shock takes one past bankruptcy.
    result = simulate_chain(2, 200, tmp_path, weights={"lever_up": 40})
    assert result.broken is not None
    assert result.broken.invariant == "liquidation/no-negative-equity"
    assert "ends the block with equity -" in result.broken.message


def test_export_state_and_import_state_commands_restore_a_stopped_node(tmp_path: Path) -> None:
    simulation = Simulation(2, tmp_path / "sim")
    simulation.run(30, SimResult(2, 0))
    data = tmp_path / "sim" / "node"
    simulation.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "perpchain.cli", *args], cwd=ROOT, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)

    nothing = cli("export-state", "--data", str(tmp_path / "no-node"), "--out", str(tmp_path / "none.json"))
    assert nothing.returncode == 2 and "holds no node data" in nothing.stderr
    assert not (tmp_path / "no-node").exists() and not (tmp_path / "none.json").exists()
    exported = cli("export-state", "--data", str(data), "--out", str(tmp_path / "state.json"))
    assert exported.returncode == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["height"] == 30 and summary["keys"] > 100
    restored = cli("import-state", str(tmp_path / "state.json"), "--data", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["app_hash"] == summary["app_hash"]
    again = cli("import-state", str(tmp_path / "state.json"), "--data", str(tmp_path / "restored"))
    assert again.returncode == 2 and "already holds a chain" in again.stderr
    from app.store import CommittedStore
    original, copy = CommittedStore(data), CommittedStore(tmp_path / "restored")
    try:
        assert prefix_digests(original) == prefix_digests(copy)
        assert copy.last_commit() == original.last_commit()
    finally:
        original.close()
        copy.close()
