"""What a module declares to the app, in one place (its `module.py`, Cosmos' AppModule): the
actions it handles, its genesis section, its invariants, its block hooks and its queries.
modules/registry.py lists the modules; the app routes by that list and knows no module's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Mapping, Protocol, Sequence, TypeVar

from modules.anchor.msg_server import CommittedState, LatestTree
from modules.context import Event
from modules.keepers import Branching, Keepers
from modules.oracle.types import Observation
from modules.orderbook.book import Books
from modules.queries import QueryContext
from modules.staking.types import CommitVote, Misbehavior, ValidatorUpdate
from modules.store import KVStore

Handler = Callable[[Keepers, bytes, Any], list[Event]]
"""(the keepers, the tx's signer, the action) -> its events; a ChainError refuses the whole tx."""

Check = Callable[[Keepers, bytes, Any], None]
"""CheckTx's part of an action, on the mempool's check state (its writes stay for later txs)."""

RunHandler = Callable[[Keepers, bytes, Sequence[Any]], list[Event]]
"""(the keepers, the tx's signer, consecutive actions of one type) -> their events, in order."""


@dataclass(frozen=True)
class Route:
    """How the app runs one action type: `deliver` in a block, `check` in CheckTx. With `dry_run`,
    CheckTx also runs the whole tx with the block's own handlers on a throwaway branch over the
    committed books (an order's fate depends on the book, which `check` does not touch). With
    `deliver_run`, consecutive actions of this type in a tx are delivered by one call, which
    delivers each as `deliver` would and may hand what it read from one to the next."""

    deliver: Handler
    check: Check
    dry_run: bool = False
    deliver_run: RunHandler | None = None


def check_by_delivering(deliver: Handler) -> Check:
    """A check that is the delivery itself, its effects kept on the check state (a bridge claim's
    tally: a duplicate fails at CheckTx, as it would in the block)."""

    def check(keepers: Keepers, signer: bytes, action: Any) -> None:
        deliver(keepers, signer, action)

    return check


class GenesisSection(Protocol):
    """A module's section of the genesis app_state: `validate` raises the module's genesis error
    naming the field and returns what it read (None: the section leaves the module off)."""

    @property
    def name(self) -> str: ...

    def validate(self, section: Any) -> object: ...

    def import_genesis(self, store: KVStore, section: Any) -> None: ...

    def export_genesis(self, store: KVStore) -> dict[str, Any]:
        """The section as genesis would give it; {} leaves it out of the export (module off)."""
        ...


K = TypeVar("K")


@dataclass(frozen=True)
class KeeperSection(Generic[K]):
    """A genesis section imported and exported through the module's keeper."""

    name: str
    keeper: Callable[[KVStore], K]
    validate: Callable[[Any], object]
    importer: Callable[[K, Any], None]
    exporter: Callable[[K], dict[str, Any]]

    def import_genesis(self, store: KVStore, section: Any) -> None:
        self.importer(self.keeper(store), section)

    def export_genesis(self, store: KVStore) -> dict[str, Any]:
        return self.exporter(self.keeper(store))


@dataclass(frozen=True)
class InvariantContext:
    """What an invariant reads: the committed state, the node's books, and genesis's supply."""

    store: KVStore
    books: Books
    genesis_supply_micro_usdc: int


@dataclass(frozen=True)
class Invariant:
    """A check that must hold after every block: a message when broken, else None."""

    name: str
    check: Callable[[InvariantContext], str | None]


@dataclass
class Block:
    """What a block hook sees: the block's keepers and a way to branch its store, the modules'
    in-memory state (books, the anchor tree), where the block starts from, the oracle's
    observations (tx 0's), what consensus reports (the last commit's votes, evidence), and what
    the block did so far, including the validator updates it sends CometBFT."""

    keepers: Keepers  # over the block's store
    branching: Branching
    books: Books
    anchors: LatestTree
    committed: CommittedState
    observations: list[Observation]
    writes: Mapping[bytes, bytes | None]  # the block's writes so far (a live view)
    events: list[Event] = field(default_factory=list)  # the block's own events so far (not its txs')
    commit_votes: list[CommitVote] = field(default_factory=list)  # decided_last_commit's votes
    misbehavior: list[Misbehavior] = field(default_factory=list)  # evidence committed in this block
    validator_updates: list[ValidatorUpdate] = field(default_factory=list)  # for ResponseFinalizeBlock


BlockHook = Callable[[Block], list[Event]]


@dataclass(frozen=True)
class Query:
    """A query's answer and how many arguments follow its path's names (None: the answer checks
    them itself)."""

    arity: int | None
    answer: Callable[[QueryContext, list[str]], dict[str, Any]]


@dataclass(frozen=True)
class Module:
    """A module's declaration. `begin_block` and `end_block` run in the order
    modules/registry.py gives (BEGIN_BLOCKERS, END_BLOCKERS), around the block's txs. `queries`:
    the leading names of a query path (`("bank", "balance")`, `("orders",)`) -> its query."""

    name: str
    routes: Mapping[type, Route] = field(default_factory=dict)
    genesis: GenesisSection | None = None
    invariants: tuple[Invariant, ...] = ()
    begin_block: BlockHook | None = None
    end_block: BlockHook | None = None
    queries: Mapping[tuple[str, ...], Query] = field(default_factory=dict)
