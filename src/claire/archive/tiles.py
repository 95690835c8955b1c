"""A segment's Merkle tree kept at one height, so a proof never rehashes the whole segment.

The segment's tree is RFC 6962's over its events' canonical bytes (leaf i = sequence
first_sequence + i). Built bottom up, node k at height h covers leaves k*2^h .. (k+1)*2^h - 1
(fewer for the last), and is the root of the tree over exactly those leaves. So sealing keeps
only the nodes at TILE_HEIGHT (the `.tree` file: 32 bytes each, 1/8 byte per event at height 8),
and a proof for leaf i hashes the <= 2^h leaves of its tile for the lower part of the path and
takes the upper part from the stored nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from claire.archive.merkle import MerkleTree

NODE_BYTES = 32


def tile_roots(leaf_hashes: Sequence[bytes], height: int) -> list[bytes]:
    """The height-`height` nodes over leaves that start at a tile boundary."""
    size = 1 << height
    return [MerkleTree(leaf_hashes[i : i + size]).root for i in range(0, len(leaf_hashes), size)]


def segment_root(nodes: Sequence[bytes]) -> bytes:
    return MerkleTree(nodes).root


def audit_path(
    tile_leaves: Sequence[bytes], index: int, nodes: Sequence[bytes], height: int
) -> list[bytes]:
    """The RFC 6962 audit path of leaf `index` of the segment, from the leaf hashes of its
    tile and the stored nodes."""
    tile = index >> height
    lower = MerkleTree(tile_leaves).audit_path(index & ((1 << height) - 1))
    return lower + MerkleTree(nodes).audit_path(tile)


def encode_nodes(nodes: Sequence[bytes]) -> bytes:
    return b"".join(nodes)


def decode_nodes(data: bytes) -> list[bytes]:
    if len(data) % NODE_BYTES:
        raise ValueError(f"{len(data)} bytes is not a whole number of {NODE_BYTES}-byte nodes")
    return [data[i : i + NODE_BYTES] for i in range(0, len(data), NODE_BYTES)]


__all__ = ["NODE_BYTES", "audit_path", "decode_nodes", "encode_nodes", "segment_root", "tile_roots"]
