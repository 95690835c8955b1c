"""Merkle trees as Certificate Transparency defines them (RFC 6962 §2.1, RFC 9162 §2.1).

Leaf hash = SHA-256(0x00 || leaf data), interior node = SHA-256(0x01 || left || right), and a
tree of n leaves splits at the largest power of two below n. Building it bottom up gives the same
tree when a level's odd last node is carried up unhashed, which is what `MerkleTree` does, so
every level is a plain list and an audit path is one sibling per level.

Using the standard (rather than a home-made variant) is the point: an auditor can check a proof
with any RFC 6962 implementation, or with the dozen lines of `verify_inclusion`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha, prefix = hashlib.sha256, NODE_PREFIX
    pairs = iter(level)
    upper = [sha(prefix + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]
    if len(level) % 2:
        upper.append(level[-1])  # a lone last node is carried up unhashed (RFC 6962's split)
    return upper


class MerkleTree:
    """Every level of the tree over `leaf_hashes` (level 0 = the leaves, last = the root)."""

    def __init__(self, leaf_hashes: Iterable[bytes]) -> None:
        level = list(leaf_hashes)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = _next_level(level)
            self.levels.append(level)

    @classmethod
    def of_leaves(cls, leaves: Iterable[bytes]) -> MerkleTree:
        """The tree over raw leaf data (each leaf hashed with the 0x00 prefix)."""
        return cls(leaf_hash(data) for data in leaves)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def audit_path(self, index: int) -> list[bytes]:
        """The sibling hashes from leaf `index` up to the root (RFC 6962 PATH)."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} is outside a tree of {self.size} leaves")
        path: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


class CompactRange:
    """A growing tree kept as the roots of its perfect subtrees, largest first (the binary
    decomposition of its size): enough to append leaves and give the root, O(log n) hashes.

    This is how a checkpoint extends the previous one's tree without rehashing the log."""

    __slots__ = ("nodes", "size")

    def __init__(self, nodes: Sequence[bytes] = (), size: int = 0) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError(f"{len(nodes)} nodes cannot be the perfect subtrees of {size} leaves")
        self.nodes = list(nodes)
        self.size = size

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        nodes = self.nodes
        nodes.append(leaf)
        self.size += 1
        size = self.size
        sha = hashlib.sha256
        while not size & 1:  # two perfect subtrees of one height make one
            right = nodes.pop()
            nodes[-1] = sha(NODE_PREFIX + nodes[-1] + right).digest()
            size >>= 1

    @property
    def root(self) -> bytes:
        """RFC 6962's root: the subtree roots folded from the right."""
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            result = node_hash(node, result)
        return result


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    return MerkleTree(leaf_hashes).root


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that `path` leads to from `leaf` (a leaf hash) at `index` of `size` leaves, or
    None when the path cannot belong to such a tree (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        return None
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None  # the path is longer than the tree is deep
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            if not fn & 1:
                while fn and not fn & 1:  # skip the levels where this node was carried up
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return result if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True when `path` proves that leaf hash `leaf` is leaf `index` of the tree with `root`."""
    return root_from_path(leaf, index, size, path) == root


__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "MerkleTree",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "root_from_path",
    "verify_inclusion",
]
