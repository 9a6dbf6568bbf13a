"""Weighted random operations from every module, drawn from one seeded generator.

Each block the generator moves the "true" price of every market (a random walk with occasional
shocks), has the validators vote it (with a little disagreement), and draws a number of signed txs:
order flow (limits, takers, cancels, modifies, icebergs, stops, trailing stops, TP/SL, TWAPs),
transfers, bridge withdrawals and deposits (claimed by the validators' operators, in nonce order,
some blocks later; the byzantine one sometimes claims a forged content) and a share of bad txs.
It reads the app's state only to aim its orders (prices near the oracle, ids of resting orders);
what it draws never depends on anything but the seed and that state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.types import ClaimDeposit, SignWithdrawal, Withdraw
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.orderbook.actions import (
    CancelAll,
    CancelOrder,
    CancelTwap,
    ConditionalKind,
    ModifyOrder,
    PlaceConditional,
    PlaceOrder,
    PlaceTrailingStop,
    PlaceTwap,
    ScheduleCancelAll,
    SetPositionTpSl,
)
from modules.orderbook.book import Books
from modules.orderbook.twap import TwapBook
from modules.orderbook.types import Side, TimeInForce
from modules.store import KVStore
from modules.types import SubaccountId
from sim.genesis import GENESIS_TIME_MS, SimGenesis, SimValidator
from wire import vault as digests
from wire.codec import Tx, sign_tx
from wire.crypto import PrivateKey, keccak256

BLOCK_INTERVAL_MS = 500


@dataclass(frozen=True)
class Draw:
    """One drawn tx: its raw bytes and what it is, for reports."""

    raw: bytes
    kind: str
    summary: str


@dataclass
class _Deposit:
    claim: ClaimDeposit
    claim_after_height: int


@dataclass
class OperationMix:
    genesis: SimGenesis
    rng: random.Random
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    _nonces: dict[bytes, int] = field(default_factory=dict)
    _prices: dict[int, int] = field(default_factory=dict)
    _crashes: dict[int, tuple[int, int]] = field(default_factory=dict)  # market -> (direction, blocks left)
    _deposits: list[_Deposit] = field(default_factory=list)
    _sent: list[bytes] = field(default_factory=list)  # earlier txs, for replays
    _time_ms: int = 0

    def __post_init__(self) -> None:
        self._prices = {int(m["market_id"]): int(m["reference_price"]) for m in self.genesis.markets}
        self._markets = {int(m["market_id"]): m for m in self.genesis.markets}

    @property
    def deposits_made(self) -> int:
        return len(self._deposits)

    # -- prices ---------------------------------------------------------------------------------

    def next_time_ms(self) -> int:
        """The next block's time: half a second later, or after a halt of 1 to 20 minutes in 2%
        of blocks. The chain starts 30 s before an hour, so funding's hourly boundary is crossed
        in every run, and the halts cross more of them."""
        if self._time_ms == 0:
            self._time_ms = GENESIS_TIME_MS - 30_000
        gap = self.rng.randint(60_000, 1_200_000) if self.rng.random() < 0.02 else 0
        self._time_ms += BLOCK_INTERVAL_MS + gap
        return self._time_ms

    def move_prices(self) -> None:
        """A random walk of a few bp a block, with shocks of 4% to 10% a block (the oracle's clamp)
        that go on for `CRASH_BLOCKS` blocks in one direction: a crash deep enough to take the
        leveraged bets past maintenance, whatever the flow around it (so every seeded run
        exercises liquidation, not only the lucky ones)."""
        for market_id in sorted(self._prices):
            direction, left = self._crashes.get(market_id, (0, 0))
            if left == 0 and self.rng.random() < 0.04:
                direction, left = self.rng.choice((-1, 1)), CRASH_BLOCKS
            if left > 0:
                move = direction * self.rng.randint(400, 1_000)
                self._crashes[market_id] = (direction, left - 1)
            else:
                move = self.rng.randint(-40, 40)
            tick = int(self._markets[market_id]["tick_size"])
            self._prices[market_id] = max(20 * tick, self._prices[market_id] * (10_000 + move) // 10_000)

    def votes(self) -> list[tuple[SimValidator, dict[int, int]]]:
        """Each validator's observation: the true price within 5 bp, sometimes none at all."""
        votes: list[tuple[SimValidator, dict[int, int]]] = []
        for validator in self.genesis.validators:
            if self.rng.random() < 0.05:
                votes.append((validator, {}))
                continue
            votes.append((validator, {m: max(1, p * (10_000 + self.rng.randint(-5, 5)) // 10_000)
                                      for m, p in sorted(self._prices.items())}))
        return votes

    # -- txs ------------------------------------------------------------------------------------

    def block_txs(self, height: int, time_ms: int, store: KVStore, books: Books) -> list[Draw]:
        view = _View(store, books, height, time_ms)
        draws: list[Draw] = []
        kinds = sorted(self.weights)
        for _ in range(self.rng.randint(0, 24)):
            kind = self.rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]
            draw = _OPERATIONS[kind](self, view)
            if draw is not None:
                draws.append(draw)
        draws += self._validator_duties(view)
        return draws

    def _sign(self, key: PrivateKey, view: "_View", *actions: Any, kind: str, summary: str) -> Draw:
        nonce = max(self._nonces.get(key.address, 0) + 1, view.time_ms)
        self._nonces[key.address] = nonce
        raw = sign_tx(key, Tx(self.genesis.chain_id, key.address, nonce, tuple(actions)))
        if len(self._sent) < 512:
            self._sent.append(raw)
        return Draw(raw, kind, summary)

    def _trader(self) -> tuple[PrivateKey, int]:
        """A trader and subaccount for the general flow. The thinly funded traders' subaccount 0
        is kept for their one-way leveraged bets (`_lever_up`), so the flow does not unwind them."""
        index = self.rng.randrange(len(self.genesis.traders))
        number = self.rng.choice((1, 2)) if index % 2 else self.rng.choice((0, 0, 0, 1, 2))
        return self.genesis.traders[index], number

    def _market(self) -> dict[str, Any]:
        return self._markets[self.rng.choice(sorted(self._markets))]

    def _price_near(self, market: dict[str, Any], view: "_View", spread_ticks: int) -> int:
        tick = int(market["tick_size"])
        oracle = view.oracle_price(int(market["market_id"])) or self._prices[int(market["market_id"])]
        return max(tick, (oracle // tick + self.rng.randint(-spread_ticks, spread_ticks)) * tick)

    def _size(self, market: dict[str, Any], most_lots: int = 20) -> int:
        step = int(market["step_size"])
        return self.rng.randint(max(1, int(market["min_order_size"]) // step), most_lots) * step

    def _validator_duties(self, view: "_View") -> list[Draw]:
        """What each validator's relayer sends, read from the chain as a relayer does: claims for
        the deposits after its last claimed nonce that are buried deep enough, in nonce order,
        and signatures for the queued withdrawals it has not signed. Claims and signatures go in
        separate txs, so one refused action does not hold back the other kind."""
        draws = []
        bridge = BridgeKeeper(view.store)
        params = bridge.params()
        for validator in self.genesis.validators:
            address = validator.consensus_address
            if self.rng.random() < 0.3:  # this validator's relayer is slow this block
                continue
            last = max(bridge.last_claim(address), bridge.next_deposit_nonce() - 1)
            claims = []
            for deposit in self._deposits[last:last + 3]:
                if deposit.claim_after_height > view.height:
                    break
                claim = deposit.claim
                if validator == self.genesis.byzantine and self.rng.random() < 0.3:
                    claim = ClaimDeposit(claim.deposit_nonce, claim.eth_block, claim.eth_tx_hash, claim.sender,
                                         validator.operator.address, 0, claim.amount_micro_usdc * 10)
                claims.append(claim)
            if claims:
                draws.append(self._sign(validator.operator, view, *claims, kind="claims",
                                        summary=f"validator {address.hex()[:8]} claims deposits "
                                                f"{claims[0].deposit_nonce}..{claims[-1].deposit_nonce}"))
            signatures = []
            if params is not None:
                for withdrawal_id in range(1, bridge.next_withdrawal_id()):
                    withdrawal = bridge.withdrawal(withdrawal_id)
                    if withdrawal is None or bridge.signer(withdrawal_id, address) is not None:
                        continue
                    digest = digests.withdrawal_digest(params.eth_chain_id, params.vault, withdrawal_id,
                                                       withdrawal.recipient, withdrawal.amount_micro_usdc)
                    signatures.append(SignWithdrawal(withdrawal_id, digests.sign(validator.eth_key, digest)))
            if signatures:
                draws.append(self._sign(validator.operator, view, *signatures[:16], kind="signatures",
                                        summary=f"validator {address.hex()[:8]} signs {len(signatures[:16])} withdrawals"))
        return draws


class _View:
    """What the generator reads of the app's state to aim its orders."""

    def __init__(self, store: KVStore, books: Books, height: int, time_ms: int) -> None:
        self.store, self.books, self.height, self.time_ms = store, books, height, time_ms

    def oracle_price(self, market_id: int) -> int | None:
        price = OracleKeeper(self.store).price(market_id)
        return price.price if price is not None else None

    def resting(self, owner: SubaccountId) -> list[tuple[int, int, int]]:
        """(market, order id, price ticks) of the owner's resting orders."""
        found = []
        for market_id in self.books.market_ids():
            for side in (Side.BUY, Side.SELL):
                found += [(market_id, o.order_id, o.price_ticks) for o in self.books[market_id].iter_orders(side)
                          if o.owner == owner]
        return found

    def free_collateral(self, owner: SubaccountId) -> int:
        store = self.store
        return account_risk(owner, MarketsKeeper(store), BankKeeper(store), MarginKeeper(store),
                            OracleKeeper(store)).free_collateral_micro_usdc

    def position_lots(self, owner: SubaccountId, market_id: int) -> int:
        return MarginKeeper(self.store).position(owner, market_id).size_lots


def _side(mix: OperationMix) -> Side:
    return mix.rng.choice((Side.BUY, Side.SELL))


def _place_limit(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    market = mix._market()
    side = _side(mix)
    price = mix._price_near(market, view, 40)
    options: dict[str, Any] = {}
    roll = mix.rng.random()
    if roll < 0.15:
        options["post_only"] = True
    elif roll < 0.25:
        options.update(time_in_force=TimeInForce.GOOD_TIL_BLOCK, good_til_block=view.height + mix.rng.randint(1, 30))
    elif roll < 0.3:
        options.update(time_in_force=TimeInForce.GOOD_TIL_TIME, good_til_time_ms=view.time_ms + mix.rng.randint(1, 20_000))
    elif roll < 0.4:
        options["reduce_only"] = True
    if mix.rng.random() < 0.2:
        options["client_id"] = mix.rng.randint(1, 50)
    action = PlaceOrder(number, int(market["market_id"]), side, price, mix._size(market), **options)
    return mix._sign(key, view, action, kind="place_limit", summary=f"{side.name} {action.size}@{price} m{action.market_id}")


def _place_batch(mix: OperationMix, view: _View) -> Draw:
    """A market maker's ladder: several levels on both sides in one tx."""
    key, number = mix._trader()
    market = mix._market()
    tick = int(market["tick_size"])
    mid = mix._price_near(market, view, 3) // tick
    actions = []
    for level in range(1, mix.rng.randint(2, 5)):
        actions.append(PlaceOrder(number, int(market["market_id"]), Side.BUY, (mid - level * 2) * tick, mix._size(market)))
        actions.append(PlaceOrder(number, int(market["market_id"]), Side.SELL, (mid + level * 2) * tick, mix._size(market)))
    return mix._sign(key, view, *actions, kind="place_batch", summary=f"ladder of {len(actions)} m{market['market_id']}")


def _place_taker(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    market = mix._market()
    side = _side(mix)
    oracle = mix._price_near(market, view, 0)
    tick = int(market["tick_size"])
    worst = oracle * (101 if side == Side.BUY else 99) // 100 // tick * tick
    tif = mix.rng.choice((TimeInForce.IOC, TimeInForce.IOC, TimeInForce.FOK))
    action = PlaceOrder(number, int(market["market_id"]), side, max(tick, worst), mix._size(market, 150),
                        time_in_force=tif, reduce_only=mix.rng.random() < 0.1)
    return mix._sign(key, view, action, kind="place_taker", summary=f"{tif.name} {side.name} {action.size} m{action.market_id}")


def _lever_up(mix: OperationMix, view: _View) -> Draw | None:
    """A thinly funded trader adds to its one-way bet with most of its free collateral, so price
    shocks find accounts near their maintenance requirement (and the liquidation pass has work)."""
    index = mix.rng.randrange(1, len(mix.genesis.traders), 2)
    key = mix.genesis.traders[index]
    market = mix._market()
    market_id = int(market["market_id"])
    side = Side.BUY if (index + market_id) % 2 else Side.SELL
    free = view.free_collateral(SubaccountId(key.address, 0))
    oracle = view.oracle_price(market_id) or int(market["reference_price"])
    step, decimals = int(market["step_size"]), int(market["size_decimals"])
    lot_value = oracle * step // 10 ** decimals  # micro-USDC per lot at the oracle price
    lots = free * 1_000_000 // max(1, market["initial_margin_ppm"]) * 8 // 10 // max(1, lot_value)
    if lots < max(1, int(market["min_order_size"]) // step):
        return None
    tick = int(market["tick_size"])
    worst = oracle * (101 if side == Side.BUY else 99) // 100 // tick * tick
    action = PlaceOrder(0, market_id, side, max(tick, worst), lots * step, time_in_force=TimeInForce.IOC)
    return mix._sign(key, view, action, kind="lever_up", summary=f"lever up {side.name} {lots} lots m{market_id}")


def _iceberg(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    market = mix._market()
    step = int(market["step_size"])
    display = mix._size(market, 5)
    total = display + mix.rng.randint(1, 30) * step
    action = PlaceOrder(number, int(market["market_id"]), _side(mix), mix._price_near(market, view, 20), total,
                        display_size=display)
    return mix._sign(key, view, action, kind="iceberg", summary=f"iceberg {display}/{total} m{action.market_id}")


def _resting_order(mix: OperationMix, view: _View) -> tuple[PrivateKey, int, int, int, int] | None:
    """A trader, subaccount, and one of its resting orders (market, order id, price ticks)."""
    key, number = mix._trader()
    resting = view.resting(SubaccountId(key.address, number))
    if not resting:
        return None
    return (key, number, *mix.rng.choice(resting))


def _cancel(mix: OperationMix, view: _View) -> Draw | None:
    picked = _resting_order(mix, view)
    if picked is None:
        return None
    key, number, market_id, order_id, _ = picked
    return mix._sign(key, view, CancelOrder(number, market_id, order_id), kind="cancel", summary=f"cancel {order_id}")


def _cancel_all(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    market_id = mix.rng.choice([0, *sorted(mix._markets)])
    return mix._sign(key, view, CancelAll(number, market_id), kind="cancel_all", summary=f"cancel all m{market_id}")


def _modify(mix: OperationMix, view: _View) -> Draw | None:
    picked = _resting_order(mix, view)
    if picked is None:
        return None
    key, number, market_id, order_id, price_ticks = picked
    market = mix._markets[market_id]
    tick = int(market["tick_size"])
    new_price = (price_ticks + mix.rng.choice((0, 0, -1, 1))) * tick
    return mix._sign(key, view, ModifyOrder(number, market_id, order_id, new_price, mix._size(market)),
                     kind="modify", summary=f"modify {order_id}")


def _conditional(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    market = mix._market()
    kind = mix.rng.choice([k for k in ConditionalKind if k <= ConditionalKind.TAKE_PROFIT_LIMIT])
    side = _side(mix)
    oracle = mix._price_near(market, view, 0)
    tick = int(market["tick_size"])
    # A stop buys above the price (sells below); a take-profit the other way round.
    above = (side == Side.BUY) == kind.is_stop
    distance = oracle * mix.rng.randint(5, 80) // 10_000 // tick * tick + tick
    trigger = oracle + distance if above else max(tick, oracle - distance)
    limit = trigger * (102 if side == Side.BUY else 98) // 100 // tick * tick
    action = PlaceConditional(number, int(market["market_id"]), kind, side, trigger, max(tick, limit), mix._size(market),
                              reduce_only=mix.rng.random() < 0.3)
    return mix._sign(key, view, action, kind="conditional", summary=f"{kind.name} {side.name} @{trigger}")


def _trailing(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    market = mix._market()
    action = PlaceTrailingStop(number, int(market["market_id"]), _side(mix), mix._size(market),
                               trail_bps=mix.rng.randint(20, 300))
    return mix._sign(key, view, action, kind="trailing", summary=f"trailing {action.trail_bps}bp")


def _tpsl(mix: OperationMix, view: _View) -> Draw | None:
    key, number = mix._trader()
    market = mix._market()
    market_id = int(market["market_id"])
    lots = view.position_lots(SubaccountId(key.address, number), market_id)
    if lots == 0:
        return None
    oracle = mix._price_near(market, view, 0)
    tick = int(market["tick_size"])
    up = oracle * (10_000 + mix.rng.randint(30, 500)) // 10_000 // tick * tick
    down = max(tick, oracle * (10_000 - mix.rng.randint(30, 500)) // 10_000 // tick * tick)
    take, stop = (up, down) if lots > 0 else (down, up)
    action = SetPositionTpSl(number, market_id, take_profit_price=take, stop_loss_price=stop)
    return mix._sign(key, view, action, kind="tpsl", summary=f"tpsl m{market_id} tp {take} sl {stop}")


def _twap(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    market = mix._market()
    slices = mix.rng.randint(2, 6)
    action = PlaceTwap(number, int(market["market_id"]), _side(mix), mix._size(market, 10) * slices, slices,
                       mix.rng.randint(1, 4))
    return mix._sign(key, view, action, kind="twap", summary=f"twap {action.size} in {slices}")


def _cancel_twap(mix: OperationMix, view: _View) -> Draw | None:
    key, number = mix._trader()
    market = mix._market()
    twaps = TwapBook(view.store).of(SubaccountId(key.address, number), int(market["market_id"]))
    if not twaps:
        return None
    twap = mix.rng.choice(twaps)
    return mix._sign(key, view, CancelTwap(number, twap.market_id, twap.twap_id), kind="cancel_twap",
                     summary=f"cancel twap {twap.twap_id}")


def _transfer(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    to_index = mix.rng.randrange(len(mix.genesis.traders))
    to_key = mix.genesis.traders[to_index]
    to_number = mix.rng.choice((1, 2)) if to_index % 2 else mix.rng.choice((0, 1, 2))
    if to_key == key and to_number == number:
        to_number = 3 - number if number else 1
    amount = mix.rng.randint(1, 5_000) * 1_000_000
    return mix._sign(key, view, Transfer(number, SubaccountId(to_key.address, to_number), amount), kind="transfer",
                     summary=f"transfer {amount}")


def _withdraw(mix: OperationMix, view: _View) -> Draw:
    key, number = mix._trader()
    amount = mix.rng.randint(1, 2_000) * 1_000_000
    return mix._sign(key, view, Withdraw(number, keccak256(key.address)[:20], amount), kind="withdraw",
                     summary=f"withdraw {amount}")


def _deposit(mix: OperationMix, view: _View) -> None:
    """A deposit on "Ethereum": nothing on chain yet; the validators claim it some blocks later."""
    recipient = mix.rng.choice(mix.genesis.traders)
    nonce = len(mix._deposits) + 1
    claim = ClaimDeposit(nonce, 1_000 + view.height, keccak256(b"sim deposit %d %d" % (mix.genesis.seed, nonce)),
                         keccak256(b"depositor %d" % nonce)[:20], recipient.address, mix.rng.choice((0, 1)),
                         mix.rng.randint(1, 10_000) * 1_000_000)
    mix._deposits.append(_Deposit(claim, view.height + mix.rng.randint(1, 6)))
    return None


def _dead_man(mix: OperationMix, view: _View) -> Draw:
    key, _ = mix._trader()
    at = 0 if mix.rng.random() < 0.3 else view.time_ms + mix.rng.randint(2_000, 30_000)
    return mix._sign(key, view, ScheduleCancelAll(at), kind="dead_man", summary=f"dead-man switch at {at}")


def _bad(mix: OperationMix, view: _View) -> Draw:
    """Input the chain must refuse and forget: off tick, unknown market, a bad signature, a replay."""
    key, number = mix._trader()
    market = mix._market()
    roll = mix.rng.randint(0, 3)
    if roll == 0:
        action = PlaceOrder(number, int(market["market_id"]), Side.BUY, mix._price_near(market, view, 5) + 1,
                            mix._size(market))
        if int(market["tick_size"]) == 1:
            action = PlaceOrder(number, 99, Side.BUY, 1, 1)
        return mix._sign(key, view, action, kind="bad", summary="off-tick price")
    if roll == 1:
        return mix._sign(key, view, PlaceOrder(number, 99, Side.SELL, 1, 1), kind="bad", summary="unknown market")
    if roll == 2:
        good = mix._sign(key, view, CancelAll(number, 0), kind="bad", summary="")
        return Draw(good.raw[:-3] + bytes(3), "bad", "corrupted signature")
    if mix._sent:
        return Draw(mix.rng.choice(mix._sent), "bad", "replayed tx")
    return mix._sign(key, view, Transfer(number, SubaccountId(key.address, number), 1), kind="bad", summary="self-transfer")


_OPERATIONS: dict[str, Callable[[OperationMix, _View], Draw | None]] = {
    "place_limit": _place_limit, "place_batch": _place_batch, "place_taker": _place_taker, "lever_up": _lever_up, "iceberg": _iceberg,
    "cancel": _cancel, "cancel_all": _cancel_all, "modify": _modify, "conditional": _conditional,
    "trailing": _trailing, "tpsl": _tpsl, "twap": _twap, "cancel_twap": _cancel_twap, "transfer": _transfer,
    "withdraw": _withdraw, "deposit": _deposit, "dead_man": _dead_man, "bad": _bad,
}

CRASH_BLOCKS = 3  # blocks a shock keeps its direction: 12% to 30% in all

DEFAULT_WEIGHTS: dict[str, int] = {
    "place_limit": 30, "place_batch": 6, "place_taker": 14, "lever_up": 4, "iceberg": 3, "cancel": 10, "cancel_all": 1,
    "modify": 5, "conditional": 5, "trailing": 2, "tpsl": 3, "twap": 2, "cancel_twap": 1, "transfer": 5,
    "withdraw": 2, "deposit": 3, "dead_man": 1, "bad": 5,
}
