"""`orders` benchmark: the application's CPU per order on the e2e flow, in process, by ABCI phase.

The e2e bench measures the whole node under CometBFT; this one runs the same flow through the real
Application alone, so a change to the app shows up without the noise of consensus and sockets,
and old and new code can be compared in one session.

Setup (not timed): 100 accounts with 5,000 USDC each on the localnet's markets, margined at the
markets' reference prices (no oracle votes: the oracle's cost is not per order). The flow is `perpchain load`'s (localnet/load.py): 58%
market-maker re-quotes (cancel-all and a post-only ladder of 15 prices per side), 40% IOC takers
crossing the spread, 2% txs refused at CheckTx; all signed before the clock starts.

Timed, per block of `BLOCK_TXS` txs, as a single validator's app sees them (driven through
app/driver.py): CheckTx of every tx (NEW; the signers recovered as the server does, in a batch
before), PrepareProposal, ProcessProposal, FinalizeBlock (to the response's bytes, which the
server sends as they are), Commit (which rechecks nothing: the mempool is empty after each
block). The process's CPU time (user + system) per phase over the run, per order that the blocks
finalized:

  app_inprocess_us_per_order   every phase together
  checktx_us_per_order         CheckTx (with the decode, the signer recovery and the order dry run)
  proposal_us_per_order        PrepareProposal + ProcessProposal
  finalize_us_per_order        FinalizeBlock
  commit_us_per_order          Commit

and, outside those phases, the encoding of the blocks' events into the bytes the ABCI server sends
(app/event_encoding.py: every tx result and the block's response written from the events; the
server adds a tag and a length), timed on the events each block delivered, their attributes
already formatted (the formatting of a deferred event is in FinalizeBlock's figure):

  events_encode_us_per_order   process CPU time per order finalized

The process runs Python's cycle collector as a node does (app/long_lived.py).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from app.driver import Genesis, InProcessChain
from app.event_encoding import finalize_block_response, tx_result
from app.long_lived import collect_as_a_node
from genesis.app_state import build_app_state
from genesis.markets import LOCALNET_MARKETS
from localnet.load import BAD, Flow, TxPlan
from modules.context import Event
from wire import PrivateKey, sign_tx
from wire.codec import Tx
from wire.pb import abci_pb

CHAIN_ID = "perpchain-bench-orders"
ACCOUNTS = 100
FUND_MICRO_USDC = 5_000 * 1_000_000
BLOCK_TXS = 200  # about 3,500 orders a block, what the e2e goal's blocks carry
BAD_SHARE_PPM = 20_000
LEVELS = 15
START_MS = 1_800_000_000_000
BLOCK_MS = 500
PHASES = ("checktx", "proposal", "finalize", "commit")


def _secret(index: int) -> bytes:
    return (0x0D0E_0000 + index + 1).to_bytes(32, "big")


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _start(path: Path, keys: list[PrivateKey]) -> InProcessChain:
    funds = [("0x" + k.address.hex(), 0, FUND_MICRO_USDC) for k in keys]
    chain = InProcessChain.start(path, Genesis(CHAIN_ID, build_app_state(funds, LOCALNET_MARKETS)),
                                 block_interval_ms=BLOCK_MS, genesis_time_ms=START_MS)
    chain.block()
    return chain


def _sign(keys: list[PrivateKey], flow: Flow, plan: TxPlan, count: int) -> list[tuple[str, bytes]]:
    signed = []
    for sequence, kind in enumerate(plan.kinds(count)):
        key = keys[sequence % len(keys)]
        tx = Tx(chain_id=CHAIN_ID, account=key.address, nonce=START_MS + sequence // len(keys),
                actions=tuple(flow.actions(kind)))
        signed.append((kind, sign_tx(key, tx)))
    return signed


def _events(delivered: Any) -> list[Event]:
    """The modules' events back from their ABCI messages."""
    return [Event(e.type, tuple((a.key, a.value) for a in e.attributes)) for e in delivered]


def _encode_cpu_s(response: abci_pb.ResponseFinalizeBlock) -> float:
    """CPU seconds to encode the events `response` carries, and the response around them, as
    FinalizeBlock does (the ABCI server sends those bytes as they are)."""
    block = _events(response.events)
    txs = [_events(r.events) if r.code == 0 else r for r in response.tx_results]
    started = time.process_time()  # os.times counts in 10 ms ticks, too coarse for one block's encoding
    results = [t.SerializeToString() if isinstance(t, abci_pb.ExecTxResult) else tx_result(t) for t in txs]
    finalize_block_response(block, results, [], response.app_hash)
    return time.process_time() - started


def run(size: int = 0) -> dict[str, Any]:
    """`size`: txs to send (default 4,000, about 70,000 orders)."""
    txs_total = size or 4_000
    collect_as_a_node()
    keys = [PrivateKey(_secret(i)) for i in range(ACCOUNTS)]
    market = LOCALNET_MARKETS[0]
    tick = int(market["tick_size"])
    mid = int(market["reference_price"]) // tick * tick
    flow = Flow(int(market["market_id"]), tick, mid, LEVELS)
    signed = _sign(keys, flow, TxPlan(seed=7, bad_share_ppm=BAD_SHARE_PPM), txs_total)
    cpu = dict.fromkeys(PHASES, 0.0)
    orders = refused = failed = 0
    encode_s = 0.0
    with tempfile.TemporaryDirectory(prefix="perpchain-bench-orders-") as tmp, _start(Path(tmp) / "db", keys) as chain:
        def timed(phase: str, call: Callable[[], Any]) -> Any:
            started = _cpu_s()
            result = call()
            cpu[phase] += _cpu_s() - started
            return result

        wall = time.perf_counter()
        for start in range(0, len(signed), BLOCK_TXS):
            chunk = signed[start : start + BLOCK_TXS]
            accepted = []

            def check() -> None:
                nonlocal refused
                responses = chain.check_all([raw for _, raw in chunk])
                for (kind, raw), response in zip(chunk, responses):
                    if response.code == 0:
                        accepted.append((kind, raw))
                    elif kind == BAD:
                        refused += 1
                    else:
                        raise RuntimeError(f"CheckTx refused a good {kind} tx: {response.log}")

            timed("checktx", check)
            txs = [raw for _, raw in accepted]

            def propose() -> list[bytes]:
                proposed = chain.propose(txs)
                if not chain.accepts(proposed):
                    raise RuntimeError("the app refused its own proposal")
                return proposed

            block = timed("proposal", propose)
            encoded = timed("finalize", lambda: chain.finalize_encoded(block))
            response = abci_pb.ResponseFinalizeBlock.FromString(encoded)
            timed("commit", chain.commit)
            encode_s += _encode_cpu_s(response)
            failed += sum(1 for r in response.tx_results if r.code != 0)
            orders += sum(flow.orders(kind) for kind, _ in accepted)
        wall_s = time.perf_counter() - wall
        height = chain.height
    total = sum(cpu.values())
    figures: dict[str, Any] = {
        "bench": "orders",
        "app_inprocess_us_per_order": round(total / orders * 1e6, 1),
        **{f"{phase}_us_per_order": round(cpu[phase] / orders * 1e6, 1) for phase in PHASES},
        "events_encode_us_per_order": round(encode_s / orders * 1e6, 1),
        "orders": orders,
        "txs": txs_total,
        "blocks": height,
        "refused_at_checktx": refused,
        "failed_in_block": failed,
        "orders_per_cpu_s": round(orders / total),
        "wall_s": round(wall_s, 2),
    }
    return figures
