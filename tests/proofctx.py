"""Proof contexts for tests that call the provers and verifiers directly."""

from __future__ import annotations

from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.vector import proof_context

GROUP = "co-test"


def grad_ctx(pk: ThresholdPublicKey, index: int = 1, round_no: int = 1, group: str = GROUP):
    """The context of party ``index``'s gradient proof in ``round_no`` of ``group``."""
    return proof_context(pk, group, round_no, "gradient_submission", index, f"party-{index}")


def share_ctx(pk: ThresholdPublicKey, index: int, round_no: int = 1, group: str = GROUP):
    """The context of party ``index``'s decryption-share proof."""
    return proof_context(pk, group, round_no, "decryption_share", index, f"party-{index}")
