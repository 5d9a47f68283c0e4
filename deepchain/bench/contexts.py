"""Proof contexts for the benchmarks (a bench group, round 1, party i)."""

from __future__ import annotations

from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.vector import proof_context
from deepchain.crypto.zk.transcript import ProofContext

BENCH_GROUP = "co-bench"


def grad_ctx(pk: ThresholdPublicKey, index: int = 1) -> ProofContext:
    """Party ``index``'s gradient-proof context in the bench group."""
    return proof_context(pk, BENCH_GROUP, 1, "gradient_submission", index, f"bench-{index}")


def share_ctx(pk: ThresholdPublicKey, index: int) -> ProofContext:
    """Party ``index``'s decryption-share-proof context in the bench group."""
    return proof_context(pk, BENCH_GROUP, 1, "decryption_share", index, f"bench-{index}")
