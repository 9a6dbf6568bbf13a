"""The modules the chain runs, one line each. Adding a module: a folder modules/<name>/ whose
module.py declares `MODULE` (modules/module.py), and its name in NAMES; a module with block
hooks also names itself in BEGIN_BLOCKERS or END_BLOCKERS, which fix the hooks' order (Cosmos'
SetOrderBeginBlockers / SetOrderEndBlockers). The app routes everything through REGISTRY.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Mapping

from modules.module import BlockHook, GenesisSection, Invariant, Module, Query, Route

NAMES = (
    "auth",
    "bank",
    "markets",
    "oracle",
    "funding",
    "margin",
    "bridge",
    "anchor",
    "orderbook",
    "liquidation",
    "staking",
)
BEGIN_BLOCKERS = ("anchor", "staking", "oracle", "orderbook")  # before the block's txs, in this order
END_BLOCKERS = ("funding", "liquidation", "staking", "anchor")  # after them, in this order


@dataclass(frozen=True)
class Registry:
    """What the modules declared, gathered: actions to routes, query paths to queries, genesis
    sections and invariants in module order, block hooks in their own order."""

    modules: tuple[Module, ...]
    routes: Mapping[type, Route]
    queries: Mapping[tuple[str, ...], Query]
    genesis: tuple[GenesisSection, ...]
    invariants: tuple[Invariant, ...]
    begin_block: tuple[BlockHook, ...]
    end_block: tuple[BlockHook, ...]


def declared(name: str) -> Module:
    """modules/<name>/module.py's MODULE."""
    found = getattr(import_module(f"modules.{name}.module"), "MODULE", None)
    if not isinstance(found, Module) or found.name != name:
        raise TypeError(f"modules/{name}/module.py must declare MODULE = Module({name!r}, ...)")
    return found


def load(names: tuple[str, ...], begin_blockers: tuple[str, ...], end_blockers: tuple[str, ...]) -> Registry:
    """The registry of the modules `names`; refuses an action or a query path two modules
    declare, and a hook order that does not name each module with such a hook exactly once."""
    modules = tuple(declared(name) for name in names)
    routes: dict[type, Route] = {}
    queries: dict[tuple[str, ...], Query] = {}
    for module in modules:
        for action, route in module.routes.items():
            if action in routes:
                raise TypeError(f"{action.__name__} is routed by two modules")
            routes[action] = route
        for path, query in module.queries.items():
            if path in queries:
                raise TypeError(f"the query path /{'/'.join(path)} is declared by two modules")
            queries[path] = query
    by_name = {module.name: module for module in modules}

    def hooks(order: tuple[str, ...], kind: str) -> tuple[BlockHook, ...]:
        having = sorted(m.name for m in modules if getattr(m, kind) is not None)
        if sorted(order) != having:
            raise TypeError(f"the {kind} order {order} must name each module with a {kind} hook once: {having}")
        return tuple(getattr(by_name[name], kind) for name in order)

    return Registry(modules, routes, queries, tuple(m.genesis for m in modules if m.genesis is not None),
                    tuple(invariant for m in modules for invariant in m.invariants),
                    hooks(begin_blockers, "begin_block"), hooks(end_blockers, "end_block"))


REGISTRY = load(NAMES, BEGIN_BLOCKERS, END_BLOCKERS)
