"""The balances tree: one leaf per address with a positive claimable amount, kept incrementally.

    leaf   = keccak256(keccak256(abi.encode(address, uint256 amount)))
    parent = keccak256(min(a, b) || max(a, b))        (sorted pair: a proof needs no left/right bits)
    a last node without a sibling moves up unchanged; the root of no leaves is 32 zero bytes

This is the shape OpenZeppelin's MerkleProof.verify checks, so Vault.exit costs one keccak per
proof element. A leaf hashes 32 bytes while an inner node hashes 64, so no inner node can be
presented as a leaf (the double hash is what makes the difference).

Leaf order (stable positions, so an anchor rehashes only what changed):
  1. an address whose amount changes but stays positive keeps its position;
  2. addresses whose amount drops to zero leave in descending position order, the last leaf
     moving into each freed position;
  3. addresses that become positive are appended in increasing address order.

keccak256 comes in as a function (modules/ may not import a keccak library).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

Keccak = Callable[[bytes], bytes]

EMPTY_ROOT = bytes(32)
MAX_AMOUNT = 2**256 - 1


@dataclass(frozen=True)
class Leaf:
    address: bytes  # 20 bytes
    amount_micro_usdc: int  # > 0


@dataclass(frozen=True)
class LeafChange:
    """What one anchor did to one position: `before` None for a new position, `after` None for
    a position that no longer exists (the tree shrank past it)."""

    position: int
    before: Leaf | None
    after: Leaf | None


def leaf_preimage(address: bytes, amount_micro_usdc: int) -> bytes:
    """abi.encode(address, uint256): each value left-padded to 32 bytes."""
    if len(address) != 20:
        raise ValueError(f"an address is 20 bytes, got {len(address)}")
    if not 0 <= amount_micro_usdc <= MAX_AMOUNT:
        raise ValueError(f"amount {amount_micro_usdc} does not fit a uint256")
    return address.rjust(32, b"\0") + amount_micro_usdc.to_bytes(32, "big")


def leaf_hash(keccak: Keccak, address: bytes, amount_micro_usdc: int) -> bytes:
    return keccak(keccak(leaf_preimage(address, amount_micro_usdc)))


def hash_pair(keccak: Keccak, a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a <= b else b + a)


def verify(keccak: Keccak, root: bytes, address: bytes, amount_micro_usdc: int, proof: Iterable[bytes]) -> bool:
    """What Vault.exit checks: fold the proof into the leaf and compare with the root."""
    node = leaf_hash(keccak, address, amount_micro_usdc)
    for sibling in proof:
        node = hash_pair(keccak, node, sibling)
    return node == root


def sum_leaves_after(total: int, changes: Iterable[LeafChange]) -> int:
    """The leaves' sum after `changes` (a moved leaf leaves one position and enters another)."""
    for change in changes:
        total += (change.after.amount_micro_usdc if change.after else 0) - (
            change.before.amount_micro_usdc if change.before else 0)
    return total


class BalanceTree:
    """The leaves in position order and every level of hashes above them, in memory.

    levels[0] are the leaf hashes; levels[k + 1][i] = hash_pair(levels[k][2i], levels[k][2i + 1]),
    or levels[k][2i] alone when it has no sibling. Updating d leaves rehashes at most d nodes per
    level instead of the whole tree."""

    def __init__(self, keccak: Keccak, leaves: Iterable[Leaf] = ()) -> None:
        self.keccak = keccak
        self._leaves: list[Leaf] = list(leaves)
        self._position: dict[bytes, int] = {leaf.address: i for i, leaf in enumerate(self._leaves)}
        if len(self._position) != len(self._leaves):
            raise ValueError("an address appears twice among the leaves")
        self.total_micro_usdc = sum(leaf.amount_micro_usdc for leaf in self._leaves)
        self._levels: list[list[bytes]] = [[leaf_hash(keccak, leaf.address, leaf.amount_micro_usdc) for leaf in self._leaves]]
        self._rehash(set(range(len(self._leaves))), rebuild=True)

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._leaves)

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self._leaves else EMPTY_ROOT

    def leaves(self) -> list[Leaf]:
        return list(self._leaves)

    def amount(self, address: bytes) -> int:
        position = self._position.get(address)
        return self._leaves[position].amount_micro_usdc if position is not None else 0

    def position(self, address: bytes) -> int | None:
        return self._position.get(address)

    def proof(self, address: bytes) -> list[bytes]:
        """The siblings from the leaf up (none where a node had no sibling). KeyError if absent."""
        index = self._position[address]
        proof = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index //= 2
        return proof

    # -- changing ------------------------------------------------------------------------------

    def apply(self, amounts: Mapping[bytes, int]) -> list[LeafChange]:
        """Set each address's claimable amount (0 removes it), following the documented leaf
        order; rehash only what moved. Returns the positions that changed, in position order."""
        for address, amount in amounts.items():
            if amount < 0 or amount > MAX_AMOUNT or len(address) != 20:
                raise ValueError(f"bad leaf {address.hex()}: {amount}")
        touched: dict[int, Leaf | None] = {}  # position -> its leaf before this call

        def remember(position: int) -> None:  # before the position's first change
            if position not in touched:
                touched[position] = self._leaves[position] if position < len(self._leaves) else None

        def put(position: int, leaf: Leaf) -> None:
            remember(position)
            if position == len(self._leaves):
                self._leaves.append(leaf)
            else:
                self._leaves[position] = leaf
            self._position[leaf.address] = position

        removed: list[int] = []
        added: list[bytes] = []
        for address in sorted(amounts):  # 1. in place
            amount = amounts[address]
            position = self._position.get(address)
            if position is None:
                if amount > 0:
                    added.append(address)
            elif amount == 0:
                removed.append(position)
            elif self._leaves[position].amount_micro_usdc != amount:
                put(position, Leaf(address, amount))
        for position in sorted(removed, reverse=True):  # 2. the last leaf fills each hole
            remember(position)
            remember(len(self._leaves) - 1)
            del self._position[self._leaves[position].address]
            last = self._leaves.pop()
            if position < len(self._leaves):
                put(position, last)
        for address in added:  # 3. appended in address order
            put(len(self._leaves), Leaf(address, amounts[address]))
        self._hash_leaves(sorted(touched))
        self._rehash(set(touched))
        changes = [LeafChange(position, before, self._leaves[position] if position < len(self._leaves) else None)
                   for position, before in sorted(touched.items())]
        changes = [change for change in changes if change.before != change.after]
        self.total_micro_usdc = sum_leaves_after(self.total_micro_usdc, changes)
        return changes

    def _hash_leaves(self, positions: list[int]) -> None:
        """Level 0 trimmed to the leaf count, then the leaf hash of every touched position that
        still exists (positions past the old end are appended in increasing order)."""
        level0 = self._levels[0]
        del level0[len(self._leaves):]
        for position in positions:
            if position >= len(self._leaves):
                continue
            leaf = self._leaves[position]
            hashed = leaf_hash(self.keccak, leaf.address, leaf.amount_micro_usdc)
            if position < len(level0):
                level0[position] = hashed
            else:
                level0.append(hashed)

    def _rehash(self, dirty: set[int], rebuild: bool = False) -> None:
        """Recompute the parents of `dirty` children, level by level, trimming or growing each
        level to ceil(len(below) / 2)."""
        keccak = self.keccak
        depth = 0
        while len(self._levels[depth]) > 1:
            below = self._levels[depth]
            if depth + 1 == len(self._levels):
                self._levels.append([])
            above = self._levels[depth + 1]
            size = (len(below) + 1) // 2
            if rebuild:
                parents = set(range(size))
            else:
                parents = {i // 2 for i in dirty if i // 2 < size}
                if len(above) != size:  # the last parent may have lost or gained its sibling
                    parents.add(size - 1)
                    parents.update(range(len(above), size))
            del above[size:]
            above.extend(bytes(32) for _ in range(size - len(above)))
            for i in sorted(parents):
                left = 2 * i
                if left + 1 < len(below):
                    a, b = below[left], below[left + 1]
                    above[i] = keccak(a + b if a <= b else b + a)
                else:
                    above[i] = below[left]
            dirty = parents
            depth += 1
        del self._levels[depth + 1:]
