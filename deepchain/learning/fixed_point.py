"""The protocol's fixed-point model update, shared by the agent, the auditor's twin and the
benchmarks (docs/PROTOCOL.md, section 9).

The encrypted aggregate decrypts to the exact integer sum S of the accepted quantized
updates; the 1/n mean is applied once, in integers, then dequantized. ``fixed_point_twin``
runs plaintext training with exactly that arithmetic.
"""

from __future__ import annotations

import numpy as np

from deepchain.crypto.encoding import PackingScheme
from deepchain.learning.strategies import (
    Strategy,
    fixed_point_mean_vector,
    scale_bits_of,
    twin_aggregate,
)

__all__ = ["apply_aggregate", "fixed_point_twin"]


def apply_aggregate(
    w_prev: np.ndarray, sums: np.ndarray, n: int, scheme: PackingScheme
) -> np.ndarray:
    """W_r = W_{r-1} + (1/n) sum_j dW_j, the 1/n applied once in fixed point (paper Alg. 2).

    ``sums`` is the decrypted integer aggregate S = sum_j q_j of the n accepted quantized
    updates; the mean round(S / n) is exact in integers, then dequantized.
    """
    mean_q = fixed_point_mean_vector(sums, n)
    w = np.asarray(w_prev, dtype=np.float64) + mean_q.astype(np.float64) / scheme.scale
    return w.astype(np.float32)


def fixed_point_twin(scheme: PackingScheme, strategy: Strategy | None = None):
    """Plaintext training with exactly the encrypted path's arithmetic: quantize each update,
    sum the integers (what threshold decryption of the aggregate yields), apply the 1/n mean
    and the group's server optimizer (default FedAvg) in fixed point. Encrypted and twin runs
    differ only if the cryptography changed a value. One per run: it keeps the optimizer state.
    """
    return twin_aggregate(strategy or Strategy(), scheme.quantize, scale_bits_of(scheme.scale))
