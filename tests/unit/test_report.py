"""`perpchain report`: the figures its HTML shows for a subaccount of the indexer's recorded blocks
(tests/record_indexer_blocks.py) equal a recomputation straight from the blocks' events."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from client.blocks import BlockRecord
from indexer.report import build_report, render_html, usd
from tests.unit.test_indexer_ingest import BLOCKS, RECORDED, SIZE_DECIMALS, _engine, _ingest

TICKERS = {int(m["market_id"]): str(m["ticker"]) for m in RECORDED["markets"]}


def busiest_subaccount(blocks: list[BlockRecord]) -> str:
    counts = Counter(e.attributes[role] for b in blocks for e in b.events if e.type == "fill" for role in ("maker", "taker"))
    return counts.most_common(1)[0][0]


def recompute(blocks: list[BlockRecord], subaccount: str) -> dict[str, int]:
    """Final figures from the fill and transfer events alone (the recording pays no funding)."""
    cash = transfers = fees = realized = 0
    positions: dict[int, int] = {}
    last_price: dict[int, int] = {}
    for block in blocks:
        for event in block.events:
            a = event.attributes
            if event.type == "fill":
                market_id, price, size = int(a["market_id"]), int(a["price"]), int(a["size"])
                last_price[market_id] = price
                for role in ("maker", "taker"):
                    if a[role] != subaccount:
                        continue
                    buys = (a["taker_side"] == "buy") == (role == "taker")
                    notional = size * price // 10 ** SIZE_DECIMALS[market_id]
                    positions[market_id] = positions.get(market_id, 0) + (size if buys else -size)
                    fee = int(a[f"{role}_fee_micro_usdc"])
                    cash += (-notional if buys else notional) - fee
                    fees += fee
                    realized += int(a[f"{role}_realized_pnl_micro_usdc"])
            elif event.type == "transfer":
                amount = int(a["amount_micro_usdc"])
                for side, sign in (("sender", -1), ("recipient", 1)):
                    if f"{a[side]}/{a[side + '_subaccount']}" == subaccount:
                        cash += sign * amount
                        transfers += sign * amount
    equity = cash + sum(size * last_price[m] // 10 ** SIZE_DECIMALS[m] for m, size in positions.items())
    return {"equity": equity, "pnl": equity - transfers, "realized_pnl": realized, "funding": 0, "fees": fees,
            "net_transfers": transfers}


def shown_figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'<td data-figure="(\w+)">([^<]*)</td>', page))


def test_the_reports_figures_equal_a_recomputation_from_the_blocks(tmp_path: Path) -> None:
    assert not any(e.type == "funding_rate" for b in BLOCKS for e in b.events)  # what recompute() assumes
    engine = _engine(tmp_path)
    _ingest(engine, BLOCKS)
    subaccount = busiest_subaccount(BLOCKS)
    report = build_report(engine, subaccount, SIZE_DECIMALS)
    page = render_html(report, TICKERS)
    expected = recompute(BLOCKS, subaccount)
    assert expected["fees"] != 0 and expected["equity"] != 0
    assert shown_figures(page) == {name: usd(value) for name, value in expected.items()}
    assert report.points[-1].height == BLOCKS[-1].height  # marked at the last block the indexer stored


def test_the_page_is_self_contained_with_its_own_svg_charts(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _ingest(engine, BLOCKS)
    page = render_html(build_report(engine, busiest_subaccount(BLOCKS), SIZE_DECIMALS), TICKERS)
    assert page.count("<svg") == 2 and page.count("<polyline") == 5
    assert not re.search(r"<script|<link|src=|@import|url\(", page)


def test_a_subaccount_without_history_gets_a_page_that_says_so(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _ingest(engine, BLOCKS)
    report = build_report(engine, "0x" + "99" * 20 + "/0", SIZE_DECIMALS)
    assert report.points == [] and "holds no fills" in render_html(report, TICKERS)
