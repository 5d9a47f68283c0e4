"""The L2 bound of the slot-bound proof: an honest update within (and exactly at) the L2 bound
verifies; a malicious prover running the real prover code with every coordinate within the
L-infinity bound but the norm over the L2 bound (a forged slack, forged U0/U1 values, a
model-replacement update clipped into the L-infinity bound) is refused with "norm"; the
honest agent's quantization always lands within both bounds; records without an L2 bound are
unchanged."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepchain.crypto.encoding import PackingScheme, square_norm
from deepchain.crypto.packing import PLATFORM_PACKING
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.vector import (
    EncryptedUpdate,
    encrypt_update,
    update_max_bytes,
    update_refusal,
)
from deepchain.crypto.zk import norm_bound, slot_bound
from deepchain.crypto.zk.norm_bound import check_norm_statement, slack, slack_bits
from deepchain.crypto.zk.slot_bound import (
    SlotBoundProof,
    bit_basis,
    digit_bits,
    prove_bits,
    prove_slot_bound,
    slot_bound_failure,
)
from deepchain.party import norm_violating_update
from tests.proofctx import grad_ctx

B = 100  # the L-infinity bound on |q|
C2 = 500  # the L2 bound: sum q^2 <= 250,000 (40 coordinates at 100 would be 400,000)
LENGTH = 40


@pytest.fixture(scope="module")
def pk():
    return generate_threshold_keypair(512, 4, 2, rng=random.Random(73))[0]


@pytest.fixture(scope="module")
def scheme():
    return PackingScheme(512, Q=8, N_max=4, scale=2.0**4, bound=B, l2_bound=C2)


def encrypt(pk, scheme, q, rng):
    ms = scheme.pack(np.asarray(q, dtype=np.int64))
    alphas = [rng.getrandbits(448) for _ in ms]
    return [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)], alphas


def honest(pk, scheme, q, seed=1, c2=C2):
    rng = random.Random(seed)
    cs, alphas = encrypt(pk, scheme, q, rng)
    return cs, prove_slot_bound(pk, scheme, B, np.asarray(q), cs, alphas, rng, ctx=grad_ctx(pk),
                                c2=c2)  # fmt: skip


def cheat(pk, scheme, q, s, seed=2):
    """The real prover on q's true digits with the norm check removed: the slack's bits are
    those of s (any value, binary or not), not c2^2 - sum q^2."""
    rng = random.Random(seed)
    cs, alphas = encrypt(pk, scheme, q, rng)
    bits = digit_bits(np.asarray(q) + B, 2 * B).reshape(-1).tolist()
    s_bits = s if isinstance(s, list) else slack_bits(s, bit_basis(C2 * C2))
    proof = prove_bits(pk, scheme, B, len(q), cs, bits, alphas, rng, ctx=grad_ctx(pk), c2=C2,
                       s_bits=s_bits)  # fmt: skip
    return cs, proof


def failure(pk, scheme, cs, proof, c2=C2, length=LENGTH):
    return slot_bound_failure(pk, scheme, B, length, cs, proof, random.Random(6),
                              ctx=grad_ctx(pk), c2=c2)  # fmt: skip


def at_1_01_times_the_l2_bound() -> np.ndarray:
    """25 coordinates at +-b and one at 71: ||q||_2 = 505.01 = 1.01 c2, every |q| <= b."""
    q = np.zeros(LENGTH, dtype=np.int64)
    q[:25] = B * np.array([1, -1] * 12 + [1])
    q[25] = 71
    return q


def test_an_honest_update_exactly_at_the_l2_bound_verifies(pk, scheme):
    q = np.zeros(LENGTH, dtype=np.int64)
    q[:25] = [B, -B] * 12 + [B]  # 25 * 100^2 = 500^2
    assert square_norm(q) == C2 * C2
    cs, proof = honest(pk, scheme, q)
    assert failure(pk, scheme, cs, proof) is None


def test_an_honest_random_update_within_both_bounds_verifies(pk, scheme):
    q = scheme.quantize(np.random.default_rng(3).normal(0, 6, LENGTH))
    assert int(np.max(np.abs(q))) <= B and square_norm(q) <= C2 * C2
    cs, proof = honest(pk, scheme, q)
    assert failure(pk, scheme, cs, proof) is None


def test_the_prover_refuses_an_update_over_the_l2_bound(pk, scheme):
    with pytest.raises(ValueError, match="L2 bound"):
        honest(pk, scheme, at_1_01_times_the_l2_bound())


@pytest.mark.parametrize("s", [0, C2 * C2, 12_345])
def test_it_rejects_1_01_times_the_l2_bound_within_the_l_infinity_bound(pk, scheme, s):
    q = at_1_01_times_the_l2_bound()
    assert int(np.max(np.abs(q))) <= B and square_norm(q) > (1.01 * C2) ** 2
    cs, proof = cheat(pk, scheme, q, s)
    assert failure(pk, scheme, cs, proof) == "norm"


def test_it_rejects_a_negative_slack_in_non_binary_bits(pk, scheme):
    q = at_1_01_times_the_l2_bound()
    s = slack(q.tolist(), C2)  # negative: sum q^2 + s = c2^2 exactly, over the integers
    assert s < 0
    ell = len(bit_basis(C2 * C2))
    for s_bits in ([s] + [0] * (ell - 1), [s % slot_bound.R] + [0] * (ell - 1)):
        cs, proof = cheat(pk, scheme, q, s_bits)
        assert failure(pk, scheme, cs, proof) in ("range", "bits")


def test_it_rejects_forged_values_in_u0_and_u1(pk, scheme, monkeypatch):
    """The prover code with its U0, U1 values shifted (a prover that knows the excess and tries
    to absorb it without knowing e): the e^2 coefficient still exposes it."""
    q = at_1_01_times_the_l2_bound()
    excess = square_norm(q) - C2 * C2
    real = norm_bound.norm_values
    for du0, du1 in ((excess, 0), (0, excess), (-excess, 2 * excess)):
        monkeypatch.setattr(
            norm_bound, "norm_values", lambda x, v, s, a=du0, b=du1: (
                (real(x, v, s)[0] + a) % slot_bound.R, (real(x, v, s)[1] + b) % slot_bound.R)
        )  # fmt: skip
        cs, proof = cheat(pk, scheme, q, 0)
        assert failure(pk, scheme, cs, proof) == "norm"


def test_it_rejects_a_model_replacement_update_clipped_into_the_l_infinity_bound(pk, scheme):
    honest_q = scheme.quantize(np.random.default_rng(4).normal(0, 6, LENGTH))
    bad, upd = norm_violating_update(pk, scheme, honest_q, grad_ctx(pk))
    assert int(np.max(np.abs(bad))) <= B < pk.N * int(np.max(np.abs(honest_q)))
    assert square_norm(bad) > C2 * C2
    why = update_refusal(pk, scheme, upd, rng=random.Random(1), ctx=grad_ctx(pk))
    assert why == "slot-bound proof does not verify (norm: over the L2 bound)"


def test_tampering_with_u0_or_u1_is_rejected(pk, scheme):
    q = scheme.quantize(np.random.default_rng(5).normal(0, 6, LENGTH))
    cs, proof = honest(pk, scheme, q)
    nm = proof.norm
    G = slot_bound.G_Q
    for bad in (dataclasses.replace(nm, U0=nm.U0 + G), dataclasses.replace(nm, U1=nm.U1 + G),
                dataclasses.replace(nm, tau_U=(nm.tau_U + 1) % slot_bound.R),
                dataclasses.replace(nm, zs=(nm.zs[0] + 1, *nm.zs[1:]))):  # fmt: skip
        assert failure(pk, scheme, cs, dataclasses.replace(proof, norm=bad)) is not None
    # the same U0, U1 with the transcript's e: only the norm equation catches it
    assert failure(pk, scheme, cs, dataclasses.replace(proof, norm=dataclasses.replace(
        nm, tau_U=(nm.tau_U + 1) % slot_bound.R))) == "norm"  # fmt: skip


def test_a_proof_for_one_l2_bound_does_not_verify_under_another(pk, scheme):
    q = scheme.quantize(np.random.default_rng(6).normal(0, 6, LENGTH))
    cs, proof = honest(pk, scheme, q)
    assert failure(pk, scheme, cs, proof, c2=C2 + 1) is not None
    assert failure(pk, scheme, cs, proof, c2=10_000) is not None
    assert failure(pk, scheme, cs, proof, c2=None) == "statement"  # an L2 part without c2


def test_records_without_an_l2_bound_are_unchanged(pk):
    plain = PackingScheme(512, Q=8, N_max=4, scale=2.0**4, bound=B)
    q = plain.quantize(np.random.default_rng(7).normal(0, 30, LENGTH))
    assert np.array_equal(q, np.clip(np.rint(np.random.default_rng(7).normal(0, 30, LENGTH)
                                              * 16), -B, B))  # fmt: skip
    assert "l2_bound" not in plain.to_json()
    rng = random.Random(8)
    cs, alphas = encrypt(pk, plain, q, rng)
    proof = prove_slot_bound(pk, plain, B, q, cs, alphas, rng, ctx=grad_ctx(pk))
    assert proof.norm is None
    raw = proof.to_bytes()
    assert SlotBoundProof.from_bytes(raw) == proof and SlotBoundProof.from_bytes(raw).norm is None
    assert failure(pk, plain, cs, proof, c2=None) is None
    assert failure(pk, plain, cs, proof, c2=C2) == "statement"  # an L2 group needs its part


def test_the_l2_proof_survives_its_byte_encoding_and_rejects_garbage(pk, scheme):
    q = scheme.quantize(np.random.default_rng(9).normal(0, 6, LENGTH))
    cs, proof = honest(pk, scheme, q)
    raw = proof.to_bytes()
    back = SlotBoundProof.from_bytes(raw)
    assert back == proof and failure(pk, scheme, cs, back) is None
    for bad in (raw[:-1], raw + b"\0", raw[:-50]):
        with pytest.raises(ValueError):
            SlotBoundProof.from_bytes(bad)


def test_an_l2_groups_update_round_trips_refuses_nothing_and_fits_its_size(pk, scheme):
    q = scheme.quantize(np.random.default_rng(10).normal(0, 50, LENGTH))
    assert square_norm(q) <= C2 * C2 < square_norm(np.clip(np.rint(
        np.random.default_rng(10).normal(0, 50, LENGTH) * 16), -B, B))  # fmt: skip
    upd = encrypt_update(pk, scheme, q, rng=random.Random(11), ctx=grad_ctx(pk))
    blob = upd.to_bytes(pk)
    assert update_max_bytes(scheme, LENGTH) - 256 <= len(blob) <= update_max_bytes(scheme, LENGTH)
    back = EncryptedUpdate.from_bytes(blob, pk)
    assert update_refusal(pk, scheme, back, rng=random.Random(1), ctx=grad_ctx(pk)) == ""
    plain = dataclasses.replace(scheme, l2_bound=None)
    assert update_refusal(pk, plain, back, ctx=grad_ctx(pk)) == (
        "slot-bound proof does not verify (statement)"
    )


def test_the_statement_keeps_the_norm_below_the_group_order():
    check_norm_statement(2**64 - 1, 2**16, 2**20)
    for c2 in (0, 2**64, 1.5):
        with pytest.raises(ValueError):
            check_norm_statement(c2, 100, 10)


def test_the_platform_packing_carries_the_l2_bound_and_refuses_bad_clips():
    s = PLATFORM_PACKING.scheme(512, "mlp", 8.0, 2.5)
    assert s.l2_bound == round(2.5 * s.scale) and s.bound == round(8.0 * s.scale)
    assert PackingScheme.from_json(s.to_json()) == s
    assert PLATFORM_PACKING.scheme(512, "mlp", 8.0).l2_bound is None
    for bad in (0.0, -1.0, float("nan"), float("inf"), 1e-9, 1e30):
        with pytest.raises(ValueError):
            PLATFORM_PACKING.scheme(512, "mlp", 8.0, bad)
    with pytest.raises(ValueError):
        PLATFORM_PACKING.scheme(512, "mlp", None, 2.5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=200),
    b=st.integers(1, 2**16 - 1),
    c2=st.integers(1, 2**40),
    scale_bits=st.integers(0, 12),
)
def test_honest_clipping_always_lands_within_both_bounds(x, b, c2, scale_bits):
    scheme = PackingScheme(2048, Q=16, N_max=16, scale=2.0**scale_bits, bound=b, l2_bound=c2)
    q = scheme.quantize(np.asarray(x))
    assert q.dtype == np.int64 and q.shape == (len(x),)
    assert int(np.max(np.abs(q))) <= b
    assert square_norm(q) <= c2 * c2
    assert np.array_equal(q, scheme.quantize(np.asarray(x)))  # deterministic


@settings(max_examples=200, deadline=None)
@given(
    x=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=100),
    c2=st.integers(1, 2000),
)
def test_an_update_already_within_the_l2_bound_is_quantized_as_without_it(x, c2):
    plain = PackingScheme(2048, Q=16, N_max=16, scale=2.0**4, bound=2**15)
    q0 = plain.quantize(np.asarray(x))
    a = np.clip(np.asarray(x) * 16, -(2**15), 2**15)
    if float(np.linalg.norm(a)) <= c2 and square_norm(q0) <= c2 * c2:
        assert np.array_equal(dataclasses.replace(plain, l2_bound=c2).quantize(np.asarray(x)), q0)


def test_the_plaintext_twin_quantizes_with_the_same_l2_clipping():
    from deepchain.learning.fixed_point import apply_aggregate, fixed_point_twin
    from deepchain.learning.strategies import Strategy

    scheme = PackingScheme(2048, Q=12, N_max=16, scale=2.0**8, bound=2048, l2_bound=300)
    rng = np.random.default_rng(12)
    updates = [rng.normal(0, 0.5, 500).astype(np.float32) for _ in range(3)]
    qs = [scheme.quantize(u) for u in updates]
    assert all(square_norm(q) <= 300**2 for q in qs)
    assert any(square_norm(np.clip(np.rint(u * 256), -2048, 2048)) > 300**2 for u in updates)
    w0 = np.zeros(500, dtype=np.float32)
    twin = fixed_point_twin(scheme, Strategy())(w0, updates)
    assert np.array_equal(twin, apply_aggregate(w0, np.sum(qs, axis=0), 3, scheme))
