"""What a round costs, measured on this machine, so that a group's default phase windows are
long enough for the chosen model and key size (and a too-short one is flagged).

``measure(key_bits, model)`` runs the real code once per (key size, model) and process: a real
threshold key of that size, an update of ``SAMPLE_CIPHERTEXTS`` packed ciphertexts encrypted
with its batched Proof_PK, verified, and one party's decryption shares with Proof_CD of them;
and ``SAMPLE_STEPS`` SGD steps of the model on random images (after one warm-up step). CPU
time per ciphertext, wall time per step (torch may use several threads). A phase's expected
seconds then follow for a group whose N parties share this machine's cores (the demo; parties
on their own hosts are faster, so the estimate bounds them from above): cost x ciphertexts x
N / cores. ``default_windows_s`` is SAFETY times that plus a fixed margin (polling,
scheduling, consensus). Assumption: the machine is not much busier than when it measured.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from typing import Any

SAMPLE_CIPHERTEXTS = 8
SAMPLE_STEPS = 3
#: a default window is this many times the expected cost, plus MARGIN_S
SAFETY = 2.5
MARGIN_S = 15


@lru_cache(maxsize=16)
def measure(key_bits: int, model: str) -> dict[str, float]:
    """CPU seconds per ciphertext (encrypt+prove, verify, share+prove) and per SGD step."""
    import numpy as np

    from deepchain.crypto.packing import PLATFORM_PACKING
    from deepchain.crypto.paillier import generate_threshold_keypair
    from deepchain.crypto.vector import (
        decryption_share,
        encrypt_update,
        proof_context,
        verify_update,
    )
    from deepchain.learning.data import Dataset
    from deepchain.learning.local import train_local
    from deepchain.learning.models import build_model, param_count
    from deepchain.learning.models import initial_params as w0_of

    pk, shares = generate_threshold_keypair(key_bits, 3, 2)
    scheme = PLATFORM_PACKING.scheme(key_bits, model)
    q = np.zeros(scheme.slots_per_ciphertext * SAMPLE_CIPHERTEXTS, dtype=np.int64)
    ctx = proof_context(pk, "co-measure", 1, "gradient_submission", 1, "00" * 32)
    t = time.process_time()
    upd = encrypt_update(pk, scheme, q, ctx=ctx)
    enc = (time.process_time() - t) / SAMPLE_CIPHERTEXTS
    t = time.process_time()
    verify_update(pk, scheme, upd, ctx=ctx)
    ver = (time.process_time() - t) / SAMPLE_CIPHERTEXTS
    share_ctx = proof_context(pk, "co-measure", 1, "decryption_share", 1, "00" * 32)
    t = time.process_time()
    decryption_share(pk, shares[0], upd.ciphertexts, ctx=share_ctx)
    share = (time.process_time() - t) / SAMPLE_CIPHERTEXTS
    rng = np.random.default_rng(0)
    data = Dataset(rng.standard_normal((64, 1, 28, 28)).astype(np.float32),
                   rng.integers(0, 10, 64).astype(np.int64), "random")  # fmt: skip
    w0 = w0_of(model, 0)
    train_local(model, w0, data, 1, 0.1, 64, 0)  # warm-up (threads, allocator)
    t = time.perf_counter()
    train_local(model, w0, data, SAMPLE_STEPS, 0.1, 64, 0)
    step = (time.perf_counter() - t) / SAMPLE_STEPS
    params = param_count(build_model(model))
    return {"encrypt_s": enc, "verify_s": ver, "share_s": share, "step_s": step,
            "ciphertexts": scheme.n_ciphertexts(params), "params": params}  # fmt: skip


def cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def expected_s(key_bits: int, model: str, n_parties: int, local_iterations: int,
               cost: dict[str, float] | None = None) -> dict[str, float]:  # fmt: skip
    """Expected seconds of the long phases for N parties on this machine's cores."""
    c = cost or measure(key_bits, model)
    k, share_work = c["ciphertexts"], max(1, n_parties) / cores()
    return {
        "gradient_submission": share_work * (local_iterations * c["step_s"] + k * c["encrypt_s"]),
        "verification": share_work * k * c["verify_s"],
        "decryption_share": share_work * k * c["share_s"],
    }


def default_windows_s(key_bits: int, model: str, n_parties: int, local_iterations: int,
                      cost: dict[str, float] | None = None) -> dict[str, int]:  # fmt: skip
    """Default deadline windows (seconds) for the long phases: SAFETY x expected + MARGIN_S."""
    exp = expected_s(key_bits, model, n_parties, local_iterations, cost)
    return {p: int(round(SAFETY * s + MARGIN_S)) for p, s in exp.items()}


def phase_estimate_s(group: Any, phase: str) -> float | None:
    """The dashboard's estimate for a phase of ``group`` before any round measured it, or None
    when it is a short phase (the deadline then bounds it) or the measurement is not cached."""
    if phase not in ("gradient_submission", "verification", "decryption_share"):
        return None
    key = (int(group.key_bits), str(group.model_name))
    if key not in _cached_keys():
        return None
    exp = expected_s(*key, int(group.n_parties), int(group.local_iterations))
    return exp[phase] + MARGIN_S / 3


def _cached_keys() -> set[tuple[int, str]]:
    # lru_cache exposes no keys; what was measured in this process is recorded here
    return _MEASURED


_MEASURED: set[tuple[int, str]] = set()
_measure = measure


def measured(key_bits: int, model: str) -> dict[str, float]:
    """``measure`` and remember that (key_bits, model) is now known in this process."""
    out = _measure(int(key_bits), str(model))
    _MEASURED.add((int(key_bits), str(model)))
    return out
