"""The module registry (modules/registry.py): every action has one route, hooks run in the
declared order, and a module is added by its folder and one name."""

from __future__ import annotations

import sys
import types
import typing
from dataclasses import dataclass
from typing import Any

import pytest

from modules.bank.errors import InvalidGenesis
from modules.context import Event
from modules.keepers import Keepers
from modules.module import Block, Invariant, Module, Query, Route, check_by_delivering
from modules.params import ParamsSection
from modules.queries import QueryContext
from modules.registry import BEGIN_BLOCKERS, END_BLOCKERS, NAMES, REGISTRY, load
from wire import codec


def test_every_action_the_codec_decodes_has_a_route() -> None:
    assert set(REGISTRY.routes) == set(typing.get_args(codec.Action))


def test_an_order_that_misses_a_module_with_a_hook_is_refused() -> None:
    with pytest.raises(TypeError, match="must name each module with a end_block hook once"):
        load(NAMES, BEGIN_BLOCKERS, tuple(n for n in END_BLOCKERS if n != "funding"))
    with pytest.raises(TypeError, match="must name each module with a begin_block hook once"):
        load(NAMES, (*BEGIN_BLOCKERS, "oracle"), END_BLOCKERS)


def test_an_action_or_a_query_path_two_modules_declare_is_refused() -> None:
    bank = next(module for module in REGISTRY.modules if module.name == "bank")
    with _module("twice", Module("twice", routes=dict(bank.routes))):
        with pytest.raises(TypeError, match="routed by two modules"):
            load((*NAMES, "twice"), BEGIN_BLOCKERS, END_BLOCKERS)
    with _module("twice", Module("twice", queries=dict(bank.queries))):
        with pytest.raises(TypeError, match="declared by two modules"):
            load((*NAMES, "twice"), BEGIN_BLOCKERS, END_BLOCKERS)


def test_a_folder_without_a_declaration_is_refused() -> None:
    with _module("bare", None):
        with pytest.raises(TypeError, match="must declare MODULE"):
            load((*NAMES, "bare"), BEGIN_BLOCKERS, END_BLOCKERS)


@dataclass(frozen=True)
class Ping:
    note: int


@dataclass(frozen=True)
class PingParams:
    pings_per_block: int = 1


def _ping(keepers: Keepers, signer: bytes, action: Ping) -> list[Event]:
    return [Event("ping", (("note", str(action.note)),))]


def _pinged(block: Block) -> list[Event]:
    return [Event("pinged")]


def _pings(query: QueryContext, args: list[str]) -> dict[str, Any]:
    return {"pings": 0}


def test_a_new_module_is_its_declaration_and_its_name() -> None:
    """What modules/<name>/module.py declares reaches every table the app routes by, once its
    name is listed (and, having an end-block hook, placed in END_BLOCKERS)."""
    invariant = Invariant("ping/none", lambda context: None)
    section = ParamsSection("ping", PingParams, InvalidGenesis, b"ping/params")
    declared = Module("ping", routes={Ping: Route(_ping, check_by_delivering(_ping))}, genesis=section,
                      invariants=(invariant,), end_block=_pinged, queries={("ping",): Query(0, _pings)})
    with _module("ping", declared):
        registry = load((*NAMES, "ping"), BEGIN_BLOCKERS, (*END_BLOCKERS, "ping"))
    assert registry.routes[Ping].deliver is _ping
    assert registry.genesis[-1] is section and registry.invariants[-1] is invariant
    assert registry.end_block[-1] is _pinged and registry.queries[("ping",)].answer is _pings
    assert registry.routes.keys() - REGISTRY.routes.keys() == {Ping}


class _module:
    """modules.<name>.module as if its folder existed, declaring `declared` (None: nothing)."""

    def __init__(self, name: str, declared: Module | None) -> None:
        self._name = f"modules.{name}.module"
        self._module = types.ModuleType(self._name)
        if declared is not None:
            setattr(self._module, "MODULE", declared)  # a module object takes any attribute

    def __enter__(self) -> None:
        sys.modules[self._name] = self._module

    def __exit__(self, *exc: Any) -> None:
        del sys.modules[self._name]
