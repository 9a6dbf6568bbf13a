"""A recorded 2,000-block chain, replayed against the current code: after every block, each tx's
result code and the state view's digest must be the ones recorded.

The recording (chain-2000.jsonl.gz beside this file) is the simulation's traffic (sim/) on a
genesis of 60 traders and 4 markets, seed 20260601: resting limits and ladders, takers (IOC/FOK),
leveraged one-way bets, icebergs, cancels, cancel-alls, modifies, stops and take-profits, trailing
stops, position TP/SL, TWAPs, dead-man switches, transfers, withdrawals and bridge deposits, bad
inputs a byzantine proposer includes, and every block the validators' oracle prices, with shocks of
4% to 10% and halts of up to 20 minutes. It holds 7,531 fills, 19 liquidations (29 insurance-fund
takeovers), 8 hourly funding ticks (32 market rates), 1,257 triggered conditionals, 1,472 TWAP
children, 532 withdrawals and 596 credited deposits, in 16,248 user txs of which 14,925 succeeded.

What is compared is the state's meaning (sim/state_view.py), not its bytes: the app hash is
recorded for information only, since a store-layout change changes it, and events are not
compared at all. The cheap sections (balances, positions, open interest, resting orders in time
priority with iceberg reserves, conditionals, TWAPs, oracle, funding, nonces, liquidations) are
compared after every block; the slow ones (each holder's risk, the recent-trades log, bridge and
anchor records) after every 10th.

Re-recording is legitimate only for a deliberate rule change (a fee, a margin rule, the matching
order, a new field of the state), and the commit that re-records names that change. It is never
the fix for a refactor, a store-layout change or a speed-up that makes this test fail: those must
reproduce the recording as it is; a failure there is the bug this test exists to find.

    python -m sim.recording record     # re-record, after a deliberate rule change
    python -m sim.recording replay     # the same comparison from the command line, with timings
"""

from __future__ import annotations

from pathlib import Path

import pytest

import modules.margin.clearing as clearing
from modules.markets.types import Market
from sim.recording import DEFAULT_FIXTURE, Recording, first_mismatch, load

# What the recording exercises (its header's summary); a re-recording that drops one of these
# would leave the rewrite it guards untested.
FILLS, LIQUIDATIONS, LIQUIDATION_BLOCKS, FUNDING_TICKS = 7_531, 19, 19, 8


@pytest.fixture(scope="module")
def recording() -> Recording:
    return load(DEFAULT_FIXTURE)


def test_the_recording_exercises_matching_liquidation_and_funding(recording: Recording) -> None:
    summary = recording.header["summary"]
    assert len(recording.blocks) == recording.header["blocks"] == 2_000
    assert [b["height"] for b in recording.blocks] == list(range(1, 2_001))
    assert summary["events"]["fill"] == FILLS
    assert summary["events"]["liquidation"] == LIQUIDATIONS
    assert len(summary["liquidation_heights"]) == LIQUIDATION_BLOCKS
    assert len(summary["funding_heights"]) == FUNDING_TICKS
    assert DEFAULT_FIXTURE.stat().st_size < 3_000_000


def test_replaying_the_recorded_chain_gives_every_block_the_recorded_codes_and_state(
        recording: Recording, tmp_path: Path) -> None:
    mismatch = first_mismatch(recording, tmp_path / "replay")
    assert mismatch is None, mismatch.report()


def test_a_taker_fee_one_micro_usdc_higher_is_caught_at_the_first_block_with_a_fill(
        recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    honest = clearing.fee

    def dearer(market: Market, notional_micro_usdc: int, maker: bool) -> int:
        return honest(market, notional_micro_usdc, maker) + (0 if maker else 1)

    monkeypatch.setattr(clearing, "fee", dearer)
    mismatch = first_mismatch(recording, tmp_path / "replay")
    assert mismatch is not None
    assert mismatch.height == recording.header["summary"]["first_fill_height"]
    assert "state view differs" in mismatch.what and "bank" in mismatch.what, mismatch.report()


def test_a_changed_result_code_is_reported_with_its_block_and_tx(recording: Recording, tmp_path: Path) -> None:
    blocks = [dict(b) for b in recording.blocks[:30]]
    height, index = next((b["height"], i) for b in blocks for i, code in enumerate(b["codes"]) if code != 0)
    tampered = blocks[height - 1]
    tampered["codes"] = [c + 1 if i == index else c for i, c in enumerate(tampered["codes"])]
    mismatch = first_mismatch(Recording(recording.header, blocks), tmp_path / "replay")
    assert mismatch is not None and mismatch.height == height
    assert f"tx {index}: recorded code" in mismatch.what and "state view" not in mismatch.what
