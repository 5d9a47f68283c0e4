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
    model-replacement update every round (``model_replacement_update``); "stretched" one
    within the L-infinity bound but over the L2 bound (``norm_violating_update``)."""
    if behaviour in ("late", "cheat", "scaled", "stretched"):
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
    from deepchain.crypto.zk.norm_bound import slack, slack_bits
    from deepchain.crypto.zk.slot_bound import bit_basis, digit_bits, prove_bits

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
    c2, s_bits = scheme.l2_bound, None
    if c2 is not None:  # the slack of its claimed (in-range) digits, 0 if they are over
        s_bits = slack_bits(max(0, slack(np.clip(bad, -b, b).tolist(), c2)), bit_basis(c2 * c2))
    proof = prove_bits(pk, scheme, b, int(bad.size), cs, bits.reshape(-1).tolist(), alphas,
                       ctx=ctx, c2=c2, s_bits=s_bits)  # fmt: skip
    upd = EncryptedUpdate(cs, [], int(bad.size), batch_proof=batch, bound_proof=proof)
    return bad, upd


def norm_violating_update(
    pk: ThresholdPublicKey, scheme: PackingScheme, q: np.ndarray, ctx: Any
) -> tuple[np.ndarray, EncryptedUpdate]:
    """The poisoning party of a group with an L2 bound: its update scaled by N and clipped
    back into the L-infinity bound (every coordinate within it, the norm over the L2 bound),
    encrypted with a valid Proof_PK and a slot-bound proof the real prover makes without its
    norm check (the slack forged as 0, the only freedom it has), which the verifier must
    refuse ("norm")."""
    from deepchain.crypto.randomness import rng_or_system
    from deepchain.crypto.security_params import ALPHA_BITS
    from deepchain.crypto.zk.batch_proof_pk import prove_update
    from deepchain.crypto.zk.norm_bound import slack_bits
    from deepchain.crypto.zk.slot_bound import bit_basis, digit_bits, prove_bits

    b, c2 = scheme.bound, scheme.l2_bound
    if b is None or c2 is None:
        raise ValueError("norm_violating_update: the group has no L2 bound")
    bad = np.clip(pk.N * np.asarray(q, dtype=np.int64), -b, b)
    ms = scheme.pack(bad)
    r = rng_or_system(None)
    alphas = [r.getrandbits(ALPHA_BITS) for _ in ms]
    cs = [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)]
    batch = prove_update(pk, scheme, cs, ms, alphas, ctx=ctx)
    bits = digit_bits(bad + b, 2 * b).reshape(-1).tolist()
    proof = prove_bits(pk, scheme, b, int(bad.size), cs, bits, alphas, ctx=ctx, c2=c2,
                       s_bits=slack_bits(0, bit_basis(c2 * c2)))  # fmt: skip
    upd = EncryptedUpdate(cs, [], int(bad.size), batch_proof=batch, bound_proof=proof)
    return bad, upd
