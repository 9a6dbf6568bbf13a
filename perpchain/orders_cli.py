"""`perpchain tx trailing-stop | tpsl | twap | cancel-twap` and `perpchain query twaps`
(docs/orders.md). Prices in USDC, sizes in units of the base asset, as everywhere in the CLI."""

from __future__ import annotations

import argparse
from typing import Any

from client.amounts import parse_decimal
from client.arguments import uint_arg
from modules.integers import U32_MAX

TX_COMMANDS = ("trailing-stop", "tpsl", "twap", "cancel-twap")


def add_tx_parsers(tx_commands: argparse._SubParsersAction[argparse.ArgumentParser], signer: argparse.ArgumentParser,
                   in_market: argparse.ArgumentParser) -> None:
    trailing = tx_commands.add_parser("trailing-stop", parents=[signer, in_market],
                                      help="a stop that follows the best oracle price and never moves back")
    trailing.add_argument("--side", required=True, choices=["buy", "sell"],
                          help="sell protects a long (trails below the high), buy a short")
    trailing.add_argument("--size", required=True)
    distance = trailing.add_mutually_exclusive_group(required=True)
    distance.add_argument("--trail", help="distance in USDC (a multiple of the tick)")
    distance.add_argument("--trail-bps", type=uint_arg("trail-bps", 0, U32_MAX), help="distance in basis points of the best price")
    trailing.add_argument("--max-slippage-bps", type=uint_arg("max-slippage-bps", 0, U32_MAX), default=100, help="the triggered IOC's worst price")
    trailing.add_argument("--reduce-only", action="store_true")

    tpsl = tx_commands.add_parser("tpsl", parents=[signer, in_market],
                                  help="take-profit and/or stop-loss on your position (one cancels the other)")
    tpsl.add_argument("--take-profit", help="oracle price (USDC) that takes the profit")
    tpsl.add_argument("--stop-loss", help="oracle price (USDC) that stops the loss")
    tpsl.add_argument("--size", help="how much of the position (default: all of it)")
    tpsl.add_argument("--max-slippage-bps", type=uint_arg("max-slippage-bps", 0, U32_MAX), default=100)

    twap = tx_commands.add_parser("twap", parents=[signer, in_market],
                                  help="a parent order sent as IOC children every N blocks")
    twap.add_argument("--side", required=True, choices=["buy", "sell"])
    twap.add_argument("--size", required=True, help="the total")
    twap.add_argument("--slices", type=uint_arg("slices", 0, U32_MAX), required=True)
    twap.add_argument("--interval-blocks", type=uint_arg("interval-blocks", 0, U32_MAX), required=True)
    twap.add_argument("--max-slippage-bps", type=uint_arg("max-slippage-bps", 0, U32_MAX), default=100, help="each child's worst price, from the oracle")
    twap.add_argument("--reduce-only", action="store_true")

    cancel_twap = tx_commands.add_parser("cancel-twap", parents=[signer, in_market], help="stop a running TWAP")
    cancel_twap.add_argument("--twap-id", type=uint_arg("twap-id"), required=True)


def tx_actions(args: argparse.Namespace, market: dict[str, Any]) -> list[Any]:
    """The one action each command sends."""
    from client import CancelTwap, PlaceTrailingStop, PlaceTwap, SetPositionTpSl, Side

    market_id, size_decimals = market["market_id"], market["size_decimals"]
    command = args.tx_command
    if command == "trailing-stop":
        return [PlaceTrailingStop(args.subaccount, market_id, Side[args.side.upper()],
                                  parse_decimal(args.size, size_decimals, "size"),
                                  parse_decimal(args.trail, 6, "trail") if args.trail else 0, args.trail_bps or 0,
                                  args.max_slippage_bps, args.reduce_only)]
    if command == "tpsl":
        return [SetPositionTpSl(args.subaccount, market_id,
                                parse_decimal(args.take_profit, 6, "take-profit") if args.take_profit else 0,
                                parse_decimal(args.stop_loss, 6, "stop-loss") if args.stop_loss else 0,
                                parse_decimal(args.size, size_decimals, "size") if args.size else 0,
                                args.max_slippage_bps)]
    if command == "twap":
        return [PlaceTwap(args.subaccount, market_id, Side[args.side.upper()],
                          parse_decimal(args.size, size_decimals, "size"), args.slices, args.interval_blocks,
                          args.max_slippage_bps, args.reduce_only)]
    return [CancelTwap(args.subaccount, market_id, args.twap_id)]
