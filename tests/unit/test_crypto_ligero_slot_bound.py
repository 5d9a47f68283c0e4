"""The hash-based slot-bound proof (zk.ligero_slot_bound over zk.ligero): an honest update within
the bound verifies (exactly at the bound too); a malicious prover running the real prover code
on chosen slot values (over the bound, a borrow from the next slot, a huge top slot, a scaled
update), committing either the true values (then some committed entry is no digit) or in-range
digits (then they are not the ciphertexts' plaintexts), is rejected by the verifier."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.zk import babybear as F
from deepchain.crypto.zk import ligero as LG
from deepchain.crypto.zk.ligero_slot_bound import (
    LigeroSlotBoundProof,
    decompose,
    digit_basis,
    ligero_slot_bound_failure,
    prove_ligero_slot_bound,
    prove_slot_digits,
    verify_ligero_slot_bound,
)
from deepchain.crypto.zk.merkle import MerkleTree, root_from_opening
from deepchain.crypto.zk.transcript import Transcript
from tests.proofctx import grad_ctx

B = 100
LENGTH = 40  # two ciphertexts of 26 slots (the second one partly used)


@pytest.fixture(scope="module")
def pk():
    return generate_threshold_keypair(512, 4, 2, rng=random.Random(71))[0]


@pytest.fixture(scope="module")
def scheme():
    return PackingScheme(512, Q=8, N_max=4, scale=2.0**4)


def slots(scheme, q):
    """The slot values d = q + b of q, one row per ciphertext (unused slots 0)."""
    s = scheme.slots_per_ciphertext
    d = np.zeros(-(-len(q) // s) * s, dtype=np.int64)
    d[: len(q)] = np.asarray(q, dtype=np.int64) + B
    return d.reshape(-1, s)


def encrypt_slots(pk, scheme, d, rng):
    """Ciphertexts of off_j + sum_i d_ji 2^(w i) as exact integers: no range check, so a
    negative d borrows from the next slot and a huge one overflows its slot."""
    w, base = scheme.slot_bits, (1 << scheme.Q) - B
    ms = []
    for j, row in enumerate(d.tolist()):
        cnt = min(scheme.slots_per_ciphertext, LENGTH - j * scheme.slots_per_ciphertext)
        ms.append(sum((base + int(v)) << (w * i) for i, v in enumerate(row[:cnt])))
    alphas = [rng.getrandbits(448) for _ in ms]
    return [pk.encrypt(m % pk.n, a) for m, a in zip(ms, alphas, strict=True)], alphas


def failure(pk, scheme, cs, proof, ctx=None, length=LENGTH):
    ctx = ctx or grad_ctx(pk)
    return ligero_slot_bound_failure(pk, scheme, B, length, cs, proof, ctx=ctx)


def honest(pk, scheme, q, seed=1):
    rng = random.Random(seed)
    cs, alphas = encrypt_slots(pk, scheme, slots(scheme, q), rng)
    return cs, prove_ligero_slot_bound(
        pk, scheme, B, np.asarray(q), cs, alphas, rng, ctx=grad_ctx(pk)
    )


def cheat(pk, scheme, q, how, seed=2):
    """The malicious prover: ciphertexts of the chosen (out-of-range) slots, and the real
    prover on either the true values ("true": non-digit entries) or clipped ones ("clipped")."""
    rng = random.Random(seed)
    d = slots(scheme, q)
    cs, alphas = encrypt_slots(pk, scheme, d, rng)
    claimed = d if how == "true" else np.clip(d, 0, 2 * B)
    proof = prove_slot_digits(
        pk, scheme, B, LENGTH, cs, alphas, claimed, rng, ctx=grad_ctx(pk), strict=False
    )
    return cs, proof


#: which check catches each cheater: non-digit entries fail Ligero's digit test, in-range
#: digits that are not the plaintexts fail the Paillier link
CAUGHT_BY = {"true": "digits", "clipped": "link"}
HOW = pytest.mark.parametrize("how", sorted(CAUGHT_BY))


def test_the_digit_basis_spans_exactly_the_range():
    for R in [1, 2, 3, 4, 5, 15, 16, 17, 200, 16384, (1 << 20) - 1]:
        wts, kinds = digit_basis(R)
        sums = {0}
        for wt, kind in zip(wts, kinds, strict=True):
            sums = {x + c * wt for x in sums for c in range(kind)} if R < 300 else sums
        if R < 300:
            assert sums == set(range(R + 1))
        v = np.arange(R + 1) if R < 1 << 15 else np.array([0, 1, R // 2, R - 1, R])
        dig = decompose(v, R)
        assert np.array_equal(np.tensordot(np.array(wts), dig, axes=1), v)
        assert all(dig[i].max() < kinds[i] for i in range(len(kinds)))


def test_an_honest_update_exactly_at_the_bound_verifies(pk, scheme):
    q = [B, -B] * (LENGTH // 2)
    cs, proof = honest(pk, scheme, q)
    assert verify_ligero_slot_bound(pk, scheme, B, LENGTH, cs, proof, ctx=grad_ctx(pk))
    again = LigeroSlotBoundProof.from_bytes(proof.to_bytes())
    assert failure(pk, scheme, cs, again) is None


@settings(max_examples=4, deadline=None)
@given(st.lists(st.integers(-B, B), min_size=LENGTH, max_size=LENGTH), st.integers(0, 99))
def test_every_update_within_the_bound_verifies(pk, scheme, q, seed):
    cs, proof = honest(pk, scheme, q, seed)
    assert failure(pk, scheme, cs, proof) is None


def test_the_prover_refuses_an_update_over_the_bound(pk, scheme):
    with pytest.raises(ValueError, match="bound"):
        honest(pk, scheme, [B + 1] + [0] * (LENGTH - 1))


@HOW
def test_it_rejects_one_coordinate_at_1_01_times_the_bound(pk, scheme, how):
    q = [0] * LENGTH
    q[7] = int(np.ceil(1.01 * B)) + 1
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


@HOW
def test_it_rejects_every_coordinate_at_twice_the_bound(pk, scheme, how):
    assert failure(pk, scheme, *cheat(pk, scheme, [2 * B] * LENGTH, how)) == CAUGHT_BY[how]


@HOW
def test_it_rejects_a_negative_value_borrowed_from_the_next_slot(pk, scheme, how):
    q = [0] * LENGTH
    q[4] = -(1 << scheme.Q) - 5  # slot 4 negative: the packed integer borrows from slot 5
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


@HOW
def test_it_rejects_a_huge_top_slot_within_the_old_proof_slack(pk, scheme, how):
    q = [0] * LENGTH
    q[scheme.slots_per_ciphertext - 1] = 1 << 40  # the first ciphertext's top slot
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


@HOW
def test_it_rejects_a_model_replacement_update_scaled_by_the_party_count(pk, scheme, how):
    rng = np.random.default_rng(3)
    q = (rng.integers(-B // 2, B // 2 + 1, LENGTH) * 4).tolist()  # N = 4 parties
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


def test_the_malicious_prover_with_honest_values_verifies(pk, scheme):
    """The attack tests' prover is the real one: on in-range values it makes a valid proof."""
    q = np.random.default_rng(4).integers(-B, B + 1, LENGTH).tolist()
    rng = random.Random(9)
    cs, alphas = encrypt_slots(pk, scheme, slots(scheme, q), rng)
    proof = prove_slot_digits(
        pk, scheme, B, LENGTH, cs, alphas, slots(scheme, q), rng, ctx=grad_ctx(pk), strict=False
    )
    assert failure(pk, scheme, cs, proof) is None


def test_it_rejects_a_proof_for_another_party_or_other_ciphertexts(pk, scheme):
    q = [3] * LENGTH
    cs, proof = honest(pk, scheme, q)
    other = grad_ctx(pk, index=2)
    assert failure(pk, scheme, cs, proof, ctx=other) is not None  # a copied proof
    cs2, _ = honest(pk, scheme, q, seed=5)  # the same update encrypted again
    assert failure(pk, scheme, cs2, proof) is not None
    assert ligero_slot_bound_failure(pk, scheme, B + 1, LENGTH, cs, proof, ctx=grad_ctx(pk))


def test_it_rejects_a_forged_opening_and_a_shifted_mask(pk, scheme):
    q = [1] * LENGTH
    cs, proof = honest(pk, scheme, q)
    op = proof.ligero.openings[0]
    cols = op.columns.copy()
    cols[0, 0] = (cols[0, 0] + 1) % F.P
    forged = LG.LigeroProof(
        proof.ligero.roots, proof.ligero.u, proof.ligero.q, proof.ligero.lin,
        [LG.Opening(cols, op.salts, op.siblings), *proof.ligero.openings[1:]],
    )  # fmt: skip
    bad = LigeroSlotBoundProof(C=proof.C, Z=proof.Z, A=proof.A, ligero=forged)
    assert failure(pk, scheme, cs, bad) == "commitment"
    Z = (proof.Z[0] + 1, *proof.Z[1:])  # a different masked sum
    assert failure(pk, scheme, cs, LigeroSlotBoundProof(proof.C, Z, proof.A, proof.ligero))


def test_bad_bytes_are_a_format_error(pk, scheme):
    cs, proof = honest(pk, scheme, [0] * LENGTH)
    raw = proof.to_bytes()
    for cut in (3, 10, len(raw) // 2, len(raw) - 1):
        with pytest.raises(CryptoFormatError):
            LigeroSlotBoundProof.from_bytes(raw[:cut])


def test_ligero_refuses_rows_that_are_not_digits_and_a_wrong_target():
    ctx = grad_ctx_plain()
    rng = np.random.default_rng(0)
    m, ell, kinds = 6, 40, [4, 4, 4, 2, 4, 2]
    rows = np.where(np.array(kinds)[:, None] == 4, rng.integers(0, 4, (m, ell)),
                    rng.integers(0, 2, (m, ell)))  # fmt: skip
    A = rng.integers(0, F.P, (LG.REPS, m, ell)).astype(np.uint64)

    def run(rows, shift=0):
        target = np.array(
            [(int((A[c].astype(object) * rows).sum()) + shift) % F.P for c in range(LG.REPS)],
            dtype=np.uint64,
        )
        tr = Transcript("test", ctx)
        pr = LG.LigeroProver(ell, random.Random(1), 20)
        tr.bytes("root", root := pr.commit(rows, kinds))
        g, r = LG.challenges(tr, m)
        u, q, lin = pr.respond(g, r, LG.ExplicitForm(A, target, pr.k))
        tr.bytes("msg", LG.messages_bytes(u, q, lin))
        idx = LG.queries(tr, pr.n, 20)
        proof = LG.LigeroProof([root], u, q, lin, pr.open(idx))
        form = LG.ExplicitForm(A, target, pr.k)
        return LG.check(ell, [np.array(kinds)], proof, g, r, form, idx, 20)

    assert run(rows) is None
    assert run(rows, shift=1) == "linear"
    bit = rows.copy()
    bit[3, 5] = 2  # a bit row holding 2
    assert run(bit) == "digits"
    dig = rows.copy()
    dig[0, 5] = 4  # a base-4 row holding 4
    assert run(dig) == "digits"


def grad_ctx_plain():
    from deepchain.crypto.zk.transcript import ProofContext

    return ProofContext("fp", "group", 1, "gradient", 1, "address")


def test_the_merkle_multi_opening_opens_exactly_the_committed_columns():
    cols = np.arange(64 * 3, dtype=np.uint32).reshape(64, 3)
    tree = MerkleTree(cols, bytes(range(256)) * 4)
    for idx in ([0], [1, 2], [5, 6, 7, 40, 63], list(range(64))):
        raw = [cols[i].astype("<u4").tobytes() for i in idx]
        sib = tree.siblings(idx)
        salts = [tree.salt(i) for i in idx]
        assert root_from_opening(64, idx, salts, raw, sib) == tree.root
        raw[0] = b"\x00" * 12
        assert root_from_opening(64, idx, salts, raw, sib) != tree.root
    assert root_from_opening(64, [1], [tree.salt(1)], [b"x"], []) is None  # no siblings


def test_the_numpy_transform_matches_the_definition():
    rng = np.random.default_rng(1)
    a = rng.integers(0, F.P, (2, 16)).astype(np.uint64)
    w = F.root_of_unity(16)
    want = [[sum(int(a[r, j]) * pow(w, i * j, F.P) for j in range(16)) % F.P for i in range(16)]
            for r in range(2)]  # fmt: skip
    assert F.ntt_numpy(a).tolist() == want
    assert np.array_equal(F.ntt_numpy(F.ntt_numpy(a), inverse=True), a)
