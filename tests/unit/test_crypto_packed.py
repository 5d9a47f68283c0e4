"""The packed responses and the exact numpy limb sums of the slot-bound proof equal their
straightforward Python definitions (small and large sizes, including the chunk boundaries of
the float64 products), and a proof's bytes and verdict do not depend on how its responses are
held."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.assets import R
from deepchain.crypto.zk.norm_bound import coordinate_responses, coordinate_square_sum
from deepchain.crypto.zk.packed import (
    PackedInts,
    at_least_pow2,
    digit_sums,
    limbs,
    limbs_of_ints,
    linked_sum,
    normalize,
    pack,
    power_sum,
    power_sums,
    square,
    square_total,
    to_ints,
    total,
    weighted_sum,
)

ints168 = st.lists(st.integers(0, (1 << 168) - 1), max_size=40)


def horner(y: int, xs: list[int], mod: int) -> int:
    acc = 0
    for x in reversed(xs):
        acc = (acc * y + x) % mod
    return acc


def linked_definition(g, counts, rho, w, vals):
    """sum_j rho_j sum_k 2^(w k) sum_i g_i vals_jki, as a loop."""
    ell, total, pos = len(g), 0, 0
    for rj, cnt in zip(rho, counts, strict=True):
        acc = 0
        for k in range(cnt):
            acc += sum(gi * v for gi, v in zip(g, vals[pos : pos + ell], strict=True)) << (w * k)
            pos += ell
        total += rj * acc
    return total


@given(ints168, st.integers(1, 40))
def test_packed_ints_hold_exactly_the_ints(xs, extra):
    width = 21 + extra % 3
    p = PackedInts.of(xs, width)
    assert len(p) == len(xs) and list(p) == xs and p == tuple(xs) and p == xs
    assert p == PackedInts(p.raw, width) and hash(p) == hash(tuple(xs))
    if xs:
        assert p[0] == xs[0] and p[-1] == xs[-1] and p[1:3] == tuple(xs[1:3])
        assert p[::2] == tuple(xs[::2])
    assert p != tuple(xs) + (1,)


def test_packed_ints_refuse_what_does_not_fit():
    with pytest.raises(OverflowError):
        PackedInts.of([1 << 168], 21)
    with pytest.raises(OverflowError):
        PackedInts.of([-1], 21)
    with pytest.raises(ValueError):
        PackedInts(b"\0" * 20, 21)
    with pytest.raises(IndexError):
        PackedInts.of([1, 2], 21)[2]


@given(st.integers(1, 12), st.data())
def test_limbs_pack_and_to_ints_round_trip_every_width(width, data):
    xs = data.draw(st.lists(st.integers(0, (1 << (8 * width)) - 1), max_size=20))
    raw = PackedInts.of(xs, width).raw
    X = limbs(raw, width)
    assert X.shape == (-(-width // 3), len(xs)) and (X >= 0).all() and (X < 1 << 24).all()
    assert to_ints(X) == xs and pack(X, width).raw == raw


@given(ints168, st.integers(0, 300))
def test_square_normalize_and_the_range_test_match_the_definitions(xs, bits):
    X = limbs_of_ints(xs, 7)
    assert to_ints(square(X)) == [x * x for x in xs]
    Y = X * (1 << 30)  # limbs far over 2^24, carried by normalize
    Y[0] += 5
    assert to_ints(normalize(Y)) == [(x << 30) + 5 for x in xs]
    assert list(at_least_pow2(X, bits)) == [x >= 1 << bits for x in xs]


@given(st.lists(st.integers(0, (1 << 128) - 1), min_size=1, max_size=12), st.data())
def test_weighted_sum_matches_the_definition(w, data):
    C = data.draw(st.integers(0, 5))
    x = [[data.draw(st.integers(0, (1 << 168) - 1)) for _ in range(C)] for _ in w]
    X = limbs_of_ints([v for row in x for v in row], 7).reshape(7, len(w), C)
    want = [sum(wt * row[c] for wt, row in zip(w, x, strict=True)) for c in range(C)]
    assert weighted_sum(w, X) == want


@settings(max_examples=30)
@given(ints168, st.integers(0, R - 1))
def test_power_sum_matches_horner(xs, y):
    X = limbs_of_ints(xs, 7)
    assert power_sum(y, X, R) == horner(y, xs, R)
    sq, plain = power_sums(y, len(xs), R, [lambda c: square(X[:, c]), lambda c: X[:, c]])
    assert sq == horner(y, [x * x for x in xs], R) and plain == horner(y, xs, R)


@pytest.mark.parametrize("n", [8191, 8193, 65536 + 8192 + 3])
def test_sums_are_exact_across_the_chunk_boundaries(n):
    rng = random.Random(n)
    xs = [rng.choice([(1 << 168) - 1, rng.getrandbits(168)]) for _ in range(n)]
    X = limbs_of_ints(xs, 7)
    y = R - 1 - rng.getrandbits(64)
    assert power_sum(y, X, R) == horner(y, xs, R)
    w = [(1 << 128) - 1 - i for i in range(n)]  # every weight limb at its largest
    assert weighted_sum(w, X.reshape(7, n, 1)) == [sum(a * b for a, b in zip(w, xs, strict=True))]


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.data())
def test_linked_sum_matches_the_definition(k, slots, last, data):
    g = [1, 2, 4, 9]  # bit_basis(16)
    counts = [slots] * (k - 1) + [min(last, slots)]
    vals = data.draw(st.lists(st.integers(0, (1 << 168) - 1), min_size=sum(counts) * len(g),
                              max_size=sum(counts) * len(g)))  # fmt: skip
    rho = data.draw(st.lists(st.integers(0, (1 << 128) - 1), min_size=k, max_size=k))
    X = limbs_of_ints(vals, 7)
    assert linked_sum(X, g, counts, slots, 20, rho) == linked_definition(g, counts, rho, 20, vals)


@given(st.integers(0, 6), st.integers(1, 300), st.integers(0, (1 << 128) - 1), st.data())
def test_coordinate_sums_match_the_definitions(m, b, e, data):
    g = [1, 2, 4, 8, 16, 32, 64, 128, 2 * b - 255] if 2 * b >= 256 else [1, 2, 2 * b - 3]
    g = [gi for gi in g if gi > 0] or [1]
    z = data.draw(st.lists(st.integers(0, (1 << 168) - 1), min_size=m * len(g),
                           max_size=m * len(g)))  # fmt: skip
    X = limbs_of_ints(z, 7)
    u = coordinate_responses(z, g, 0, 0)
    assert to_ints(digit_sums(X, g)) == u
    assert total(X) == sum(z) and square_total(X) == sum(v * v for v in z)
    want = sum(v * v for v in coordinate_responses(z, g, b, e))
    assert coordinate_square_sum(PackedInts.of(z, 21), g, b, e) == want
    assert coordinate_square_sum(tuple(z), g, b, e) == want


def test_a_proof_is_the_same_whether_its_responses_are_packed_or_a_tuple():
    from deepchain.crypto.encoding import PackingScheme
    from deepchain.crypto.paillier import generate_threshold_keypair
    from deepchain.crypto.zk.slot_bound import SlotBoundProof, prove_slot_bound, verify_slot_bound
    from tests.proofctx import grad_ctx

    pk = generate_threshold_keypair(512, 4, 2, rng=random.Random(71))[0]
    scheme = PackingScheme(512, Q=8, N_max=4, scale=2.0**4)
    q = np.array([(-1) ** i * (i % 101) for i in range(60)], dtype=np.int64)
    rng = random.Random(2)
    ms = scheme.pack(q)
    alphas = [rng.getrandbits(448) for _ in ms]
    cs = [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)]
    proof = prove_slot_bound(pk, scheme, 100, q, cs, alphas, rng, ctx=grad_ctx(pk))
    assert isinstance(proof.z, PackedInts)
    as_tuple = dataclasses.replace(proof, z=tuple(proof.z))
    assert as_tuple.to_bytes() == proof.to_bytes() and as_tuple == proof
    assert SlotBoundProof.from_bytes(proof.to_bytes()) == proof
    for p in (proof, as_tuple):
        assert verify_slot_bound(pk, scheme, 100, 60, cs, p, random.Random(1), ctx=grad_ctx(pk))
