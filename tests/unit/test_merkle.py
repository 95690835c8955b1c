"""RFC 6962 Merkle trees: the published Certificate Transparency vectors, and every proof of
every tree shape checked against the RFC's recursive definition."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from claire.archive.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    leaf_hash,
    merkle_root,
    root_from_path,
    verify_inclusion,
)

# Test vectors published with RFC 6962 implementations (Certificate Transparency).
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
PATHS = {
    0: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    5: ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH as RFC 6962 §2.1 writes it: split at the largest power of two below n."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


def reference_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) as RFC 6962 §2.1.1 writes it."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if index < k:
        return [*reference_path(index, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_path(index - k, leaves[k:]), reference_root(leaves[:k])]


def test_roots_match_the_published_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MerkleTree([]).root == EMPTY_ROOT
    for size in range(1, len(LEAVES) + 1):
        assert MerkleTree.of_leaves(LEAVES[:size]).root.hex() == ROOTS[size - 1]


def test_audit_paths_match_the_published_vectors() -> None:
    tree = MerkleTree.of_leaves(LEAVES)
    for index, expected in PATHS.items():
        path = tree.audit_path(index)
        assert [p.hex() for p in path] == expected
        assert verify_inclusion(leaf_hash(LEAVES[index]), index, 8, path, tree.root)


@given(st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True))
def test_every_proof_of_every_shape_agrees_with_the_rfc(leaves: list[bytes]) -> None:
    # (A path does not bind the tree size on its own — the signed manifest carries the size
    # beside the root — so a wrong size is not among the cases below.)
    tree = MerkleTree.of_leaves(leaves)
    size = len(leaves)
    assert tree.root == reference_root(leaves) == merkle_root([leaf_hash(x) for x in leaves])
    for index, data in enumerate(leaves):
        path = tree.audit_path(index)
        assert path == reference_path(index, leaves)
        leaf = leaf_hash(data)
        assert verify_inclusion(leaf, index, size, path, tree.root)
        # A proof proves one thing: the wrong place, size, leaf, root or path fails.
        assert not verify_inclusion(leaf_hash(data + b"x"), index, size, path, tree.root)
        if size > 1:
            assert not verify_inclusion(leaf, (index + 1) % size, size, path, tree.root)
            assert not verify_inclusion(leaf, index, size, path[:-1], tree.root)
            assert not verify_inclusion(leaf, index, size, [*path, path[0]], tree.root)
            flipped = bytes([path[0][0] ^ 1]) + path[0][1:]
            assert not verify_inclusion(leaf, index, size, [flipped, *path[1:]], tree.root)


def test_out_of_range_index_is_refused() -> None:
    tree = MerkleTree.of_leaves(LEAVES[:3])
    assert root_from_path(leaf_hash(LEAVES[0]), 3, 3, []) is None
    assert root_from_path(leaf_hash(LEAVES[0]), -1, 3, []) is None
    try:
        tree.audit_path(3)
    except IndexError as exc:
        assert "outside a tree of 3 leaves" in str(exc)
    else:
        raise AssertionError("audit_path(3) of a 3-leaf tree must fail")


@given(st.lists(st.binary(max_size=8), max_size=70), st.data())
def test_a_compact_range_extended_in_steps_has_the_rfc_root(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """What a checkpoint does: the previous tree's frontier, extended by the new leaves."""
    cut = data.draw(st.integers(0, len(leaves)))
    first = CompactRange()
    for leaf in leaves[:cut]:
        first.append(leaf_hash(leaf))
    assert first.root == reference_root(leaves[:cut])
    assert len(first.nodes) == cut.bit_count()
    resumed = CompactRange(list(first.nodes), first.size)
    for leaf in leaves[cut:]:
        resumed.append(leaf_hash(leaf))
    assert resumed.size == len(leaves)
    assert resumed.root == reference_root(leaves) == MerkleTree.of_leaves(leaves).root


def test_a_frontier_of_the_wrong_length_is_refused() -> None:
    try:
        CompactRange([leaf_hash(b"a")], 3)
    except ValueError as exc:
        assert "perfect subtrees of 3 leaves" in str(exc)
    else:
        raise AssertionError("three leaves have two perfect subtrees, not one")
