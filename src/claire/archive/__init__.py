"""Years of history: sealed segments, Merkle trees and inclusion proofs (issue 14)."""
