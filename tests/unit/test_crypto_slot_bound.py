"""The slot-bound proof: an honest update within the bound verifies (exactly at the bound
too); a malicious prover running the real prover code with chosen values (over the bound,
borrows from the next slot, a huge top slot, a scaled update) is rejected by the verifier."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.vector import EncryptedUpdate, encrypt_update, update_refusal, verify_update
from deepchain.crypto.zk.slot_bound import (
    ZB,
    SlotBoundProof,
    bit_basis,
    digit_bits,
    prove_bits,
    prove_slot_bound,
    slot_bound_failure,
    verify_slot_bound,
)
from deepchain.party import model_replacement_update
from tests.proofctx import grad_ctx

B = 100  # the bound on |q|
LENGTH = 40  # two ciphertexts of 26 slots (the second one partly used)


@pytest.fixture(scope="module")
def pk():
    return generate_threshold_keypair(512, 4, 2, rng=random.Random(71))[0]


@pytest.fixture(scope="module")
def scheme():
    return PackingScheme(512, Q=8, N_max=4, scale=2.0**4)


def slot_plaintexts(scheme, q):
    """Packed plaintexts with slot values 2^Q + q as exact integers: no range check, so a
    value below -2^Q borrows from the next slot and a huge last value overflows its slot."""
    s, w = scheme.slots_per_ciphertext, scheme.slot_bits
    out = []
    for lo in range(0, len(q), s):
        out.append(sum(((1 << scheme.Q) + int(v)) << (w * k) for k, v in enumerate(q[lo : lo + s])))
    return out


def encrypt(pk, ms, rng):
    alphas = [rng.getrandbits(448) for _ in ms]
    return [pk.encrypt(m % pk.n, a) for m, a in zip(ms, alphas, strict=True)], alphas


def honest(pk, scheme, q, seed=1, ctx=None):
    rng = random.Random(seed)
    cs, alphas = encrypt(pk, scheme.pack(np.asarray(q, dtype=np.int64)), rng)
    ctx = ctx or grad_ctx(pk)
    return cs, prove_slot_bound(pk, scheme, B, np.asarray(q), cs, alphas, rng, ctx=ctx)


def verify(pk, scheme, cs, proof, length=LENGTH, ctx=None, b=B):
    return verify_slot_bound(
        pk, scheme, b, length, cs, proof, random.Random(5), ctx=ctx or grad_ctx(pk)
    )


def failure(pk, scheme, cs, proof, length=LENGTH):
    return slot_bound_failure(pk, scheme, B, length, cs, proof, random.Random(6), ctx=grad_ctx(pk))


#: the check that must catch each cheater: bits that are not 0/1 fail the quadratic check
#: (or, when huge, the response range); binary bits of other digits fail the Paillier link
CAUGHT_BY = {"non_binary": "bits", "clipped": "link"}


def non_binary_bits(d, R):
    """The cheater's best encoding of digits outside [0, R]: the honest bits of the clipped
    digit, with the difference put on bit 0 (a 'bit' that is not 0 or 1)."""
    out = []
    for v in d:
        vc = min(max(v, 0), R)
        bits = [int(x) for x in digit_bits(np.array([vc]), R)[0]]
        bits[0] += v - vc
        out += bits
    return out


def cheat(pk, scheme, q, how, seed=3):
    """Encrypt the packing of q (any values) and run the real prover with the cheater's bits:
    'non_binary' (bits for the true digits) or 'clipped' (binary bits of the clipped update,
    which then differ from what the ciphertexts hold)."""
    rng = random.Random(seed)
    cs, alphas = encrypt(pk, slot_plaintexts(scheme, q), rng)
    d = np.asarray(q, dtype=object) + B
    if how == "non_binary":
        bits = non_binary_bits([int(x) for x in d], 2 * B)
    else:
        clipped = np.array([min(max(int(v), -B), B) for v in q], dtype=np.int64)
        bits = digit_bits(clipped + B, 2 * B).reshape(-1).tolist()
    proof = prove_bits(pk, scheme, B, len(q), cs, bits, alphas, rng, ctx=grad_ctx(pk))
    return cs, proof


def test_bit_basis_spans_exactly_the_range():
    for R in (1, 2, 3, 7, 8, 200, 16384):
        g = bit_basis(R)
        sums = {0}
        for gi in g:
            sums |= {x + gi for x in sums}
        assert sums == set(range(R + 1))


def test_an_honest_update_exactly_at_the_bound_verifies(pk, scheme):
    q = np.array([B, -B] * (LENGTH // 2))
    cs, proof = honest(pk, scheme, q)
    assert verify(pk, scheme, cs, proof)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(-B, B), min_size=1, max_size=60), st.integers(0, 2**32))
def test_every_update_within_the_bound_verifies(pk, scheme, q, seed):
    cs, proof = honest(pk, scheme, q, seed)
    assert verify(pk, scheme, cs, proof, length=len(q))


def test_the_prover_refuses_an_update_over_the_bound(pk, scheme):
    q = np.zeros(LENGTH, dtype=np.int64)
    q[3] = B + 1
    with pytest.raises(ValueError, match="bound"):
        honest(pk, scheme, q)


@pytest.mark.parametrize("how", ["non_binary", "clipped"])
def test_it_rejects_one_coordinate_at_1_01_times_the_bound(pk, scheme, how):
    q = [0] * LENGTH
    q[7] = int(np.ceil(1.01 * B))
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


@pytest.mark.parametrize("how", ["non_binary", "clipped"])
def test_it_rejects_every_coordinate_at_twice_the_bound(pk, scheme, how):
    q = [2 * B * (-1) ** i for i in range(LENGTH)]
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


@pytest.mark.parametrize("how", ["non_binary", "clipped"])
def test_it_rejects_a_negative_value_borrowed_from_the_next_slot(pk, scheme, how):
    q = [0] * LENGTH
    q[4] = -(1 << scheme.Q) - 5  # slot 4 negative: the packed integer borrows from slot 5
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


def test_a_borrow_keeps_the_plaintext_a_valid_packing_of_in_range_slots(scheme):
    """The borrow attack is real: the plaintext is an ordinary integer whose slots, read
    back, all look in range except the one absorbing the borrow."""
    q = [0] * 26
    q[4] = -(1 << scheme.Q) - 5
    (m,) = slot_plaintexts(scheme, q)
    assert 0 <= m < 1 << scheme.plaintext_bits


@pytest.mark.parametrize("how", ["non_binary", "clipped"])
def test_it_rejects_a_huge_top_slot_within_the_old_proof_slack(pk, scheme, how):
    q = [0] * LENGTH
    q[25] = B << 62  # top slot of the first ciphertext: over 2^B, inside Proof_PK's slack
    (m, _) = slot_plaintexts(scheme, q)
    assert m.bit_length() < scheme.plaintext_bits + scheme.proof_slack_bits
    expected = "range" if how == "non_binary" else "link"  # a 2^69 'bit' leaves z's range
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == expected


@pytest.mark.parametrize("how", ["non_binary", "clipped"])
def test_it_rejects_a_model_replacement_update_scaled_by_the_party_count(pk, scheme, how):
    rng = np.random.default_rng(0)
    honest_q = rng.integers(-B // 2, B // 2 + 1, LENGTH)
    honest_q[0] = B // 2
    q = (4 * honest_q).tolist()  # N = 4 parties: replace the mean by this party's model
    assert failure(pk, scheme, *cheat(pk, scheme, q, how)) == CAUGHT_BY[how]


def test_the_real_prover_with_honest_bits_verifies(pk, scheme):
    q = [(-1) ** i * (i * 5 % (B + 1)) for i in range(LENGTH)]
    assert verify(pk, scheme, *cheat(pk, scheme, q, "non_binary"))


def test_it_rejects_a_proof_for_another_party_round_or_bound(pk, scheme):
    q = [1] * LENGTH
    cs, proof = honest(pk, scheme, q)
    assert not verify(pk, scheme, cs, proof, ctx=grad_ctx(pk, index=2))
    assert not verify(pk, scheme, cs, proof, ctx=grad_ctx(pk, round_no=2))
    assert not verify(pk, scheme, cs, proof, b=B + 1)
    assert not verify(pk, scheme, cs, proof, length=LENGTH - 1)


def test_it_rejects_reordered_or_replaced_ciphertexts(pk, scheme):
    q = list(range(-20, 20))
    cs, proof = honest(pk, scheme, q)
    assert not verify(pk, scheme, cs[::-1], proof)
    other, _ = honest(pk, scheme, q, seed=9)
    assert not verify(pk, scheme, [cs[0], other[1]], proof)


def test_it_rejects_tampered_responses_and_commitments(pk, scheme):
    cs, proof = honest(pk, scheme, [3] * LENGTH)
    z = list(proof.z)
    z[5] += 1
    assert failure(pk, scheme, cs, dataclasses.replace(proof, z=tuple(z))) == "bits"
    z[5] = 1 << ZB
    assert not verify(pk, scheme, cs, dataclasses.replace(proof, z=tuple(z)))
    assert not verify(pk, scheme, cs, dataclasses.replace(proof, V=proof.V[::-1]))
    assert not verify(pk, scheme, cs, dataclasses.replace(proof, z2=proof.z2 + 1))
    assert not verify(pk, scheme, cs, dataclasses.replace(proof, tau_T=(proof.tau_T + 1)))


def test_the_proof_survives_its_byte_encoding_and_rejects_garbage(pk, scheme):
    cs, proof = honest(pk, scheme, [-B] * LENGTH)
    data = proof.to_bytes()
    again = SlotBoundProof.from_bytes(data)
    assert verify(pk, scheme, cs, again)
    for bad in (data[:-1], data + b"\0", data[:10] + b"\xff" * 48 + data[58:]):
        with pytest.raises(CryptoFormatError):
            SlotBoundProof.from_bytes(bad)


# -- the update a party submits ----------------------------------------------------------------
@pytest.fixture(scope="module")
def bounded(scheme):
    return dataclasses.replace(scheme, bound=B)


def test_a_bounded_groups_update_carries_a_slot_bound_proof_that_verifies(pk, bounded):
    q = bounded.quantize(np.linspace(-20.0, 20.0, LENGTH))  # clipped to the bound
    assert int(np.max(np.abs(q))) == B
    upd = encrypt_update(pk, bounded, q, random.Random(2), ctx=grad_ctx(pk))
    assert upd.bound_proof is not None
    for again in (
        EncryptedUpdate.from_bytes(upd.to_bytes(pk), pk),
        EncryptedUpdate.from_json(upd.to_json(), pk),
    ):
        assert update_refusal(pk, bounded, again, ctx=grad_ctx(pk)) == ""
    stripped = dataclasses.replace(upd, bound_proof=None)
    assert update_refusal(pk, bounded, stripped, ctx=grad_ctx(pk)) == (
        "no slot-bound proof for the group's bound"
    )


def test_a_model_replacement_update_is_refused_with_the_failed_check(pk, bounded):
    q = bounded.quantize(np.linspace(-3.0, 3.0, LENGTH))
    bad, upd = model_replacement_update(pk, bounded, q, grad_ctx(pk))
    assert int(np.max(np.abs(bad))) == pk.N * int(np.max(np.abs(q))) > B
    assert verify_update(pk, bounded, upd, ctx=grad_ctx(pk))  # Proof_PK alone accepts it
    assert update_refusal(pk, bounded, upd, ctx=grad_ctx(pk)) == (
        "slot-bound proof does not verify (bits)"
    )
