"""The demo's misbehaving parties: which fault a simulated party commits in which round, and
the poisoning party's model-replacement update."""

from __future__ import annotations

from typing import Any

import numpy as np

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.vector import EncryptedUpdate


def fault_in_round(behaviour: str, r: int) -> str | None:
    """The demo fault a simulated party commits in round r: "late" and "cheat" (an invalid
    proof) every round; "flaky" an invalid proof in round 1 and late in round 2, honest after
    (so one demo run shows a penalty of each kind and the others' extra pay); "scaled" a
    model-replacement update every round (``model_replacement_update``)."""
    if behaviour in ("late", "cheat", "scaled"):
        return behaviour
    if behaviour == "flaky":
        return {1: "cheat", 2: "late"}.get(r)
    return None


def model_replacement_update(
    pk: ThresholdPublicKey, scheme: PackingScheme, q: np.ndarray, ctx: Any
) -> tuple[np.ndarray, EncryptedUpdate]:
    """The poisoning party of the demo: its update scaled by N (so the mean becomes its own
    model), encrypted with a valid Proof_PK and a slot-bound proof that the real prover makes
    from the scaled digits (bits that are not all 0/1), which the verifier must refuse."""
    from deepchain.crypto.randomness import rng_or_system
    from deepchain.crypto.security_params import ALPHA_BITS
    from deepchain.crypto.zk.batch_proof_pk import prove_update
    from deepchain.crypto.zk.slot_bound import digit_bits, prove_bits

    b = scheme.q_bound
    bad = np.clip(pk.N * np.asarray(q, dtype=np.int64), -scheme.q_max, scheme.q_max)
    ms = scheme.pack(bad)
    r = rng_or_system(None)
    alphas = [r.getrandbits(ALPHA_BITS) for _ in ms]
    cs = [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)]
    batch = prove_update(pk, scheme, cs, ms, alphas, ctx=ctx)
    d = bad + b
    bits = digit_bits(np.clip(d, 0, 2 * b), 2 * b).astype(np.int64)
    bits[:, 0] += d - np.clip(d, 0, 2 * b)  # the excess on bit 0: the digits are the true ones
    proof = prove_bits(pk, scheme, b, int(bad.size), cs, bits.reshape(-1).tolist(), alphas,
                       ctx=ctx)  # fmt: skip
    upd = EncryptedUpdate(cs, [], int(bad.size), batch_proof=batch, bound_proof=proof)
    return bad, upd
