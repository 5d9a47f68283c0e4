"""Batched Proof_PK over a whole update: honest proofs verify; tampering, wrapping plaintexts,
reordered or dropped ciphertexts and malformed encodings are rejected."""

from __future__ import annotations

import dataclasses
import operator
import random

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import generate_threshold_keypair
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.zk.batch_proof_pk import (
    BATCH_R,
    BatchProofPK,
    batch_params,
    batch_rho,
    batch_transcript,
    batch_w,
    gamma_batch_bits,
    prove_update,
    row_combine,
    verify_update_proof,
    y_bits,
)
from deepchain.crypto.zk.multiexp import multi_exp
from deepchain.crypto.zk.sigma import ring_pedersen_bases
from tests.proofctx import grad_ctx

K = 6


@pytest.fixture(scope="module")
def pk():
    return generate_threshold_keypair(512, 4, 2, rng=random.Random(31))[0]


@pytest.fixture(scope="module")
def scheme():
    return PackingScheme(512, N_max=4)


@pytest.fixture(scope="module")
def statement(pk, scheme):
    rng = random.Random(32)
    B = scheme.plaintext_bits
    ms = [(1 << B) - 1, 0] + [rng.getrandbits(B) for _ in range(K - 2)]
    alphas = [rng.getrandbits(448) for _ in ms]
    cs = [pk.encrypt(m, a) for m, a in zip(ms, alphas, strict=True)]
    return cs, ms, alphas, prove_update(pk, scheme, cs, ms, alphas, rng, ctx=grad_ctx(pk))


def test_honest_batch_proof_verifies(pk, scheme, statement):
    cs, _, _, proof = statement
    assert verify_update_proof(pk, scheme, cs, proof, ctx=grad_ctx(pk))


def test_batch_proof_of_a_single_ciphertext_verifies(pk, scheme, statement):
    cs, ms, alphas, _ = statement
    assert verify_update_proof(
        pk,
        scheme,
        cs[:1],
        prove_update(pk, scheme, cs[:1], ms[:1], alphas[:1], ctx=grad_ctx(pk)),
        ctx=grad_ctx(pk),
    )


def test_batch_proof_is_deterministic_under_an_injected_rng(pk, scheme, statement):
    cs, ms, alphas, _ = statement
    p1 = prove_update(pk, scheme, cs, ms, alphas, random.Random(1), ctx=grad_ctx(pk))
    assert p1 == prove_update(pk, scheme, cs, ms, alphas, random.Random(1), ctx=grad_ctx(pk))
    assert p1 != prove_update(pk, scheme, cs, ms, alphas, random.Random(2), ctx=grad_ctx(pk))


@pytest.mark.parametrize("field", ["a", "D", "z1", "z2", "z3"])
def test_batch_proof_rejects_a_tampered_field(pk, scheme, statement, field):
    cs, _, _, proof = statement
    bad = dataclasses.replace(proof, **{field: getattr(proof, field) + 1})
    assert not verify_update_proof(pk, scheme, cs, bad, ctx=grad_ctx(pk))


@pytest.mark.parametrize("i", [0, 77, BATCH_R - 1])
def test_batch_proof_rejects_a_tampered_commitment(pk, scheme, statement, i):
    cs, _, _, proof = statement
    S = list(proof.S)
    S[i] = S[i] * 4 % pk.n  # still a unit
    assert not verify_update_proof(
        pk, scheme, cs, dataclasses.replace(proof, S=tuple(S)), ctx=grad_ctx(pk)
    )
    S2 = list(proof.S)
    S2[i], S2[(i + 1) % len(S2)] = S2[(i + 1) % len(S2)], S2[i]
    assert not verify_update_proof(
        pk, scheme, cs, dataclasses.replace(proof, S=tuple(S2)), ctx=grad_ctx(pk)
    )


def test_batch_proof_rejects_out_of_range_responses(pk, scheme, statement):
    cs, _, _, proof = statement
    T = scheme.plaintext_bits + scheme.batch_log + 128 + 7 + 40
    assert proof.z1 < 1 << T
    for bad in (
        dataclasses.replace(proof, z1=proof.z1 + (1 << T)),
        dataclasses.replace(proof, z2=proof.z2 + (1 << 2048)),
        dataclasses.replace(proof, z3=proof.z3 + (1 << 2048)),
        dataclasses.replace(proof, a=0),
        dataclasses.replace(proof, D=pk.n),
        dataclasses.replace(proof, S=proof.S[:-1]),
    ):
        assert not verify_update_proof(pk, scheme, cs, bad, ctx=grad_ctx(pk))


@pytest.mark.parametrize(
    "change",
    [
        lambda cs, pk: [cs[1], cs[0], *cs[2:]],  # swapped
        lambda cs, pk: cs[::-1],  # reordered
        lambda cs, pk: cs[:-1],  # last dropped
        lambda cs, pk: cs[1:],  # first dropped
        lambda cs, pk: [*cs, cs[0]],  # one appended
        lambda cs, pk: [cs[0] * pk.h_s % pk.n2, *cs[1:]],  # re-randomized (same plaintext)
        lambda cs, pk: [cs[0], cs[1] * (1 + pk.n) % pk.n2, *cs[2:]],  # plaintext + 1
    ],
)
def test_batch_proof_rejects_another_ciphertext_vector(pk, scheme, statement, change):
    cs, _, _, proof = statement
    other = change(list(cs), pk)
    assert other != cs
    assert not verify_update_proof(pk, scheme, other, proof, ctx=grad_ctx(pk))


def test_batch_proof_is_bound_to_the_key_and_the_packing(pk, scheme, statement):
    cs, _, _, proof = statement
    assert not verify_update_proof(
        pk, PackingScheme(512, N_max=8), cs, proof, ctx=grad_ctx(pk)
    )  # other B
    assert not verify_update_proof(
        pk, PackingScheme(512, N_max=4, batch_log=17), cs, proof, ctx=grad_ctx(pk)
    )
    assert not verify_update_proof(pk, PackingScheme(1024, N_max=4), cs, proof, ctx=grad_ctx(pk))
    opk = generate_threshold_keypair(512, 4, 2, rng=random.Random(33))[0]
    assert not verify_update_proof(opk, scheme, [c % opk.n2 for c in cs], proof, ctx=grad_ctx(opk))


def test_prover_refuses_out_of_bound_inputs_and_too_many_ciphertexts(pk, scheme, statement):
    cs, ms, alphas, _ = statement
    B = scheme.plaintext_bits
    with pytest.raises(ValueError):
        prove_update(pk, scheme, cs[:1], [1 << B], alphas[:1], ctx=grad_ctx(pk))
    with pytest.raises(ValueError):
        prove_update(pk, scheme, cs[:1], ms[:1], [1 << 448], ctx=grad_ctx(pk))
    with pytest.raises(ValueError):
        prove_update(pk, scheme, cs, ms[:-1], alphas, ctx=grad_ctx(pk))
    with pytest.raises(ValueError):
        prove_update(pk, scheme, [], [], [], ctx=grad_ctx(pk))
    small = PackingScheme(512, N_max=4, batch_log=2)  # at most 4 ciphertexts
    with pytest.raises(ValueError):
        prove_update(pk, small, cs[:5], ms[:5], alphas[:5], ctx=grad_ctx(pk))
    four = prove_update(pk, small, cs[:4], ms[:4], alphas[:4], ctx=grad_ctx(pk))
    assert verify_update_proof(pk, small, cs[:4], four, ctx=grad_ctx(pk))
    assert not verify_update_proof(pk, small, cs[:5], four, ctx=grad_ctx(pk))


def test_a_scheme_without_room_for_the_slack_is_refused(pk, statement):
    cs, ms, alphas, _ = statement
    tight = dataclasses.replace(PackingScheme(512, N_max=4), K=64)  # reserves too little
    assert tight.plaintext_bits > PackingScheme(512, N_max=4).plaintext_bits
    with pytest.raises(ValueError):
        prove_update(pk, tight, cs[:1], [0], alphas[:1], ctx=grad_ctx(pk))
    assert not verify_update_proof(pk, tight, cs, statement[3], ctx=grad_ctx(pk))


# -- wrapping plaintexts -----------------------------------------------------------------------
def _forge(pk, scheme, cs, ms, alphas, rng, reduce_mod_n):
    """Run the prover on arbitrary integers ms (no bound checks). With reduce_mod_n, reduce
    z1 mod n (what passes a mod-n-only check) and grind Fiat-Shamir until z1 is in range.
    Also returns whether the Paillier equation alone holds."""
    B, L, T = batch_params(pk, scheme)
    n, n2 = pk.n, pk.n2
    seed = batch_transcript(pk, grad_ctx(pk), B, L, cs)
    rhos = batch_rho(seed, len(cs))
    M_hat = row_combine(list(ms), rhos, operator.add, 0)
    A_hat = row_combine(list(alphas), rhos, operator.add, 0)
    rp = ring_pedersen_bases(pk)
    s_, t_, N = int(rp.s.base), int(rp.t.base), rp.N_hat
    mus = [rng.getrandbits(448) for _ in M_hat]
    S = tuple(
        int(gmpy2.powmod(s_, mh, N) * gmpy2.powmod(t_, mu, N) % N)
        for mh, mu in zip(M_hat, mus, strict=True)
    )
    Cs = row_combine([gmpy2.mpz(c) for c in cs], rhos, lambda u, v: u * v % n2, gmpy2.mpz(1))
    for _ in range(64):
        x, y = rng.getrandbits(T), rng.getrandbits(y_bits(L))
        gamma = rng.getrandbits(gamma_batch_bits())
        a = int((1 + x * n) * gmpy2.powmod(pk.h_s, y, n2) % n2)
        D = int(gmpy2.powmod(s_, x, N) * gmpy2.powmod(t_, gamma, N) % N)
        w = batch_w(seed, S, a, D)
        z1 = x + sum(wi * mh for wi, mh in zip(w, M_hat, strict=True))
        if reduce_mod_n:
            z1 %= n
            if z1 >= 1 << T:
                continue
        z2 = y + sum(wi * ah for wi, ah in zip(w, A_hat, strict=True))
        z3 = gamma + sum(wi * mu for wi, mu in zip(w, mus, strict=True))
        lhs = (1 + z1 * n) * gmpy2.powmod(pk.h_s, z2, n2) % n2
        paillier_ok = lhs == a * multi_exp(Cs, w, n2) % n2
        return BatchProofPK(S=S, a=a, D=D, z1=z1, z2=z2, z3=z3), paillier_ok
    raise AssertionError("no in-range z1 found")


@pytest.mark.parametrize("pos", [0, 3, K - 1])
@pytest.mark.parametrize("kind", ["half", "n-5"])
def test_a_wrapping_plaintext_in_any_position_is_rejected(pk, scheme, statement, pos, kind):
    """M = 1/2 mod n or n - 5 in one position: neither the wrapping integer itself (z1 out of
    range) nor the mod-n reduction that fooled PROTOCOL.md's check (it satisfies the Paillier
    equation but not the ring-Pedersen one over the integers) gives an accepted proof."""
    cs, ms, alphas, _ = statement
    bad_m = (pk.n + 1) // 2 if kind == "half" else pk.n - 5
    ms2, cs2 = list(ms), list(cs)
    ms2[pos] = bad_m
    cs2[pos] = pk.encrypt(bad_m, alphas[pos])
    rng = random.Random(pos)
    as_integer, _ = _forge(pk, scheme, cs2, ms2, alphas, rng, reduce_mod_n=False)
    assert not verify_update_proof(pk, scheme, cs2, as_integer, ctx=grad_ctx(pk))
    reduced, paillier_ok = _forge(pk, scheme, cs2, ms2, alphas, rng, reduce_mod_n=True)
    assert paillier_ok  # the mod-n-only check alone would accept this forgery
    assert not verify_update_proof(pk, scheme, cs2, reduced, ctx=grad_ctx(pk))


def test_a_small_negative_representative_is_within_the_proven_statement(pk, scheme, statement):
    """n - 5 = -5 mod n: proving the integer -5 succeeds, as the statement is |M*| < 2^(T+1)
    (negative allowed, with slack); N_max such values still cannot wrap the aggregate, which is
    what the packing relies on. Per-slot range proofs would be needed to exclude it."""
    cs, ms, alphas, _ = statement
    ms2, cs2 = list(ms), list(cs)
    ms2[2] = -5
    cs2[2] = pk.encrypt(pk.n - 5, alphas[2])
    proof, _ = _forge(pk, scheme, cs2, ms2, alphas, random.Random(9), reduce_mod_n=False)
    assert verify_update_proof(pk, scheme, cs2, proof, ctx=grad_ctx(pk))
    bound = scheme.plaintext_bits + scheme.proof_slack_bits
    assert scheme.N_max * 2**bound <= 2 ** (pk.n.bit_length() - 2)


# -- internals: bucket combination and multi-exponentiation -----------------------------------
@settings(max_examples=20, deadline=None)
@given(
    items=st.lists(st.integers(0, 2**64), min_size=1, max_size=40),
    seed=st.integers(0, 2**32),
)
def test_row_combination_matches_the_naive_subset_sums(items, seed):
    r = random.Random(seed)
    rhos = [r.getrandbits(BATCH_R) for _ in items]
    got = row_combine(items, rhos, operator.add, 0)
    want = [sum(x for x, rho in zip(items, rhos, strict=True) if rho >> i & 1) for i in range(128)]
    assert got == want


@settings(max_examples=15, deadline=None)
@given(
    exps=st.lists(st.integers(0, 2**130), min_size=0, max_size=30),
    seed=st.integers(0, 2**32),
)
def test_multi_exponentiation_matches_powmod(exps, seed):
    r = random.Random(seed)
    mod = r.getrandbits(256) | 1
    bases = [r.getrandbits(256) % mod for _ in exps]
    want = 1 % mod
    for b, e in zip(bases, exps, strict=True):
        want = want * pow(b, e, mod) % mod
    assert multi_exp(bases, exps, mod) == want


# -- serialization -----------------------------------------------------------------------------
def test_batch_proof_serialization_round_trips(statement):
    proof = statement[3]
    assert BatchProofPK.from_json(proof.to_json()) == proof
    assert BatchProofPK.from_bytes(proof.to_bytes()) == proof


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(version=2),
        lambda d: d.update(type="proof_pk"),
        lambda d: d.pop("z2"),
        lambda d: d.update(extra="00"),
        lambda d: d.update(S=d["S"][:-1]),
        lambda d: d.update(S=[*d["S"], d["S"][0]]),
        lambda d: d.update(S="00"),
        lambda d: d.update(a=d["a"].upper()),
        lambda d: d.update(D="0" + d["D"]),
        lambda d: d.update(z1="-" + d["z1"]),
        lambda d: d.update(z3=5),
    ],
)
def test_batch_proof_parsing_rejects_malformed_json(statement, mutate):
    d = statement[3].to_json()
    mutate(d)
    with pytest.raises(CryptoFormatError):
        BatchProofPK.from_json(d)


def test_batch_proof_parsing_rejects_malformed_bytes(statement):
    b = statement[3].to_bytes()
    for bad in (b[:-1], b + b"\0", b"DCPK" + b[4:], b[:4] + b"\x02" + b[5:], b"", b"DCBP"):
        with pytest.raises(CryptoFormatError):
            BatchProofPK.from_bytes(bad)
    with pytest.raises(CryptoFormatError):  # wrong commitment count
        BatchProofPK.from_bytes(dataclasses.replace(statement[3], S=(1, 2)).to_bytes())
