"""`perpchain report SUBACCOUNT`: one subaccount's equity, PnL, funding and fees over time, from the
indexer's database, as one self-contained HTML page (inline SVG drawn here: no script, no fetch).

Figures, in micro-USDC, after each of the subaccount's events (fills, funding payments, transfers)
in chain order:

    net_transfers   deposits and transfers in, less withdrawals and transfers out
    fees            paid (a maker rebate counts negative)
    funding         paid (received counts negative)
    realized_pnl    as the chain reported it on each fill
    equity          cash (net transfers, less what buys cost, plus what sells brought, less fees and
                    funding) plus each position valued at its market's last trade price so far
    pnl             equity - net transfers: realized and unrealized trading PnL, after fees and funding

Collateral credited in the genesis is no event: the figures count from zero at the first block.
Liquidations and deleveraging move positions outside fills; the report says how many it skipped.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from indexer import models

MICRO = 1_000_000
INFLOWS = frozenset({"deposit", "deposit_corrected", "transfer_in"})
OUTFLOWS = frozenset({"deposit_reversed", "withdrawal", "transfer_out"})


@dataclass(frozen=True)
class Point:
    """The subaccount's figures after one event (micro-USDC)."""

    height: int
    time_ms: int
    net_transfers: int
    fees: int
    funding: int
    realized_pnl: int
    equity: int

    @property
    def pnl(self) -> int:
        return self.equity - self.net_transfers


@dataclass(frozen=True)
class Report:
    subaccount: str
    points: list[Point]
    positions: dict[int, int]  # market id -> signed base atoms at the end
    skipped_liquidations: int


def _events(session: Session, subaccount: str) -> list[tuple[tuple[int, int, int], str, Any]]:
    """The subaccount's fills, funding payments and transfers as ((height, order, event index), kind, row), sorted."""
    events: list[tuple[tuple[int, int, int], str, Any]] = []
    for fill in session.scalars(select(models.Fill).where(models.Fill.subaccount == subaccount)):
        events.append(((fill.height, 0, fill.event_index), "fill", fill))
    for transfer in session.scalars(select(models.Transfer).where(models.Transfer.subaccount == subaccount)):
        events.append(((transfer.height, 0, transfer.event_index), "transfer", transfer))
    for payment in session.scalars(select(models.FundingPayment).where(models.FundingPayment.subaccount == subaccount)):
        events.append(((payment.height, 1, payment.market_id), "funding", payment))  # settled after the block's txs
    events.sort(key=lambda event: event[0])
    return events


def _marks(session: Session, market_ids: Iterable[int]) -> dict[int, list[tuple[tuple[int, int], int]]]:
    """market id -> [((height, event index), price)] of its trades, in chain order."""
    marks: dict[int, list[tuple[tuple[int, int], int]]] = {}
    for market_id in market_ids:
        rows = session.execute(select(models.Trade.height, models.Trade.event_index, models.Trade.price)
                               .where(models.Trade.market_id == market_id)
                               .order_by(models.Trade.height, models.Trade.event_index))
        marks[market_id] = [((height, index), price) for height, index, price in rows]
    return marks


def build_report(engine: Engine, subaccount: str, size_decimals: dict[int, int]) -> Report:
    """The figures after each of `subaccount`'s events (`0x<address>/<number>`); `size_decimals`:
    market id -> decimals of its size (the node's `/markets`), to turn price x atoms into USDC."""
    with Session(engine) as session:
        events = _events(session, subaccount)
        markets = {row.market_id for _, kind, row in events if kind == "fill"}
        marks = _marks(session, markets)
        skipped = session.scalar(select(func.count()).select_from(models.Liquidation)
                                 .where(models.Liquidation.subaccount == subaccount)) or 0
        last_block = session.execute(select(models.Block.height, models.Block.time_ms)
                                     .order_by(models.Block.height.desc()).limit(1)).first()
    cash = net_transfers = fees = funding = realized = 0
    positions: dict[int, int] = {}
    seen: dict[int, int] = {market_id: 0 for market_id in markets}  # marks consumed so far
    mark: dict[int, int] = {}
    points: list[Point] = []

    def equity_at(place: tuple[int, int]) -> int:
        for market_id, trades in marks.items():
            while seen[market_id] < len(trades) and trades[seen[market_id]][0] <= place:
                mark[market_id] = trades[seen[market_id]][1]
                seen[market_id] += 1
        value = sum(size * mark[m] // 10 ** size_decimals[m] for m, size in positions.items() if size and m in mark)
        return cash + value

    for (height, _, index), kind, row in events:
        if kind == "fill":
            signed = row.size if row.side == "buy" else -row.size
            positions[row.market_id] = positions.get(row.market_id, 0) + signed
            notional = row.size * row.price // 10 ** size_decimals[row.market_id]
            cash += -notional if signed > 0 else notional
            cash -= row.fee_micro_usdc
            fees += row.fee_micro_usdc
            realized += row.realized_pnl_micro_usdc
        elif kind == "funding":
            cash -= row.payment_micro_usdc
            funding += row.payment_micro_usdc
        else:
            flow = row.amount_micro_usdc if row.kind in INFLOWS else -row.amount_micro_usdc if row.kind in OUTFLOWS else 0
            cash += flow
            net_transfers += flow
        place = (height, index if kind != "funding" else 1 << 31)
        points.append(Point(height, row.time_ms, net_transfers, fees, funding, realized, equity_at(place)))
    if points and last_block is not None and last_block[0] > points[-1].height:
        last = points[-1]  # marked at the latest trades the indexer stored
        points.append(Point(last_block[0], last_block[1], last.net_transfers, last.fees, last.funding,
                            last.realized_pnl, equity_at((last_block[0], 1 << 31))))
    return Report(subaccount, points, {m: s for m, s in positions.items() if s}, int(skipped))


# -- drawing ------------------------------------------------------------------------------------

WIDTH, HEIGHT, PAD = 860, 260, 48
COLOURS = {"equity": "#2f6fdf", "pnl": "#1a9e55", "realized_pnl": "#8a5cd1", "funding": "#d9822b", "fees": "#d6404e"}


def usd(micro_usdc: int) -> str:
    """Whole cents, signed when negative: 1,234.56."""
    sign = "-" if micro_usdc < 0 else ""
    cents = abs(micro_usdc) // 10_000
    return f"{sign}{cents // 100:,}.{cents % 100:02d}"


def svg_chart(points: Sequence[Point], series: Sequence[str], title: str) -> str:
    """A line chart of the `series` (Point attributes, micro-USDC) against time, as inline SVG."""
    values = {name: [int(getattr(p, name)) for p in points] for name in series}
    everything = [v for line in values.values() for v in line] or [0]
    low, high = min(min(everything), 0), max(max(everything), 0)
    if high == low:
        high = low + MICRO
    start, end = points[0].time_ms, max(points[-1].time_ms, points[0].time_ms + 1)

    def x(time_ms: int) -> float:
        return PAD + (time_ms - start) * (WIDTH - 2 * PAD) / (end - start)

    def y(value: int) -> float:
        return HEIGHT - PAD + (low - value) * (HEIGHT - 2 * PAD) / (high - low)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<text x="{PAD}" y="20" class="title">{html.escape(title)}</text>',
             f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(0):.1f}" y2="{y(0):.1f}" class="zero"/>']
    for value in (high, low):
        parts.append(f'<text x="{PAD - 4}" y="{y(value) + 4:.1f}" class="axis" text-anchor="end">{usd(value)}</text>')
    for time_ms, anchor in ((start, "start"), (end, "end")):
        label = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time_ms / 1000))
        parts.append(f'<text x="{x(time_ms):.1f}" y="{HEIGHT - PAD + 18}" class="axis" text-anchor="{anchor}">'
                     f'{label} UTC</text>')
    for offset, (name, line) in enumerate(values.items()):
        # a step line: each figure holds until the next event
        coordinates = []
        for index, point in enumerate(points):
            if index:
                coordinates.append(f"{x(point.time_ms):.1f},{y(line[index - 1]):.1f}")
            coordinates.append(f"{x(point.time_ms):.1f},{y(line[index]):.1f}")
        parts.append(f'<polyline fill="none" stroke="{COLOURS[name]}" stroke-width="2" points="{" ".join(coordinates)}"/>')
        parts.append(f'<text x="{PAD + 150 * offset}" y="{HEIGHT - 8}" fill="{COLOURS[name]}" class="legend">'
                     f'{name.replace("_", " ")}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


STYLE = """body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 4px 14px; text-align: right; }
th { text-align: left; } tr:nth-child(even) { background: #f3f5f8; }
svg { width: 100%; height: auto; margin: 1em 0; } .title { font-weight: bold; font-size: 14px; }
.axis, .legend { font-size: 11px; fill: #666; } .legend { font-weight: bold; } .zero { stroke: #bbb; stroke-dasharray: 4 3; }"""

SUMMARY = (("equity", "Equity"), ("pnl", "PnL (equity - net transfers)"), ("realized_pnl", "Realized PnL"),
           ("funding", "Funding paid"), ("fees", "Fees paid"), ("net_transfers", "Net transfers in"))


def render_html(report: Report, tickers: dict[int, str]) -> str:
    """The report as one HTML page; the summary table's cells carry `data-figure` names (tests read them)."""
    title = f"perpchain report · {report.subaccount}"
    head = f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>' \
           f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
    if not report.points:
        return head + "<p>The indexer holds no fills, funding payments or transfers of this subaccount.</p></body></html>\n"
    last = report.points[-1]
    first = report.points[0]
    rows = "".join(f'<tr><th>{label}</th><td data-figure="{name}">{usd(int(getattr(last, name)))}</td></tr>'
                   for name, label in SUMMARY)
    positions = ", ".join(f"{tickers.get(m, str(m))} {size:+d} atoms" for m, size in sorted(report.positions.items()))
    notes = [f"{len(report.points)} points from block {first.height:,} to {last.height:,}, in USDC.",
             f"Open positions at the end: {positions or 'none'} (valued at their market's last trade)."]
    if report.skipped_liquidations:
        notes.append(f"{report.skipped_liquidations} liquidation or deleveraging events moved positions outside "
                     "fills; the figures after them leave those moves out.")
    body = (f"<table>{rows}</table>\n" + "".join(f"<p>{html.escape(n)}</p>\n" for n in notes)
            + svg_chart(report.points, ("equity", "pnl"), "Equity and PnL") + "\n"
            + svg_chart(report.points, ("realized_pnl", "funding", "fees"), "Realized PnL, funding and fees (cumulative)"))
    return head + body + "\n</body></html>\n"
